// ByteSource, the default JsonSource: the byte tokenizer (byte-tokenizer.ts) plus the fast paths that read most
// of the bytes. Long numeric arrays: id lists straight from the bytes (readIdRows), embeddings' floats too
// (readFloats: the addon's parseFloats or its JS twin, parse-numbers.ts), other numbers in slices cut at
// commas and read by JSON.parse('[' + slice + ']') (readNumbers). Arrays of objects or arrays: batches of
// whole elements read by one JSON.parse, their ends found by a structural scan (nextBatch, batch-scan.ts).
// Anything unusual is re-read the precise way, which reports the exact line:column.
import { isAscii } from 'node:buffer';
import { loadNative } from '../native/index.ts';
import { BracketScan, countKeys } from './batch-scan.ts';
import { ByteTokenizer, NUMCH, WS } from './byte-tokenizer.ts';
import { ElementError } from './errors.ts';
import type { Batch, JsonSource, NumberBatch } from './json-source.ts';
import { parseFloats, parseIdRows } from './parse-numbers.ts';

/** Bytes the batch fast paths give up on for one element (the precise path reads it with bounded memory). */
const MAX_ELEMENT = 16 << 20;
/** Bytes of numeric text handed to one JSON.parse call. */
const SLICE = 1 << 20;

/** The native parseFloats when the addon is there (about 3x faster), else the JS one. */
let floatParser: typeof parseFloats | undefined;

export class ByteSource extends ByteTokenizer implements JsonSource {
  private readonly brackets = new BracketScan();
  // the last batch: where it started, and the container's first flag before it
  private batchAt = 0;
  private batchFirst = false;

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
    const n = parseIdRows(this.buf, this.pos, close, dense, base, out, at, firstRow);
    if (n < 0) return -1;
    this.endFlatArray(close);
    return n;
  }

  readFloats(out: Float32Array, at: number, max: number): number {
    const close = this.bufferFlatArray();
    if (close < 0) return -1;
    const n = (floatParser ??= loadNative()?.parseFloats ?? parseFloats)(this.buf, this.pos, close, out, at, max);
    if (n < 0) return -1;
    this.endFlatArray(close);
    return n;
  }

  // ---- batches of whole elements read by one JSON.parse

  /** Refills during a batch scan anchored at this.tok; `shift` moves the scan's positions along. False at eof. */
  private refillShift(shift: (d: number) => void): boolean {
    const before = this.tok;
    const more = this.fill();
    if (before !== this.tok) shift(before - this.tok);
    return more;
  }

  /** nextBatch the careful way: every element delimited by a structural scan (strings skipped with indexOf). */
  private scanBatch(limit: number): Batch | null {
    const top = this.first.length - 1;
    const b = this.ws();
    if (b === 0x5d || b === -1) return null;
    const wasFirst = this.first[top];
    if (!wasFirst && b !== 0x2c) return null;
    let anchor = this.pos; // this.tok too: refills keep everything from here
    let p = this.pos + (wasFirst ? 0 : 1); // just after a separator (or at element 0)
    let a = -1; // start of element 0
    let z = -1; // end of the last element
    const seps: number[] = [];
    let keys = 0;
    const shiftAll = (d: number) => {
      anchor -= d;
      p -= d;
      if (a >= 0) a -= d;
      if (z >= 0) z -= d;
      for (let i = 0; i < seps.length; i++) seps[i] -= d;
    };
    scan: for (;;) {
      let s = this.skipWs(p);
      while (s >= this.end_) {
        if (!this.refillShift(shiftAll)) break scan;
        s = this.skipWs(p);
      }
      const c = this.buf[s];
      if (c !== 0x7b && c !== 0x5b) break;
      let e = this.brackets.matchClose(this.buf, this.end_, s, this.refills);
      while (e === -1 && this.end_ - anchor < MAX_ELEMENT + limit) {
        const before = this.tok;
        const more = this.refillShift(shiftAll);
        s -= before - this.tok;
        if (!more) break;
        e = this.brackets.matchClose(this.buf, this.end_, s, this.refills);
      }
      if (e === -1 || e - s > MAX_ELEMENT) break;
      if (seps.length === 0) a = s;
      seps.push(seps.length === 0 ? anchor : p - 1);
      keys += this.brackets.keys;
      z = e;
      // after the element: ',' continues the batch (when under the limit), anything else ends it
      let n = this.skipWs(z);
      while (n >= this.end_) {
        if (!this.refillShift(shiftAll)) break scan;
        n = this.skipWs(z);
      }
      if (this.buf[n] !== 0x2c || z - a >= limit) break;
      p = n + 1;
    }
    if (seps.length === 0) {
      this.pos = this.tok = anchor;
      return null;
    }
    this.batchAt = anchor;
    this.batchFirst = wasFirst;
    let values: unknown[] | null;
    try {
      const encoding = isAscii(this.buf.subarray(a, z)) ? 'latin1' : 'utf8';
      values = JSON.parse(`[${this.buf.toString(encoding, a, z)}]`) as unknown[];
      if (values.length !== seps.length) values = null;
    } catch {
      values = null;
    }
    if (values === null) {
      this.pos = this.tok = anchor;
      return { values: null, count: seps.length, keys };
    }
    this.pos = this.tok = z;
    this.first[top] = false;
    return { values, count: seps.length, keys };
  }

  nextBatch(limit: number): Batch | null {
    // The cheap way first: cut the window after its last plausible element end (a closing bracket followed by
    // ',' and the next element's opening bracket, or by ']'), and let JSON.parse judge: a cut inside a string
    // or a nested value cannot parse. Anything else goes to the structural scan.
    const top = this.first.length - 1;
    const b = this.ws();
    if (b === 0x5d || b === -1) return null;
    const wasFirst = this.first[top];
    if (!wasFirst && b !== 0x2c) return null;
    while (this.end_ - this.tok < limit + 256 && this.fill());
    const anchor = this.tok;
    const buf = this.buf;
    const end = this.end_;
    const a = this.skipWs(anchor + (wasFirst ? 0 : 1));
    const open = buf[a];
    if (a >= end || (open !== 0x7b && open !== 0x5b)) return this.scanBatch(limit);
    const close = open + 2;
    let cut = buf.lastIndexOf(close, Math.min(end, a + limit) - 1);
    for (let tries = 0; cut > a && tries < 64; tries++) {
      const n = this.skipWs(cut + 1);
      if (n < end && (buf[n] === 0x5d || (buf[n] === 0x2c && buf[this.skipWs(n + 1)] === open))) break;
      cut = buf.lastIndexOf(close, cut - 1);
    }
    if (!(cut > a) || this.skipWs(cut + 1) >= end) return this.scanBatch(limit);
    const text = buf.toString(isAscii(buf.subarray(a, cut + 1)) ? 'latin1' : 'utf8', a, cut + 1);
    let values: unknown[];
    try {
      values = JSON.parse(`[${text}]`) as unknown[];
    } catch {
      return this.scanBatch(limit);
    }
    const keys = countKeys(text);
    this.batchAt = anchor;
    this.batchFirst = wasFirst;
    this.pos = this.tok = cut + 1;
    this.first[top] = false;
    return { values, count: values.length, keys };
  }

  rewindBatch(): void {
    this.pos = this.tok = this.batchAt;
    this.first[this.first.length - 1] = this.batchFirst;
  }
}

function allNumbers(values: unknown[]): boolean {
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'number') return false;
  return true;
}
