// ByteNumbers: the byte tokenizer (byte-tokenizer.ts) plus the numeric fast paths, which read most of the bytes
// of the pipeline's files. Id lists are read straight from the bytes as rows (readIdRows), embeddings' floats
// too (readFloats: the addon's parseFloats or its JS twin, parse-floats.ts), other numbers in slices cut at
// commas and read by JSON.parse('[' + slice + ']') (readNumbers). Anything unusual is re-read the precise way
// (preciseNumbers), which reports the exact line:column. ByteSource (source.ts) adds the batch fast path.
import { loadNative } from '../native/index.ts';
import { ByteTokenizer, NUMCH, WS } from './byte-tokenizer.ts';
import { ElementError } from './errors.ts';
import type { NumberBatch } from './json-source.ts';
import { parseFloats } from './parse-floats.ts';

/** Bytes the fast paths give up on for one element (the precise path reads it with bounded memory). */
export const MAX_ELEMENT = 16 << 20;
/** Bytes of numeric text handed to one JSON.parse call. */
const SLICE = 1 << 20;

/** The native parseFloats when the addon is there (the faster), else the JS one. */
let floatParser: typeof parseFloats | undefined;

export class ByteNumbers extends ByteTokenizer {
  // ---- numbers: slices read by JSON.parse, else one by one

  readNumbers(onBatch: NumberBatch, expected: string): number {
    let count = 0;
    if (this.ws() === 0x5d) {
      this.pos++;
      this.first.pop();
      return 0;
    }
    for (;;) {
      if (this.ws() === -1) return this.preciseNumbers(onBatch, expected, count);
      const start = this.pos;
      let cut: number;
      let final = false;
      // slices of at most SLICE bytes keep the arrays JSON.parse builds small
      const limit = Math.min(this.end_, start + SLICE);
      const close = this.buf.indexOf(0x5d, start);
      if (close !== -1 && close < limit) {
        cut = close;
        final = true;
      } else {
        const comma = limit > start ? this.buf.lastIndexOf(0x2c, limit - 1) : -1;
        if (comma < start) {
          if (this.fill()) continue;
          return this.preciseNumbers(onBatch, expected, count);
        }
        cut = comma;
      }
      let values: unknown[] | undefined;
      try {
        values = JSON.parse(`[${this.buf.toString('latin1', start, cut)}]`);
      } catch {
        values = undefined;
      }
      if (!values || values.length === 0 || !allNumbers(values)) return this.preciseNumbers(onBatch, expected, count);
      try {
        onBatch(values as number[], count);
      } catch (err) {
        if (err instanceof ElementError) this.elementFail(start, err);
        throw err;
      }
      count += values.length;
      this.pos = cut + 1;
      if (final) {
        this.tok = cut;
        this.first.pop();
        return count;
      }
    }
  }

  private elementFail(sliceStart: number, err: ElementError): never {
    let p = sliceStart;
    for (let k = 0; k < err.index; k++) p = this.buf.indexOf(0x2c, p) + 1;
    while (WS[this.buf[p]]) p++;
    let q = p;
    while (q < this.end_ && NUMCH[this.buf[q]]) q++;
    const lexeme = this.buf.toString('latin1', p, q);
    this.failAt(p, err.what.replace('$lexeme', lexeme), err.expected, err.poem, err.mismatch);
  }

  /** Element by element with exact positions: used when the fast path cannot parse a slice. */
  private preciseNumbers(onBatch: NumberBatch, expected: string, count: number): number {
    const one = [0];
    for (;;) {
      const b = this.ws();
      if (!(b === 0x2d || (b >= 0x30 && b <= 0x39))) this.unexpected(expected);
      const at = this.pos;
      one[0] = this.readNumber(expected);
      try {
        onBatch(one, count);
      } catch (err) {
        if (err instanceof ElementError) {
          this.elementFail(at, new ElementError(0, err.what, err.expected, err.poem, err.mismatch));
        }
        throw err;
      }
      count++;
      const c = this.ws();
      if (c === 0x5d) {
        this.pos++;
        this.first.pop();
        return count;
      }
      if (c !== 0x2c) this.unexpected(`',' or ']'`);
      this.pos++;
    }
  }

  // ---- flat numeric arrays straight from the bytes

  /**
   * Right after beginArray of a flat array of numbers: buffers it up to its closing bracket (the first ']',
   * since numbers hold none) and returns that bracket's index, or -1 (over MAX_ELEMENT, or end of file).
   */
  private bufferFlatArray(): number {
    for (;;) {
      const close = this.buf.indexOf(0x5d, this.pos);
      if (close !== -1 && close < this.end_) return close;
      if (this.end_ - this.tok > MAX_ELEMENT || !this.fill()) return -1;
    }
  }

  /** Consumes the array whose closing bracket is buf[close] (the fast paths' end). */
  private endFlatArray(close: number): void {
    this.pos = close + 1;
    this.tok = close;
    this.first.pop();
  }

  readIdRows(dense: Int32Array, base: number, out: Int32Array, at: number, firstRow: number): number {
    const close = this.bufferFlatArray();
    if (close < 0) return -1;
    if (((close - this.pos) >> 1) + 1 > out.length - at) return -2;
    const buf = this.buf;
    const dlen = dense.length;
    let i = this.pos;
    let w = at;
    let c = buf[i];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
    if (c !== 0x5d) {
      for (;;) {
        if (c < 0x30 || c > 0x39) return -1;
        const s = i;
        let v = c - 0x30;
        c = buf[++i];
        if (v === 0) {
          if (c >= 0x30 && c <= 0x39) return -1;
        } else {
          while (c >= 0x30 && c <= 0x39) {
            v = v * 10 + (c - 0x30);
            c = buf[++i];
          }
          if (i - s > 10) return -1;
        }
        const k = v - base;
        const r = k >= 0 && k < dlen ? dense[k] : -1;
        if (r < 0) return -1;
        out[w++] = r;
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
        if (c === 0x2c) {
          c = buf[++i];
          while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
          continue;
        }
        if (c === 0x5d) break;
        return -1;
      }
      if (firstRow >= 0 && out[at] !== firstRow) return -1;
    }
    this.endFlatArray(i);
    return w - at;
  }

  readFloats(out: Float32Array, at: number, max: number): number {
    const close = this.bufferFlatArray();
    if (close < 0) return -1;
    const n = (floatParser ??= loadNative()?.parseFloats ?? parseFloats)(this.buf, this.pos, close, out, at, max);
    if (n < 0) return -1;
    this.endFlatArray(close);
    return n;
  }
}

function allNumbers(values: unknown[]): boolean {
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'number') return false;
  return true;
}
