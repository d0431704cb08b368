// The one loader of the native addon, poem_cache.node. Without it everything still works through the pure-JS
// fallback, which reads the cache into memory once per process instead of mapping it; loadNative() says so
// once, with the reason.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

/**
 * An OS call of the addon that failed (open, fstat, mmap, shm_open, ftruncate, shm_unlink), shaped like Node's
 * own system errors: message `${path}: ${syscall} failed: ${strerror}` (shm calls name `shm:<name>`), code = the
 * errno name (ENOENT, ...), errno negative as in Node, syscall, path. Constructed in C++ from this class,
 * which the loader hands to the addon (setErrorConstructor), as better-sqlite3 does with SqliteError.
 */
class SystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;
  constructor(message: string, errno: number, syscall: string, path: string) {
    super(message);
    this.name = 'NativeSystemError';
    this.code = systemErrorName(errno);
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}
function systemErrorName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return 'EUNKNOWN';
  }
}

// One class per thread even when a bundler or test runner evaluates this module twice (the addon, loaded
// once per thread, builds its errors from one class: `instanceof` must hold for every copy of this module).
const ERROR_CLASS = Symbol.for('astro-poem-cache.NativeSystemError');
const perThread = globalThis as Record<symbol, typeof SystemError>;
export const NativeSystemError: typeof SystemError = (perThread[ERROR_CLASS] ??= SystemError);
export type NativeSystemError = SystemError;

/** The addon: mappings and shared memory only; cache/validate.ts checks every image before any view is made. */
export interface NativeBinding {
  /** Maps a file read-only; the ArrayBuffer is a view onto the mapping (empty, unmapped, for an empty file). */
  mapFile(path: string): ArrayBuffer;
  /** As mapFile, as a SharedArrayBuffer that worker threads can receive; only on Node >= 24.16. */
  mapFileShared?: (path: string) => SharedArrayBuffer;
  /** Creates POSIX shared memory (mode 0600, fails with EEXIST if it exists), mapped read-write. */
  shmCreate(name: string, size: number): ArrayBuffer;
  /** Maps POSIX shared memory read-only. */
  shmOpen(name: string): ArrayBuffer;
  shmUnlink(name: string): void;
  /**
   * The converter's float fast path: bytes[from, to), the inside of a JSON array of numbers, into
   * out[at, at + max) as float32 (each the float32 of the double JSON.parse gives). Returns the count, or -1
   * when anything is unusual (the caller reads it the precise way).
   */
  parseFloats(bytes: Uint8Array, from: number, to: number, out: Float32Array, at: number, max: number): number;
}

interface Addon extends NativeBinding {
  setErrorConstructor(errorClass: typeof NativeSystemError): void;
}

// The package root: native/index.ts in this repository, dist/native/index.js in the installed package.
const ROOT = new URL(fileURLToPath(import.meta.url).endsWith('.ts') ? '../' : '../../', import.meta.url);
/**
 * Where the addon may be, in the order tried (node-gyp-build's order): a source build (scripts/build-native.mjs
 * at install or `npm run build:native`), which exists only when one was asked for or the prebuilt did not load
 * at install; then the prebuilt that `npm pack` puts in the package for its own platform and CPU.
 */
const ADDON_CANDIDATES: readonly string[] = [
  'native/build/Release/poem_cache.node',
  `prebuilds/${process.platform}-${process.arch}/poem_cache.node`,
].map((path) => fileURLToPath(new URL(path, ROOT)));
// Per process, not per module instance: a bundler or test runner may evaluate this module more than once.
const WARNED = Symbol.for('astro-poem-cache.nativeWarningEmitted');

let attempted = false;
let binding: NativeBinding | undefined;

/** Why the addon is not in use, once loadNative() has been called and returned undefined. */
export let nativeLoadError: string | undefined;
/** The file the addon was loaded from, once loadNative() has returned it. */
export let nativeAddonPath: string | undefined;

/** The first candidate that loads, or why none did. */
function loadFirst(): { addon: Addon; path: string } | { error: string } {
  const failures: string[] = [];
  const require = createRequire(import.meta.url);
  for (const path of ADDON_CANDIDATES) {
    if (!existsSync(path)) continue;
    try {
      const addon = require(path) as Addon;
      addon.setErrorConstructor(NativeSystemError); // per thread: each thread's require runs the addon's Init
      return { addon, path };
    } catch (error) {
      failures.push(`${path}: ${String((error as Error).message ?? error).split('\n')[0]}`);
    }
  }
  if (failures.length > 0) return { error: failures.join('; ') };
  const missing = `${ADDON_CANDIDATES.join(' and ')} are missing`;
  return { error: `no poem_cache.node for ${process.platform}-${process.arch}: ${missing} (npm run build:native)` };
}

export function loadNative(): NativeBinding | undefined {
  if (attempted) return binding;
  attempted = true;
  if (process.env.POEM_CACHE_NO_NATIVE === '1') {
    nativeLoadError = 'disabled by POEM_CACHE_NO_NATIVE=1';
    return undefined;
  }
  const found = loadFirst();
  if ('addon' in found) {
    binding = found.addon;
    nativeAddonPath = found.path;
    return binding;
  }
  nativeLoadError = found.error;
  const g = globalThis as Record<symbol, unknown>;
  if (!g[WARNED]) {
    g[WARNED] = true;
    process.emitWarning(
      `astro-poem-cache: native addon not available (${nativeLoadError}); ` +
        'using the pure-JS fallback (reads the cache into memory once per process)',
      { code: 'POEM_CACHE_NO_NATIVE' },
    );
  }
  return undefined;
}
