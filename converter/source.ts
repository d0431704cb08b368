// ByteSource, the default JsonSource: the byte tokenizer with its numeric fast paths (byte-numbers.ts), plus the
// fast path for arrays of objects or arrays: batches of whole elements read by one JSON.parse, their ends found
// by a structural scan (batch-scan.ts). A batch that does not parse is re-read the precise way, which reports
// the exact line:column.
import { isAscii } from 'node:buffer';
import { BracketScan, countKeys } from './batch-scan.ts';
import { ByteNumbers, MAX_ELEMENT } from './byte-numbers.ts';
import type { Batch, JsonSource } from './json-source.ts';

export class ByteSource extends ByteNumbers implements JsonSource {
  private readonly brackets = new BracketScan();
  // the last batch: where it started, and the container's first flag before it
  private batchAt = 0;
  private batchFirst = false;

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
