// Concurrent builds: the per-output lock (converter/lock.ts) and the removal of dead converters' leftovers
// (converter/cleanup.ts), in-process and with real processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { leftoverPid, pidAlive, removeDeadLeftovers } from '../converter/cleanup.ts';
import { acquireLock, LockTimeoutError, withLock } from '../converter/lock.ts';
import { convertCaches } from '../converter/index.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/poem-cache.mjs');
const LOCK_CHILD = join(ROOT, 'test/fixtures/lock-child.ts');

let dir: string;
let data: string;

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  expect(pidAlive(pid)).toBe(false);
  return pid;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}
function run(
  args: string[],
  onLine?: (line: string, kill: () => void) => void,
  onErr?: (text: string) => void,
): Promise<Exit> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      const before = stdout.length;
      stdout += c.toString();
      if (onLine)
        for (const line of stdout.slice(before).split('\n').filter(Boolean)) onLine(line, () => child.kill('SIGKILL'));
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      onErr?.(stderr);
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => done({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'concurrency-'));
  data = join(dir, 'data');
  const gen = spawnSync(process.execPath, [join(ROOT, 'bench/generate.ts'), '--size', 'small', '--out', data], {
    encoding: 'utf8',
  });
  expect(gen.status, gen.stderr).toBe(0);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const convertArgs = (out: string, ...extra: string[]) => [
  BIN,
  'convert',
  '--poems',
  join(data, 'poems.json'),
  '--embeddings',
  join(data, 'embeddings.json'),
  '--similarity',
  join(data, 'similarity_rankings_cache.json'),
  '--diversity',
  join(data, 'diversity_cache.json'),
  '--out',
  out,
  ...extra,
];

describe('leftovers of dead converters', () => {
  it('recognizes temp and spool names of one output only', () => {
    expect(leftoverPid('/d/poems.cache', 'poems.cache.tmp-123-abcdef012345')).toBe(123);
    expect(leftoverPid('/d/poems.cache', 'poems.cache.spool-45-abcdef012345-title')).toBe(45);
    expect(leftoverPid('/d/poems.cache', 'poems.cache.tmp-45-abcdef012345.lock')).toBe(45);
    expect(leftoverPid('/d/poems.cache', 'poems.cache')).toBeUndefined();
    expect(leftoverPid('/d/poems.cache', 'poems.cache.lock')).toBeUndefined();
    expect(leftoverPid('/d/poems.cache', 'other.cache.tmp-45-abcdef')).toBeUndefined();
    expect(leftoverPid('/d/poems.cache', 'poems.cache.tmp-x-abcdef')).toBeUndefined();
  });

  it("removes only the files of processes that are gone, never a live process's", async () => {
    const d = join(dir, 'leftovers');
    mkdirSync(d);
    const out = join(d, 'poems.cache');
    const dead = deadPid();
    const live = process.ppid; // the vitest main process: alive
    const names = {
      deadTmp: `poems.cache.tmp-${dead}-0123456789ab`,
      deadSpool: `poems.cache.spool-${dead}-0123456789ab-title`,
      deadLockTemp: `poems.cache.tmp-${dead}-0123456789ab.lock`,
      liveTmp: `poems.cache.tmp-${live}-0123456789ab`,
      ownSpool: `poems.cache.spool-${process.pid}-0123456789ab-text`,
      otherOutput: `other.cache.tmp-${dead}-0123456789ab`,
      cache: 'poems.cache',
    };
    for (const n of Object.values(names)) writeFileSync(join(d, n), 'x');
    const removed = await removeDeadLeftovers(out);
    expect(removed).toEqual([names.deadSpool, names.deadTmp, names.deadLockTemp].map((n) => join(d, n)).sort());
    expect(readdirSync(d).sort()).toEqual([names.cache, names.liveTmp, names.otherOutput, names.ownSpool].sort());
  });

  it('convertCaches removes them before converting', async () => {
    const d = join(dir, 'leftovers2');
    mkdirSync(d);
    const out = join(d, 'poems.cache');
    const dead = deadPid();
    writeFileSync(join(d, `poems.cache.tmp-${dead}-0123456789ab`), 'partial cache');
    writeFileSync(join(d, `poems.cache.spool-${dead}-0123456789ab-similarity-values`), 'partial spool');
    await convertCaches({ poems: join(data, 'poems.json'), out, workers: 0 });
    expect(readdirSync(d)).toEqual(['poems.cache']);
  });
});

