// POSIX shared-memory publication of a cache file (opt-in, `share: 'shm'`), with strict hygiene:
// - segments are created with mode 0600 (the addon's shmCreate: O_CREAT|O_EXCL) under an unguessable name
//   `astro-poem-cache-<pid>-<24 random hex chars>`; the pid in the name is what the stale sweep uses;
// - every segment this process created is in a process-wide registry and is unlinked on releaseShm(), on
//   normal exit (process 'exit', also after an uncaught exception), on SIGINT/SIGTERM and on
//   unlinkAllOnError(); a SIGKILLed process leaves its segments behind, and the next sweepStaleShm()
//   (called by the integration at every build start) removes segments whose creating process is gone.
// Readers map a published segment read-only with openShm(name) (cache/reader.ts), which validates it.
import { closeSync, fstatSync, openSync, readdirSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { loadNative, nativeLoadError } from '../native/index.ts';
import { readFileInto } from './read-file.ts';
import { openShm, type CacheReader } from './reader.ts';
import { pidAlive } from './pid.ts';

export const SHM_PREFIX = 'astro-poem-cache-';
/** The environment variable through which the integration hands the segment name to every render thread. */
export const SHM_ENV = 'ASTRO_POEM_CACHE_SHM';
/** Names this package creates: prefix, creating pid, 24 lowercase hex chars (96 random bits). */
export const SHM_NAME_RE = /^astro-poem-cache-([1-9][0-9]*)-([0-9a-f]{24})$/;
const SHM_DIR = '/dev/shm';
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

interface Registry {
  /** Segments created by this process and not yet unlinked. */
  names: Set<string>;
  /** Handlers are installed once per process (integration modules survive `astro dev` restarts). */
  installed: boolean;
}
const REGISTRY_KEY = Symbol.for('astro-poem-cache:shm-registry');
function registry(): Registry {
  const g = globalThis as { [REGISTRY_KEY]?: Registry };
  return (g[REGISTRY_KEY] ??= { names: new Set(), installed: false });
}

/** The error publishToShm throws (and option validation reports) when the addon is missing. */
export function shmUnavailableReason(): string | undefined {
  return loadNative()
    ? undefined
    : "shared memory (share: 'shm') needs the native addon poem_cache.node, which is not available " +
        `(${nativeLoadError ?? 'unknown reason'})`;
}

/** Segment names this process created and has not unlinked yet (for tests and tooling). */
export function liveShmSegments(): string[] {
  return [...registry().names];
}

function unlinkName(name: string): boolean {
  const native = loadNative();
  try {
    if (native) native.shmUnlink(name);
    else unlinkSync(`${SHM_DIR}/${name}`); // Linux: shm_unlink(name) is unlink(/dev/shm/name)
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Unlinks every segment this process created; never throws (used on exit, signals and errors). */
export function unlinkAllOnError(): string[] {
  const r = registry();
  const done: string[] = [];
  for (const name of [...r.names]) {
    r.names.delete(name);
    try {
      if (unlinkName(name)) done.push(name);
    } catch {
      // Nothing more can be done on the way out; the next sweep removes it once this process is gone.
    }
  }
  return done;
}

function onSignal(signal: NodeJS.Signals): void {
  unlinkAllOnError();
  // Another listener (Astro, Vite, the user's code) owns what this signal does: leave it to them. Alone,
  // our listener would have turned the default "terminate by this signal" into "ignore": restore that by
  // removing it and re-raising, so the process still ends by the signal (exit status 128 + n for shells).
  if (process.listenerCount(signal) > 1) return;
  process.removeListener(signal, onSignal);
  registry().installed = false; // a later publish in a surviving process installs again
  process.removeListener('exit', onExit);
  process.kill(process.pid, signal);
}

function onExit(): void {
  unlinkAllOnError();
}

function install(): void {
  const r = registry();
  if (r.installed) return;
  r.installed = true;
  process.on('exit', onExit);
  // Signals are delivered to the main thread only; a worker's 'exit' is its own and would unlink too early.
  if (isMainThread) for (const s of SIGNALS) process.on(s, onSignal);
}

export interface PublishedShm {
  /** The segment name (no leading slash): pass it to openShm(). */
  name: string;
  /** This thread's read-only, validated reader of the segment (undefined with { open: false }). */
  reader?: CacheReader;
}

/**
 * Copies a cache file into a new POSIX shared-memory segment (mode 0600, fresh random name) and registers
 * it for unlinking on exit, SIGINT/SIGTERM and unlinkAllOnError(). With { open: true } (default) the
 * segment is then mapped read-only and validated on this thread, so a bad copy fails here, not in a page.
 */
export function publishToShm(cacheFile: string, options: { open?: boolean } = {}): PublishedShm {
  const native = loadNative();
  if (!native) throw new Error(`astro-poem-cache: ${shmUnavailableReason()}`);
  if (!isMainThread)
    throw new Error('astro-poem-cache: publishToShm must be called on the main thread (signal cleanup lives there)');
  install();
  const name = `${SHM_PREFIX}${process.pid}-${randomBytes(12).toString('hex')}`;
  const fd = openSync(cacheFile, 'r');
  const r = registry();
  let created = false;
  try {
    const size = fstatSync(fd).size;
    if (size === 0) throw new Error(`${cacheFile}: empty file, not a cache`);
    // Registered before it exists: a signal between create and register cannot leak it.
    r.names.add(name);
    const target = new Uint8Array(native.shmCreate(name, size));
    created = true;
    const got = readFileInto(fd, target);
    if (got < size)
      throw new Error(`${cacheFile}: file shrank while copying to shared memory (${got} of ${size} bytes read)`);
  } catch (err) {
    // Not created (e.g. EEXIST, however unlikely with 96 random bits): not ours to unlink.
    if (created) releaseShm(name);
    else r.names.delete(name);
    throw err;
  } finally {
    closeSync(fd);
  }
  if (options.open === false) return { name };
  try {
    return { name, reader: openShm(name) };
  } catch (err) {
    releaseShm(name);
    throw err;
  }
}

/** Unlinks a segment this process published (idempotent). Mappings that exist keep working until unmapped. */
export function releaseShm(name: string): boolean {
  registry().names.delete(name);
  if (!SHM_NAME_RE.test(name))
    throw new Error(`releaseShm: ${JSON.stringify(name)} is not an astro-poem-cache segment name`);
  return unlinkName(name);
}

/**
 * Removes this package's segments whose creating process is gone (kill(pid, 0) fails with ESRCH). Never
 * touches other names, segments of live processes or this process's own. Returns the names removed.
 * Where /dev/shm cannot be listed (not Linux), there is nothing to sweep.
 */
export function sweepStaleShm(): string[] {
  let entries: string[];
  try {
    entries = readdirSync(SHM_DIR);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const m = SHM_NAME_RE.exec(entry);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || !Number.isSafeInteger(pid) || pidAlive(pid)) continue;
    try {
      if (unlinkName(entry)) removed.push(entry);
    } catch {
      // Not ours to remove (EACCES: another user's segment): leave it.
    }
  }
  return removed;
}
