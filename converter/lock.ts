// One conversion per cache file at a time, across processes: an exclusive lock file `${out}.lock` holding
// {pid, host, started, token}. The lock appears atomically with its contents (written to a temp file, then
// hard-linked to the lock name: link fails with EEXIST when the lock exists), so a waiter never reads a
// half-written lock. The holder refreshes the lock's mtime every staleMs/6 while it works.
//
// A waiter polls every pollMs until timeoutMs. A lock is stale when its holder is on this host and its pid
// is dead, or when its mtime is older than staleMs (a holder on another host, or a reused pid). Stale locks
// are removed under a short takeover guard `${out}.lock.takeover` (also created by link): under the guard the
// waiter re-reads the lock and removes it only if it is still the one it judged stale (same token), so two
// waiters cannot both remove a lock, and a fresh lock that replaced the stale one is never removed. Then the
// waiters race for the lock with link again: exactly one wins.
import { link, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { pidAlive } from './cleanup.ts';
import { AbortError } from './errors.ts';

export interface LockInfo {
  pid: number;
  host: string;
  /** ISO time the holder took the lock. */
  started: string;
  token: string;
}

export interface LockOptions {
  /** Give up waiting after this long (ms). Default 15 minutes. */
  timeoutMs?: number;
  /** Poll interval while waiting (ms). Default 100. */
  pollMs?: number;
  /** A lock whose mtime has not been refreshed for this long is stale (ms). Default 60 s. */
  staleMs?: number;
  signal?: AbortSignal;
  /** Called once when this process has to wait, with the holder. */
  onWait?: (holder: LockInfo, lockFile: string) => void;
}

export class LockTimeoutError extends Error {
  lockFile: string;
  holder?: LockInfo;
  constructor(lockFile: string, waitedMs: number, holder?: LockInfo) {
    const who = holder ? `pid ${holder.pid} on ${holder.host} since ${holder.started}` : 'another process';
    super(
      `${lockFile}: timed out after ${(waitedMs / 1000).toFixed(1)} s waiting for the conversion lock held by ${who} ` +
        '(remove the lock file if no conversion is running)',
    );
    this.name = 'LockTimeoutError';
    this.lockFile = lockFile;
    this.holder = holder;
  }
}

export const lockFileOf = (out: string): string => `${out}.lock`;

/** Creates `target` with `text` atomically; false when it exists. */
async function createExclusive(out: string, target: string, text: string): Promise<boolean> {
  // the temp name is one the leftover cleaner recognizes (`${out}.tmp-<pid>-<hex>…`)
  const temp = `${out}.tmp-${process.pid}-${randomBytes(6).toString('hex')}.lock`;
  await writeFile(temp, text);
  try {
    await link(temp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

async function readLock(file: string): Promise<{ info?: LockInfo; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    let info: LockInfo | undefined;
    try {
      const v = JSON.parse(text) as LockInfo;
      if (typeof v?.pid === 'number' && typeof v.host === 'string') info = v;
    } catch {
      // not ours or damaged: judged by its age alone
    }
    return { info, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStale(l: { info?: LockInfo; mtimeMs: number }, staleMs: number): boolean {
  if (l.info && l.info.host === hostname() && !pidAlive(l.info.pid)) return true;
  return Date.now() - l.mtimeMs > staleMs;
}

/** Removes `lockFile` if it still holds `token` (or, without a token, is still stale), under the takeover guard. */
async function takeOver(out: string, lockFile: string, token: string | undefined, staleMs: number): Promise<void> {
  const guard = `${lockFile}.takeover`;
  const me = JSON.stringify({
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  });
  if (!(await createExclusive(out, guard, me))) {
    // another waiter is taking over; its guard lives for milliseconds unless it died holding it
    const g = await readLock(guard);
    if (g && isStale(g, Math.min(staleMs, 10_000))) await unlink(guard).catch(() => {});
    return;
  }
  try {
    const now = await readLock(lockFile);
    if (now && (token !== undefined ? now.info?.token === token : now.info === undefined) && isStale(now, staleMs)) {
      await unlink(lockFile).catch(() => {});
    }
  } finally {
    await unlink(guard).catch(() => {});
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((res, rej) => {
    if (signal?.aborted) return rej(new AbortError(signal.reason));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(new AbortError(signal!.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Takes the lock of `out` (waiting as needed), returns a release function. */
export async function acquireLock(out: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const lockFile = lockFileOf(out);
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const pollMs = opts.pollMs ?? 100;
  const staleMs = opts.staleMs ?? 60_000;
  const t0 = Date.now();
  const info: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const text = `${JSON.stringify(info)}\n`;
  let waited = false;
  let holder: LockInfo | undefined;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortError(opts.signal.reason);
    if (await createExclusive(out, lockFile, text)) break;
    const l = await readLock(lockFile);
    if (!l) continue; // released between our link and our read
    holder = l.info;
    if (isStale(l, staleMs)) {
      await takeOver(out, lockFile, l.info?.token, staleMs);
      continue;
    }
    if (!waited) {
      waited = true;
      if (l.info) opts.onWait?.(l.info, lockFile);
    }
    if (Date.now() - t0 >= timeoutMs) throw new LockTimeoutError(lockFile, Date.now() - t0, holder);
    await sleep(pollMs, opts.signal);
  }
  const heartbeat = setInterval(
    () => {
      readLock(lockFile)
        .then((l) => {
          if (l?.info?.token === info.token) {
            const now = new Date();
            return utimes(lockFile, now, now);
          }
        })
        .catch(() => {});
    },
    Math.max(50, staleMs / 6),
  );
  heartbeat.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    const l = await readLock(lockFile).catch(() => undefined);
    if (l?.info?.token === info.token) await unlink(lockFile).catch(() => {});
  };
}

/** Runs `fn` holding the lock of `out`; the lock is released however `fn` ends. */
export async function withLock<T>(out: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const release = await acquireLock(out, opts);
  try {
    return await fn();
  } finally {
    await release();
  }
}
