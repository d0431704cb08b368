// Cooperative yielding between entries (abort, progress): the sources themselves are synchronous.
import { AbortError } from './errors.ts';
import type { JsonSource } from './json-source.ts';

export class Ticker {
  private n = 0;
  private last = Date.now();
  private readonly progress?: Float64Array;
  private readonly slot: number;
  private readonly signal?: AbortSignal;
  constructor(progress: Float64Array | undefined, slot: number, signal?: AbortSignal) {
    this.progress = progress;
    this.slot = slot;
    this.signal = signal;
  }
  /** Counts `k` entries (a batch counts as its elements); every ~40 ms yields to the event loop. */
  tick(src: JsonSource, k = 1): Promise<void> | undefined {
    const before = this.n;
    this.n += k;
    if (before >> 4 === this.n >> 4) return undefined;
    if (this.progress) this.progress[this.slot] = src.bytesRead;
    const now = Date.now();
    if (now - this.last < 40) return undefined;
    this.last = now;
    return new Promise<void>((r) => setImmediate(r)).then(() => this.check());
  }
  check(): void {
    if (this.signal?.aborted) throw new AbortError(this.signal.reason);
  }
  done(src: JsonSource): void {
    if (this.progress) this.progress[this.slot] = src.totalBytes;
  }
}
