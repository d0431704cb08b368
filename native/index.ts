// The one loader of the native addon (native/build/Release/poem_cache.node, built by scripts/build-native.mjs).
// Without it everything still works through the pure-JS fallback, which reads the cache into memory once
// per process instead of mapping it; loadNative() says so once, with the reason.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A cache image the C++ validator rejected: same message as CacheFormatError from cache/validate.ts. */
export interface NativeFormatError extends Error {
  code: 'POEM_CACHE_FORMAT';
  offset: number;
}

/** An OS call that failed: `${path}: ${call} failed: ${strerror}`, code = errno name (ENOENT, ...). */
export interface NativeOsError extends Error {
  code: string;
  errno: number;
}

export interface NativeShapePart {
  name: string;
  offset: number;
  length: number;
  bytes: number;
}

/** The constants of native/src/layout.h, named as in cache/layout.ts. */
export interface NativeLayout {
  MAGIC: string;
  FORMAT_MAJOR: number;
  FORMAT_MINOR: number;
  BYTE_ORDER_MARK: number;
  ALIGN: number;
  HEADER_SIZE: number;
  SECTION_ENTRY_SIZE: number;
  SECTION_NAME_BYTES: number;
  MAX_SECTIONS: number;
  H: Record<string, number>;
  E: Record<string, number>;
  SectionKind: Record<string, number>;
  ElementType: Record<string, number>;
  KIND_ELEMENT_TYPE: Record<string, number>;
  RAGGED_HAS_SCORES: number;
  IDS_DENSE_INDEX: number;
  DENSE_INDEX_FACTOR: number;
  DENSE_INDEX_SLACK: number;
  /** sectionShape() of layout.h; undefined for unknown kinds. */
  shape(kind: number, flags: number, count: number, param: number, param2: number):
    { parts: NativeShapePart[]; byteLength: number } | undefined;
}

export interface NativeBinding {
  /** Maps a cache file read-only and validates it; the ArrayBuffer is a view onto the mapping. */
  mapFile(path: string): ArrayBuffer;
  /** As mapFile, as a SharedArrayBuffer that worker threads can receive; only on Node >= 24.16. */
  mapFileShared?: (path: string) => SharedArrayBuffer;
  /** Creates POSIX shared memory (mode 0600, fails with EEXIST if it exists), mapped read-write. */
  shmCreate(name: string, size: number): ArrayBuffer;
  /** Maps POSIX shared memory read-only and validates it as a cache (label `shm:${name}`). */
  shmOpen(name: string): ArrayBuffer;
  shmUnlink(name: string): void;
  /** Runs the C++ validator over bytes in memory; throws NativeFormatError. */
  validate(bytes: ArrayBuffer | ArrayBufferView, label: string): void;
  /** zlib-compatible CRC-32 (the validator's own). */
  crc32(bytes: ArrayBufferView): number;
  layout(): NativeLayout;
  /**
   * The converter's float fast path: bytes[from, to), the inside of a JSON array of numbers, into
   * out[at, at + max) as float32 (each the float32 of the double JSON.parse gives). Returns the count, or -1
   * when anything is unusual (the caller reads it the precise way).
   */
  parseFloats(bytes: Uint8Array, from: number, to: number, out: Float32Array, at: number, max: number): number;
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
    binding = createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
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
