// A cross-process lock for the test files that sweep /dev/shm or leave SIGKILLed segments on purpose
// (test/shm.test.ts, test/shm-builds.test.ts): vitest runs files in parallel forks, and one file's sweep
// would remove the dead segment another file is about to check. mkdir is atomic; a holder that died is
// recognised by its pid.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive as alive } from '../../cache/pid.ts';

const LOCK = join(tmpdir(), 'astro-poem-cache-shm-tests.lock');

export async function withShmLock<T>(fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let pid = 0;
      try {
        pid = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      } catch {
        /* being written */
      }
      if (pid && !alive(pid)) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() - t0 > timeoutMs) throw new Error(`${LOCK}: still held by pid ${pid} after ${timeoutMs} ms`);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
