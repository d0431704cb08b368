// Page bodies from the render threads to the main thread, in shared memory.
// A transferred ArrayBuffer counts as external memory of the main isolate, and V8 answers every ~64 MB of it
// with a full mark-compact of the main heap (Astro's build state): 30 of them for the example site's 613 MB of
// pages, about a second of main-thread CPU plus concurrent marking on the helper threads. A SharedArrayBuffer
// does not count — but then nothing makes V8 collect the pages' small wrapper objects either, and their memory
// waits for the next scavenge of a main heap that allocates little (one per ~1,000 pages here: +200 MB PSS).
// So the main thread asks for a minor GC (a scavenge: milliseconds, the wrappers are young) every 16 MB of
// pages. Example site, 2 workers: main thread 0.76–0.89 s instead of 1.05–1.20 s, the whole build 4.7–5.1 s
// of user CPU instead of 6.0–7.2 s, same peak PSS.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';

/** Bytes of pages between two minor GCs of the main heap. */
export const PAGES_PER_MINOR_GC_BYTES = 16 << 20;

type Gc = (options: { type: 'minor' | 'major' }) => void;

/**
 * V8's gc(), obtained the way jest-leak-detector does (the flag applies to contexts created after it is set, and
 * is unset again at once), or undefined where that fails: then pages are transferred as before.
 */
function minorGcFunction(): Gc | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as Gc) : undefined;
  } catch {
    return undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Render-thread side: `size` bytes over a SharedArrayBuffer of exactly that length. */
export const sharedBytes = (size: number): Uint8Array => Buffer.from(new SharedArrayBuffer(size));

/** Render-thread side: the page's bytes in a SharedArrayBuffer of exactly their length. */
export function sharedPage(bytes: Uint8Array): SharedArrayBuffer {
  const shared = sharedBytes(bytes.byteLength);
  shared.set(bytes);
  return shared.buffer as SharedArrayBuffer;
}

/** Main-thread side: counts the shared page bytes received and releases them with a minor GC every 16 MB. */
export class PageBodies {
  private readonly gc: Gc | undefined;
  private pending = 0;
  /** Minor GCs asked for (build statistics). */
  collections = 0;
  constructor() {
    this.gc = minorGcFunction();
  }
  /** Whether render threads should send pages in shared memory (the main thread can release them). */
  get shared(): boolean {
    return this.gc !== undefined;
  }
  received(bytes: number): void {
    this.pending += bytes;
    if (this.pending < PAGES_PER_MINOR_GC_BYTES || !this.gc) return;
    this.pending = 0;
    this.collections++;
    this.gc({ type: 'minor' });
  }
}
