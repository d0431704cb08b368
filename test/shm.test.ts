// Shared-memory hygiene (cache/shm.ts): mode 0600, unguessable names, content equal to the file, read-only
// reopen, idempotent release, the stale sweep (dead creator removed, live kept, foreign names untouched),
// and cleanup on normal exit, process.exit(), uncaught errors, unhandled rejections, SIGINT and SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openShm } from '../cache/reader.ts';
import {
  liveShmSegments,
  publishToShm,
  releaseShm,
  SHM_NAME_RE,
  sweepStaleShm,
  unlinkAllOnError,
} from '../cache/shm.ts';
import { convertCaches } from '../converter/index.ts';
import { writeFixtureData } from './fixtures/site/make-data.ts';
import { withShmLock } from './support/shm-lock.ts';
import { withoutNative } from './support/native.ts';

const CHILD = new URL('./support/shm-child.ts', import.meta.url).pathname;
const SHM = '/dev/shm';
const noShm = !existsSync(SHM);
if (noShm) console.log(`shm.test: shared memory hygiene skipped: ${SHM} does not exist on this system`);
const ours = () => (existsSync(SHM) ? readdirSync(SHM).filter((n) => n.startsWith('astro-poem-cache-')) : []);
let dir: string;
let cacheFile: string;

interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  published?: { name: string; pid: number; count: number };
}

/** Runs test/support/shm-child.ts; `then` acts once it has published (e.g. sends a signal). */
function child(mode: string, then?: (pid: number, name: string) => void): Promise<ChildEnd> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, cacheFile, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let published: ChildEnd['published'];
    p.stdout.on('data', (d) => {
      out += d;
      if (!published && out.includes('\n')) {
        published = JSON.parse(out.split('\n')[0]);
        then?.(p.pid!, published!.name);
      }
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stderr, published }));
  });
}

