// "50 builds, some interrupted, leave nothing in /dev/shm" (share: 'shm'), twice:
// 1. 50 child processes of test/support/shm-build-run.ts, which does what the integration does at
//    astro:build:start / astro:build:done with share: 'shm' (sweep stale segments, publish, render threads open
//    the segment read-only through the environment, release) — fast, and interruptible at any point of it;
// 2. 50 real `astro build`s with share: 'shm' (test/support/shm-astro-build.ts; ~2.5 s each here).
// In both, about a third are interrupted at a random moment with SIGINT, SIGTERM or SIGKILL (a SIGKILLed run
// leaves its segment: the next run's sweep must remove it). Other /dev/shm entries are snapshotted before and
// after: nothing else may be touched.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHM_NAME_RE } from '../cache/shm.ts';
import { convertCaches } from '../converter/index.ts';
import { writeFixtureData } from './fixtures/site/make-data.ts';
import { withShmLock } from './support/shm-lock.ts';
import { withoutNative } from './support/native.ts';
import { mulberry32 } from './support/prng.ts';

const SHM = '/dev/shm';
const RUN = fileURLToPath(new URL('./support/shm-build-run.ts', import.meta.url));
const ASTRO_RUN = fileURLToPath(new URL('./support/shm-astro-build.ts', import.meta.url));
const SITE = fileURLToPath(new URL('./fixtures/site/', import.meta.url));
const RUNS = 50;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;
type Sig = (typeof SIGNALS)[number];

// Deterministic "random" (mulberry32), seed printed so a failure can be replayed with POEM_SHM_SEED.
const SEED = Number(process.env.POEM_SHM_SEED ?? Date.now() % 1_000_000);

const pidOf = (name: string): number => Number(SHM_NAME_RE.exec(name)?.[1] ?? 0);
const ours = (): string[] => readdirSync(SHM).filter((n) => n.startsWith('astro-poem-cache-'));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};
/** Every /dev/shm entry that is not ours, with identity (inode, size, mtime). */
function others(): Map<string, string> {
  const m = new Map<string, string>();
  for (const n of readdirSync(SHM)) {
    if (n.startsWith('astro-poem-cache-')) continue;
    try {
      const st = statSync(join(SHM, n));
      m.set(n, `${st.ino}:${st.size}:${st.mtimeMs}`);
    } catch {
      /* went away meanwhile: not by us (we only unlink astro-poem-cache-<pid>-<hex>) */
    }
  }
  return m;
}

interface Step {
  pid: number;
  step: string;
  name?: string;
  swept?: string[];
}
interface RunEnd {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  steps: Step[];
  stderr: string;
}

/** Runs one child; when `kill` is given, sends its signal `delayMs` after the child printed step `at`. */
function runChild(
  args: string[],
  kill?: { at: string; delayMs: number; signal: Sig },
  onSpawn?: (pid: number) => void,
): Promise<RunEnd> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASTRO_POEM_CACHE_SHM: '' },
    });
    onSpawn?.(p.pid!);
    const steps: Step[] = [];
    let buf = '';
    let stderr = '';
    const fire = () =>
      setTimeout(() => {
        try {
          p.kill(kill!.signal);
        } catch {
          /* gone */
        }
      }, kill!.delayMs);
    if (kill?.at === 'spawn') fire();
    p.stdout.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const s = JSON.parse(line) as Step;
          steps.push(s);
          if (kill && s.step === kill.at) fire();
        } catch {
          /* not ours */
        }
      }
    });
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ pid: p.pid!, code, signal, steps, stderr }));
  });
}