describe('the conversion lock', () => {
  it('serializes holders in one process and releases on error', async () => {
    const out = join(dir, 'inproc.cache');
    const events: string[] = [];
    const hold = (name: string, ms: number, fail = false) =>
      withLock(
        out,
        async () => {
          events.push(`enter ${name}`);
          await new Promise((r) => setTimeout(r, ms));
          events.push(`exit ${name}`);
          if (fail) throw new Error(`${name} failed`);
          return name;
        },
        { pollMs: 10 },
      );
    const results = await Promise.allSettled([hold('a', 150, true), hold('b', 50), hold('c', 50)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i].replace('enter', 'exit')).toBe(events[i + 1]);
    }
    expect(existsSync(`${out}.lock`)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.startsWith('inproc.cache'))).toEqual([]);
  });

  it('times out with a message naming the lock file and its holder', async () => {
    const out = join(dir, 'timeout.cache');
    const release = await acquireLock(out);
    const holder = JSON.parse(readFileSync(`${out}.lock`, 'utf8'));
    expect(holder).toMatchObject({ pid: process.pid, host: hostname() });
    let waitedFor: unknown;
    const err = await withLock(out, async () => 'never', {
      timeoutMs: 300,
      pollMs: 20,
      onWait: (h) => (waitedFor = h),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(waitedFor).toEqual(holder);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^${out.replace(/[.]/g, '\\.')}\\.lock: timed out after 0\\.[3-9]\\d* s waiting for the conversion lock held ` +
          `by pid ${process.pid} on ${hostname().replace(/[.]/g, '\\.')} since ` +
          `${holder.started.replace(/[.]/g, '\\.')} \\(remove the lock file if no conversion is running\\)$`,
      ),
    );
    await release();
    expect(existsSync(`${out}.lock`)).toBe(false);
  });

  it(
    'takes over a lock whose holder is dead, and one not refreshed for staleMs; ' + 'waits for a live fresh one',
    async () => {
      const out = join(dir, 'stale.cache');
      const dead = deadPid();
      writeFileSync(
        `${out}.lock`,
        JSON.stringify({ pid: dead, host: hostname(), started: new Date().toISOString(), token: 'x' }),
      );
      expect(await withLock(out, async () => 'got it', { timeoutMs: 2000 })).toBe('got it');
      // a holder on another host that stopped refreshing the lock
      writeFileSync(
        `${out}.lock`,
        JSON.stringify({ pid: process.ppid, host: 'elsewhere', started: new Date(0).toISOString(), token: 'y' }),
      );
      const old = new Date(Date.now() - 120_000);
      utimesSync(`${out}.lock`, old, old);
      expect(await withLock(out, async () => 'got it too', { timeoutMs: 2000 })).toBe('got it too');
      // a live holder (the vitest main process) with a fresh lock: not stale
      writeFileSync(
        `${out}.lock`,
        JSON.stringify({ pid: process.ppid, host: hostname(), started: new Date().toISOString(), token: 'z' }),
      );
      await expect(withLock(out, async () => 'no', { timeoutMs: 300, pollMs: 20 })).rejects.toBeInstanceOf(
        LockTimeoutError,
      );
      rmSync(`${out}.lock`);
    },
  );

  it("stops waiting when the signal aborts, leaving the holder's lock alone", async () => {
    const out = join(dir, 'abort.cache');
    const release = await acquireLock(out);
    const before = readFileSync(`${out}.lock`, 'utf8');
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('build cancelled')), 100);
    const err = await convertCaches({ poems: join(data, 'poems.json'), out, signal: controller.signal }).catch(
      (e) => e,
    );
    expect((err as Error).name).toBe('AbortError');
    expect((err as Error).message).toBe('conversion aborted: build cancelled');
    expect(readFileSync(`${out}.lock`, 'utf8')).toBe(before);
    await release();
  });

  it(
    'recovers the lock of a SIGKILLed process; ' + 'four processes racing for that stale lock enter one at a time',
    async () => {
      const out = join(dir, 'killed.cache');
      const killed = await run([LOCK_CHILD, out, 'hang'], (line, kill) => line === 'locked' && kill());
      expect(killed.signal).toBe('SIGKILL');
      const lock = JSON.parse(readFileSync(`${out}.lock`, 'utf8'));
      expect(pidAlive(lock.pid)).toBe(false);
      const log = join(dir, 'killed.log');
      const runs = await Promise.all([1, 2, 3, 4].map(() => run([LOCK_CHILD, out, 'log', log, '100'])));
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(8);
      for (let i = 0; i < lines.length; i += 2) {
        expect(lines[i]).toMatch(/^enter \d+$/);
        expect(lines[i + 1]).toBe(lines[i].replace('enter', 'exit'));
      }
      expect(existsSync(`${out}.lock`)).toBe(false);
      expect(readdirSync(dir).filter((n) => n.startsWith('killed.cache'))).toEqual([]);
    },
  );
});

describe('two builds at once', () => {
  it('two `poem-cache convert` processes started at once on the same output: both succeed, one converts', async () => {
    const d = join(dir, 'twice');
    mkdirSync(d);
    const out = join(d, 'poems.cache');
    const [a, b] = await Promise.all([run(convertArgs(out)), run(convertArgs(out))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const outputs = [a.stdout, b.stdout];
    expect(outputs.filter((s) => s.startsWith(`wrote ${out}: 300 rows`))).toHaveLength(1);
    expect(outputs.filter((s) => s.startsWith(`${out}: up to date (300 rows`))).toHaveLength(1);
    const v = spawnSync(process.execPath, [BIN, 'verify', out], { encoding: 'utf8' });
    expect(v.status, v.stderr).toBe(0);
    expect(readdirSync(d)).toEqual(['poems.cache']);
  });

  it(
    'two build starts (poemCache options + ensureCache) in two processes on the same cacheDir: ' +
      'both succeed, one converts',
    async () => {
      const root = join(dir, 'project');
      mkdirSync(root);
      cpSync(data, join(root, 'data'), { recursive: true }); // a link out of the root would be refused
      const cacheDir = join(root, 'node_modules', '.astro');
      const child = join(ROOT, 'test/fixtures/ensure-child.ts');
      const [a, b] = await Promise.all([run([child, root, cacheDir]), run([child, root, cacheDir])]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const results = [a.stdout, b.stdout].map((s) => s.trim().split('\n').at(-1)).sort();
      expect(results).toEqual(['result converted', 'result skipped']);
      const cacheFile = join(cacheDir, 'poem-cache', 'poems.cache');
      expect([a.stdout, b.stdout].join('')).toContain(`info cache is fresh: ${cacheFile} (300 poems`);
      expect(spawnSync(process.execPath, [BIN, 'verify', cacheFile], { encoding: 'utf8' }).status).toBe(0);
      expect(readdirSync(join(cacheDir, 'poem-cache'))).toEqual(['poems.cache']);
    },
  );

  it('a conversion that finds the lock of a SIGKILLed converter recovers it and converts', async () => {
    const d = join(dir, 'afterkill');
    mkdirSync(d);
    const out = join(d, 'poems.cache');
    const killed = await run([LOCK_CHILD, out, 'hang'], (line, kill) => line === 'locked' && kill());
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(`${out}.lock`)).toBe(true);
    const r = await run(convertArgs(out));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote /);
    expect(r.stderr).not.toMatch(/waiting/);
    expect(readdirSync(d)).toEqual(['poems.cache']);
  });

  it('a second conversion waits for a live holder and says so', async () => {
    const d = join(dir, 'waits');
    mkdirSync(d);
    const out = join(d, 'poems.cache');
    const release = await acquireLock(out);
    // released once the child says it waits (or after 60 s, when the expectations below fail)
    let said: () => void;
    const saidIt = new Promise<void>((r) => (said = r));
    const pending = run(convertArgs(out), undefined, (text) => text.includes('waiting for') && said());
    await Promise.race([saidIt, new Promise((r) => setTimeout(r, 60_000))]);
    expect(existsSync(out)).toBe(false);
    await release();
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `poem-cache: waiting for ${out}.lock (another conversion: pid ${process.pid} on ${hostname()} since `,
    );
    expect(r.stdout).toMatch(/^wrote /);
  });
});