describe.skipIf(withoutNative('shm.test: POSIX shared memory hygiene') || noShm)('POSIX shared memory hygiene', () => {
  const before = new Set<string>();
  beforeAll(async () => {
    for (const n of readdirSync(SHM)) before.add(n);
    dir = mkdtempSync(join(tmpdir(), 'poem-shm-'));
    const data = writeFixtureData(join(dir, 'data'), 24);
    cacheFile = join(dir, 'poems.cache');
    await convertCaches({
      poems: data.poems,
      embeddings: data.embeddings,
      similarity: data.similarity,
      diversity: data.diversity,
      out: cacheFile,
      workers: 0,
    });
  });
  afterAll(() => {
    unlinkAllOnError();
    rmSync(dir, { recursive: true, force: true });
    // Nothing of ours left, nothing of anyone else's touched (entries created meanwhile by others are fine).
    expect(ours().filter((n) => !before.has(n))).toEqual([]);
    for (const n of before) if (!n.startsWith('astro-poem-cache-')) expect(existsSync(join(SHM, n))).toBe(true);
  });

  it('publishes with mode 0600 under astro-poem-cache-<pid>-<24 hex>, content equal to the file', () => {
    const { name, reader } = publishToShm(cacheFile);
    try {
      expect(name).toMatch(SHM_NAME_RE);
      expect(SHM_NAME_RE.exec(name)![1]).toBe(String(process.pid));
      const st = statSync(join(SHM, name));
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(process.getuid!());
      expect(readFileSync(join(SHM, name)).equals(readFileSync(cacheFile))).toBe(true);
      expect(reader!.backing).toBe('shm');
      expect(reader!.source).toBe(`shm:${name}`);
      expect(liveShmSegments()).toContain(name);
    } finally {
      releaseShm(name);
    }
    expect(existsSync(join(SHM, name))).toBe(false);
  });

  it('names are random: 20 publications, 20 distinct 96-bit suffixes', () => {
    const names = Array.from({ length: 20 }, () => publishToShm(cacheFile, { open: false }).name);
    try {
      expect(new Set(names).size).toBe(20);
      const suffixes = names.map((n) => SHM_NAME_RE.exec(n)![2]);
      expect(new Set(suffixes).size).toBe(20);
      // Every hex digit position varies across 20 draws (a counter or a timestamp would not).
      const varying = [...Array(24).keys()].filter((i) => new Set(suffixes.map((s) => s[i])).size > 1).length;
      expect(varying).toBeGreaterThanOrEqual(20);
    } finally {
      for (const n of names) releaseShm(n);
    }
  });

  it('the read-only reopen works (threads use openShm) and matches the file reader; the mapping is read-only', () => {
    const { name, reader } = publishToShm(cacheFile);
    try {
      const again = openShm(name);
      expect(again.count).toBe(24);
      for (let r = 0; r < again.count; r++) expect(again.title(r)).toBe(reader!.title(r));
      // Reads of an unlinked segment keep working in mappings that exist.
      releaseShm(name);
      expect(again.title(0)).toBe(reader!.title(0));
    } finally {
      releaseShm(name);
    }
  });

  it('release is idempotent and refuses foreign names', () => {
    const { name } = publishToShm(cacheFile, { open: false });
    expect(releaseShm(name)).toBe(true);
    expect(releaseShm(name)).toBe(false);
    expect(releaseShm(name)).toBe(false);
    expect(liveShmSegments()).not.toContain(name);
    expect(() => releaseShm('some-other-segment')).toThrow(/not an astro-poem-cache segment name/);
  });

  it('a missing cache file throws and leaves nothing registered or in /dev/shm', () => {
    const n0 = ours().length;
    expect(() => publishToShm(join(dir, 'nope.cache'))).toThrow(/ENOENT/);
    const bad = join(dir, 'bad.cache');
    writeFileSync(bad, Buffer.alloc(4096, 7));
    expect(() => publishToShm(bad)).toThrow();
    expect(liveShmSegments()).toEqual([]);
    expect(ours().length).toBe(n0);
  });

  it(
    "the sweep removes a SIGKILLed creator's segment, keeps a live one and other names",
    () =>
      withShmLock(async () => {
        // Dead creator: publishes, then SIGKILL (no handler runs).
        const dead = await child('wait', (pid) => process.kill(pid, 'SIGKILL'));
        expect(dead.signal).toBe('SIGKILL');
        const deadName = dead.published!.name;
        expect(existsSync(join(SHM, deadName))).toBe(true);
        // Live creator: publishes and waits.
        let liveName = '';
        let livePid = 0;
        const live = child('wait', (pid, name) => {
          livePid = pid;
          liveName = name;
        });
        while (!liveName) await new Promise((r) => setTimeout(r, 20));
        // A lookalike that is not ours (wrong pattern) must stay.
        const foreign = 'astro-poem-cache-notours';
        writeFileSync(join(SHM, foreign), 'x');
        const mine = publishToShm(cacheFile, { open: false }).name;
        try {
          const removed = sweepStaleShm();
          expect(removed).toContain(deadName);
          expect(removed).not.toContain(liveName);
          expect(removed).not.toContain(mine);
          expect(existsSync(join(SHM, deadName))).toBe(false);
          expect(existsSync(join(SHM, liveName))).toBe(true);
          expect(existsSync(join(SHM, mine))).toBe(true);
          expect(existsSync(join(SHM, foreign))).toBe(true);
        } finally {
          rmSync(join(SHM, foreign), { force: true });
          releaseShm(mine);
          process.kill(livePid, 'SIGTERM');
        }
        const end = await live;
        expect(end.signal).toBe('SIGTERM');
        expect(existsSync(join(SHM, liveName))).toBe(false);
      }),
    900_000,
  ); // may first wait for the shm lock while shm-builds.test.ts runs its 100 builds

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal}: the child unlinks its segment and still ends by ${signal}`, async () => {
      const end = await child('wait', (pid) => process.kill(pid, signal));
      expect(end.published?.name).toMatch(SHM_NAME_RE);
      expect(end.signal).toBe(signal);
      expect(end.code).toBe(null);
      expect(existsSync(join(SHM, end.published!.name))).toBe(false);
    });
  }

  it(
    'with another SIGTERM listener, that listener decides how the process ends ' + '(signal not swallowed, not forced)',
    async () => {
      const end = await child('other-listener', (pid) => process.kill(pid, 'SIGTERM'));
      expect(end.code).toBe(7);
      expect(existsSync(join(SHM, end.published!.name))).toBe(false);
    },
  );

  for (const [mode, code, stderr] of [
    ['exit', 0, undefined],
    ['process-exit', 3, undefined],
    ['throw', 1, /boom \(uncaught, on purpose\)/],
    ['reject', 1, /unhandled rejection \(on purpose\)/],
  ] as const) {
    it(`${mode}: exit code ${code}, no segment left`, async () => {
      const end = await child(mode);
      expect(end.published?.count).toBe(24);
      expect(end.code).toBe(code);
      if (stderr) expect(end.stderr).toMatch(stderr);
      expect(existsSync(join(SHM, end.published!.name))).toBe(false);
    });
  }
});

describe('without the native addon', () => {
  it('publishToShm names the missing addon', () => {
    const r = spawnSyncNode(
      `import('${new URL('../cache/shm.ts', import.meta.url).pathname}').then((m) => ` +
        `m.publishToShm('/nonexistent')).catch((e) => { console.log(e.message); })`,
    );
    expect(r).toMatch(
      new RegExp(
        "share: 'shm'\\) needs the native addon poem_cache\\.node, " +
          'which is not available \\(disabled by POEM_CACHE_NO_NATIVE=1\\)',
      ),
    );
  });
});

function spawnSyncNode(code: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, POEM_CACHE_NO_NATIVE: '1' },
  });
  return r.stdout + r.stderr;
}