const noShm = !existsSync(SHM);
if (noShm) console.log(`shm-builds.test: skipped: ${SHM} does not exist on this system`);
const skip = withoutNative('shm-builds.test: 50 builds with share: "shm"') || noShm;
describe.skipIf(skip)('share: "shm" — 50 builds, some interrupted', () => {
  let dir: string;
  let cacheFile: string;
  let before: Map<string, string>;
  let oursBefore: Set<string>;
  const childPids = new Set<number>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poem-shm-builds-'));
    const data = writeFixtureData(join(dir, 'data'), 6);
    cacheFile = join(dir, 'poems.cache');
    await convertCaches({
      poems: data.poems,
      embeddings: data.embeddings,
      similarity: data.similarity,
      diversity: data.diversity,
      out: cacheFile,
      workers: 0,
    });
    writeFixtureData(join(SITE, 'data-shm'), 6);
    before = others();
    oursBefore = new Set(ours());
    console.log(`shm-builds seed ${SEED} (replay with POEM_SHM_SEED=${SEED})`);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    for (const d of readdirSync(SITE))
      if (d.startsWith('dist-shm-')) rmSync(join(SITE, d), { recursive: true, force: true });
  });

  const checkEnd = () => {
    // No segment of any of our children, none of a dead process; all we had before that are still live kept.
    const left = ours().filter((n) => childPids.has(pidOf(n)) || !alive(pidOf(n)));
    expect(left).toEqual([]);
    for (const n of oursBefore) if (alive(pidOf(n))) expect(existsSync(join(SHM, n))).toBe(true);
    // Nothing else touched: every entry that was there is still there, unchanged.
    const after = others();
    for (const [n, id] of before) expect(after.get(n), n).toBe(id);
  };

  it(
    `${RUNS} runs of the build-start/build-done sequence, a third interrupted, leave nothing`,
    () =>
      withShmLock(async () => {
        const rand = mulberry32(SEED);
        const t0 = performance.now();
        // Which runs are interrupted: a third, never the last (it must sweep what a SIGKILL before it left).
        const interrupted = new Set<number>();
        while (interrupted.size < Math.round(RUNS / 3)) interrupted.add(Math.floor(rand() * (RUNS - 1)));
        let stale: string[] = []; // segments of SIGKILLed runs not yet swept
        const counts = {
          clean: 0,
          SIGINT: 0,
          SIGTERM: 0,
          SIGKILL: 0,
          killedAfterPublish: 0,
          sweptByNext: 0,
          finishedBeforeSignal: 0,
        };
        for (let i = 0; i < RUNS; i++) {
          const kill = interrupted.has(i)
            ? {
                at: ['spawn', 'swept', 'published', 'published', 'rendered'][Math.floor(rand() * 5)],
                delayMs: Math.floor(rand() * 40),
                signal: SIGNALS[i % 3],
              }
            : undefined;
          const end = await runChild([RUN, cacheFile, '2', '20'], kill);
          childPids.add(end.pid);
          const swept = end.steps.find((s) => s.step === 'swept');
          if (swept) {
            // The sweep at this run's start removed every segment SIGKILLed runs left before it.
            for (const n of stale) {
              expect(swept.swept, `run ${i} sweep`).toContain(n);
              expect(existsSync(join(SHM, n))).toBe(false);
              counts.sweptByNext++;
            }
            stale = [];
          }
          const published = end.steps.find((s) => s.step === 'published')?.name;
          const mine = ours().filter((n) => pidOf(n) === end.pid);
          if (!kill || (end.code === 0 && end.signal === null)) {
            expect(end.code, `run ${i}: ${end.stderr}`).toBe(0);
            expect(end.steps.at(-1)?.step).toBe('done');
            expect(mine).toEqual([]);
            if (kill) counts.finishedBeforeSignal++;
            else counts.clean++;
            continue;
          }
          expect(end.signal, `run ${i}: ${end.stderr}`).toBe(kill.signal); // ended by the signal, not swallowed
          counts[kill.signal]++;
          if (kill.signal === 'SIGKILL') {
            if (published) counts.killedAfterPublish++;
            expect(mine.length).toBeLessThanOrEqual(1);
            stale.push(...mine);
          } else {
            expect(mine, `run ${i} (${kill.signal} after ${kill.at})`).toEqual([]);
          }
        }
        expect(stale).toEqual([]);
        checkEnd();
        const seconds = (performance.now() - t0) / 1000;
        console.log(`shm-builds: ${RUNS} runs in ${seconds.toFixed(1)} s: ${JSON.stringify(counts)}`);
        expect(counts.SIGINT + counts.SIGTERM + counts.SIGKILL + counts.finishedBeforeSignal).toBe(interrupted.size);
      }),
    600_000,
  );

  it(
    `${RUNS} real astro builds with share: "shm" (workers: 1), about a third interrupted — nothing left`,
    () =>
      withShmLock(async () => {
        const rand = mulberry32(SEED + 1);
        const t0 = performance.now();
        // About a third interrupted at a random moment, at least one by each signal; the last build runs clean
        // so that its start sweeps what an earlier SIGKILL left.
        const plan: (Sig | undefined)[] = Array.from({ length: RUNS }, () => {
          const r = rand();
          return r < 0.11 ? 'SIGINT' : r < 0.22 ? 'SIGTERM' : r < 0.33 ? 'SIGKILL' : undefined;
        });
        [plan[1], plan[3], plan[5], plan[RUNS - 1]] = ['SIGINT', 'SIGKILL', 'SIGTERM', undefined];
        const counts = { clean: 0, SIGINT: 0, SIGTERM: 0, SIGKILL: 0 };
        let stale: string[] = [];
        for (const [i, signal] of plan.entries()) {
          let killer: NodeJS.Timeout | undefined;
          let seenSegment: string | undefined;
          let pid = 0;
          const run = runChild([ASTRO_RUN, `dist-shm-${i}`, 'shm', '1'], undefined, (p) => {
            pid = p;
          });
          // Poll for this build's segment: it exists from astro:build:start to astro:build:done; interrupt at a
          // random moment of that span.
          const poll = setInterval(() => {
            const n = ours().find((x) => pidOf(x) === pid);
            if (n && !seenSegment) {
              seenSegment = n;
              if (signal)
                killer = setTimeout(
                  () => {
                    try {
                      process.kill(pid, signal);
                    } catch {
                      /* gone */
                    }
                  },
                  Math.floor(rand() * 500),
                );
            }
          }, 10);
          const end = await run;
          clearInterval(poll);
          clearTimeout(killer);
          childPids.add(end.pid);
          expect(seenSegment, `build ${i} published a segment`).toBeDefined();
          expect(pidOf(seenSegment!)).toBe(end.pid);
          if (stale.length) {
            for (const n of stale) expect(existsSync(join(SHM, n))).toBe(false); // swept at this build's start
            stale = [];
          }
          const mine = ours().filter((n) => pidOf(n) === end.pid);
          if (!signal || end.code === 0) {
            expect(end.code, end.stderr.slice(-2000)).toBe(0);
            const built = end.steps.find((s) => s.step === 'built') as Step & {
              pages: number;
              mode: string;
              shmEnv: string | null;
              workerBacking: string[];
              chunksUsingShm: number;
            };
            // index, about, 6 poems, one similar page each (5 neighbours, pageSize 5)
            expect(built.pages).toBe(2 + 6 + 6);
            expect(built.mode).toBe('workers');
            expect(built.workerBacking).toEqual(['shm']); // the render thread mapped the segment, not the file
            expect(built.chunksUsingShm).toBeGreaterThan(0); // pages' getCache() opens the segment
            expect(built.shmEnv).toBe(null); // released at build:done
            counts.clean++;
            expect(mine).toEqual([]);
          } else {
            expect(end.signal).toBe(signal);
            counts[signal]++;
            if (signal === 'SIGKILL') stale.push(...mine);
            else expect(mine).toEqual([]);
          }
        }
        expect(stale).toEqual([]);
        checkEnd();
        console.log(
          `shm-builds: ${plan.length} real astro builds in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
            `${JSON.stringify(counts)}`,
        );
      }),
    1_200_000,
  );
});
