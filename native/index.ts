// The one loader of the native addon (native/build/Release/poem_cache.node, built by scripts/build-native.mjs).
// Without it everything still works through the pure-JS fallback, which reads the cache into memory once
// per process instead of mapping it; loadNative() says so once, with the reason.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

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
  constructor(message: string, code: string, errno: number, syscall: string, path: string) {
    super(message);
    this.name = 'NativeSystemError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
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

// native/index.ts in this repository; dist/native/index.js in the installed package, which builds the addon
// into native/build as well.
const ADDON_PATH = fileURLToPath(new URL(
  import.meta.url.endsWith('.ts') ? './build/Release/poem_cache.node' : '../../native/build/Release/poem_cache.node',
  import.meta.url,
));
// Per process, not per module instance: a bundler or test runner may evaluate this module more than once.
const WARNED = Symbol.for('astro-poem-cache.nativeWarningEmitted');

let attempted = false;
let binding: NativeBinding | undefined;

/** Why the addon is not in use, once loadNative() has been called and returned undefined. */
export let nativeLoadError: string | undefined;

export function loadNative(): NativeBinding | undefined {
  if (attempted) return binding;
  attempted = true;
  if (process.env.POEM_CACHE_NO_NATIVE === '1') {
    nativeLoadError = 'disabled by POEM_CACHE_NO_NATIVE=1';
    return undefined;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    addon.setErrorConstructor(NativeSystemError); // per thread: each thread's require runs the addon's Init
    binding = addon;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    nativeLoadError = e.code === 'MODULE_NOT_FOUND'
      ? `${ADDON_PATH} is missing: run npm run build:native`
      : String(e.message ?? e).split('\n')[0];
    const g = globalThis as Record<symbol, unknown>;
    if (!g[WARNED]) {
      g[WARNED] = true;
      process.emitWarning(
        `astro-poem-cache: native addon not available (${nativeLoadError}); using the pure-JS fallback (reads the cache into memory once per process)`,
        { code: 'POEM_CACHE_NO_NATIVE' },
      );
    }
  }
  return binding;
}
