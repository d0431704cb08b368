// JsonSource: the pull interface the input readers use, and ByteSource, the fast hand-written byte scanner.
// Long numeric arrays take fast paths: id lists are read straight from the bytes (readIdRows), embeddings'
// floats too (readFloats: the addon's parseFloats, or its JS twin, each exactly JSON.parse's value), other
// numbers in slices cut at commas by JSON.parse('[' + slice + ']'). Anything unusual is re-read the precise
// way, which reports the exact line:column. Memory is bounded by the chunk size (plus the longest string).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { loadNative } from '../native/index.ts';
import { ConvertError, ElementError } from './errors.ts';

export type Kind = 'object' | 'array' | 'string' | 'number' | 'literal' | 'close' | 'eof' | 'other';

/** A consumer of numbers: may throw ElementError(index within `values`) to report one element. */
export type NumberBatch = (values: ArrayLike<number>, first: number) => void;

export interface Batch {
  values: unknown[] | null;
  count: number;
  keys: number;
}

export interface JsonSource {
  readonly file: string;
  readonly totalBytes: number;
  /** Bytes of the file consumed so far (for progress). */
  readonly bytesRead: number;
  /** CRC-32 of every byte read (complete once end() returned). */
  readonly crc: number;
  peek(): Kind;
  beginObject(expected: string): void;
  /** Next key of the innermost object, or null when it closed. */
  nextKey(): string | null;
  beginArray(expected: string): void;
  /** True when the innermost array has another element, false when it closed. */
  nextItem(): boolean;
  readString(expected: string): string;
  readNumber(expected: string): number;
  readValue(): unknown;
  skipValue(): void;
  /** Right after beginArray: reads numbers up to and including the closing bracket; returns their count. */
  readNumbers(onBatch: NumberBatch, expected: string): number;
  /**
   * Optional fast path inside an array whose elements are objects or arrays: the next complete elements (about
   * `limit` bytes) parsed by one JSON.parse, or null when the next element must be read the precise way (end of
   * the array, a scalar or oversized element, end of file). `values` is null when the batch does not parse:
   * read its `count` elements the precise way (they report the exact error). `keys` counts the object keys
   * in the batch's text at every depth: fewer keys in the values means duplicate keys (read it the precise way).
   */
  nextBatch?(limit: number): Batch | null;
  /** After nextBatch: back to before the last batch (nothing read since); read its elements the precise way. */
  rewindBatch?(): void;
  /**
   * Optional fast path right after beginArray: a flat array of plain integers read straight from the bytes,
   * each mapped through `dense` (value - base -> row, -1 = none) into out[at...]; consumes the array and
   * returns the count. Returns -1 with nothing consumed when anything is unusual (the precise way reports it),
   * or when the first row is not `firstRow` (>= 0); -2 when out may lack room from `at`.
   */
  readIdRows?(dense: Int32Array, base: number, out: Int32Array, at: number, firstRow: number): number;
  /**
   * Optional fast path right after beginArray: a flat array of at most `max` JSON numbers read straight from
   * the bytes into out[at...], each the float32 of the double JSON.parse would give; consumes the array and
   * returns the count. Returns -1 with nothing consumed when anything is unusual (not a plain number, more than
   * `max` values, a value outside the float32 range): the precise way reports it.
   */
  readFloats?(out: Float32Array, at: number, max: number): number;
  /** Only whitespace may follow the top-level value. */
  end(): void;
  /** Throws a ConvertError at the start of the last token read or peeked. */
  fail(what: string, expected?: string, poem?: number | string, mismatch?: boolean): never;
  /** File offset of the start of the last token read or peeked (undefined where positions are not known). */
  offset(): number | undefined;
  close(): void;
}

const WS = new Uint8Array(256);
WS[0x20] = WS[0x09] = WS[0x0a] = WS[0x0d] = 1;
const NUMCH = new Uint8Array(256);
for (const c of '0123456789+-.eE') NUMCH[c.charCodeAt(0)] = 1;
const WORDCH = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._') WORDCH[c.charCodeAt(0)] = 1;
/** Bytes the batch fast paths give up on for one element (the precise path reads it with bounded memory). */
const MAX_ELEMENT = 16 << 20;
const NUMBER_RE = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export const DEFAULT_CHUNK = 2 << 20;
/** The largest finite float32: inputs beyond it are refused (it would become Infinity in the cache). */
export const FLT_MAX = 3.4028234663852886e38;
/** Smallest normal float32: below it float32 rounding is not at a fixed bit of the double. */
const FLT_MIN_NORMAL = 1.1754943508222875e-38;
/** Powers of ten exactly representable as doubles. */
const POW10 = new Float64Array(23).map((_, k) => Number(`1e${k}`));
// The bits of a double, for readFloats' rounding check.
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
/** Index in U32 of the double's low word (the platform's byte order). */
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
/** Bytes of numeric text handed to one JSON.parse call. */
const SLICE = 1 << 20;

export class ByteSource implements JsonSource {
  readonly file: string;
  readonly totalBytes: number;
  crc = 0;
  private fd: number;
  private buf: Buffer;
  private readonly chunk: number;
  private pos = 0;
  private end_ = 0;
  private tok = 0; // start of the last token, kept in the buffer across refills
  private base = 0; // file offset of buf[0]
  private fileOffset = 0;
  private eof = false;
  private lines = 0; // newlines before buf[0]
  private lineStart = 0; // file offset of the line holding buf[0] (columns are counted from here only on error)
  private readonly first: boolean[] = []; // per open container: no element read yet
  // next '"', '{', '}', '[', ']' at or after the scan position (end_ when none buffered; < position: unknown)
  private nq = -1;
  private nob = -1;
  private ncb = -1;
  private nos = -1;
  private ncs = -1;
  /** Keys (strings followed by ':') seen by the last matchClose. */
  private keysSeen = 0;
  // the last batch: where it started, and the container's first flag before it
  private batchAt = 0;
  private batchFirst = false;

  constructor(file: string, options: { chunkSize?: number } = {}) {
    this.file = file;
    this.chunk = Math.max(16, options.chunkSize ?? DEFAULT_CHUNK);
    this.fd = openSync(file, 'r');
    this.totalBytes = fstatSync(this.fd).size;
    this.buf = Buffer.allocUnsafeSlow(this.chunk * 2);
    if (this.totalBytes === 0) {
      this.close();
      throw new ConvertError(file, 'the file is empty', 'a JSON object', { line: 1, column: 1, offset: 0 });
    }
    this.fill();
    if (this.end_ >= 3 && this.buf[0] === 0xef && this.buf[1] === 0xbb && this.buf[2] === 0xbf) {
      this.pos = this.tok = 3; // a UTF-8 byte-order mark is accepted and skipped
      this.lineStart = 3; // the mark is not a character of line 1
    }
  }

  get bytesRead(): number {
    return this.base + this.pos;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** Reads the next chunk, keeping the bytes from the current token on. Returns false at end of file. */
  private fill(): boolean {
    if (this.eof) return false;
    const keep = Math.min(this.tok, this.pos);
    this.nq = this.nob = this.ncb = this.nos = this.ncs = -1;
    if (keep > 0) {
      this.account(0, keep);
      this.buf.copy(this.buf, 0, keep, this.end_);
      this.end_ -= keep;
      this.pos -= keep;
      this.tok -= keep;
      this.base += keep;
    }
    if (this.end_ + this.chunk > this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.end_ + this.chunk));
      this.buf.copy(bigger, 0, 0, this.end_);
      this.buf = bigger;
    }
    const n = readSync(this.fd, this.buf, this.end_, this.chunk, this.fileOffset);
    if (n === 0) {
      this.eof = true;
      return false;
    }
    this.crc = crc32(this.buf.subarray(this.end_, this.end_ + n), this.crc);
    this.fileOffset += n;
    this.end_ += n;
    return true;
  }

  /** Counts the lines of bytes about to leave the buffer (newlines only: columns are computed on error). */
  private account(from: number, to: number): void {
    let nl = this.buf.indexOf(10, from);
    while (nl !== -1 && nl < to) {
      this.lines++;
      this.lineStart = this.base + nl + 1;
      nl = this.buf.indexOf(10, nl + 1);
    }
  }

  /** line:column (1-based, columns in characters) and file offset of a buffer position. */
  private where(p: number): { line: number; column: number; offset: number } {
    let line = this.lines + 1;
    let lineStart = -1;
    let nl = this.buf.indexOf(10, 0);
    while (nl !== -1 && nl < p) {
      line++;
      lineStart = nl;
      nl = this.buf.indexOf(10, nl + 1);
    }
    const column = (lineStart === -1 ? this.charsBefore() + chars(this.buf, Math.max(0, this.lineStart - this.base), p) : chars(this.buf, lineStart + 1, p)) + 1;
    return { line, column, offset: this.base + p };
  }

  /** Characters from the start of the line holding buf[0] up to buf[0], read back from the file. */
  private charsBefore(): number {
    const from = Math.min(this.lineStart, this.base);
    if (from >= this.base) return 0;
    const fd = this.fd >= 0 ? this.fd : openSync(this.file, 'r');
    const tmp = Buffer.allocUnsafe(Math.min(1 << 20, this.base - from));
    let n = 0;
    try {
      for (let at = from; at < this.base;) {
        const got = readSync(fd, tmp, 0, Math.min(tmp.length, this.base - at), at);
        if (got <= 0) break;
        n += chars(tmp, 0, got);
        at += got;
      }
    } finally {
      if (fd !== this.fd) closeSync(fd);
    }
    return n;
  }

  fail(what: string, expected?: string, poem?: number | string, mismatch = false): never {
    const err = new ConvertError(this.file, what, expected, this.where(this.tok), poem);
    err.mismatch = mismatch;
    throw err;
  }

  offset(): number {
    return this.base + this.tok;
  }

  private failAt(p: number, what: string, expected?: string, poem?: number | string, mismatch = false): never {
    this.tok = p;
    this.fail(what, expected, poem, mismatch);
  }

  /** Skips whitespace; returns the next byte (or -1 at end of file) and marks it as the token start. */
  private ws(): number {
    for (;;) {
      const buf = this.buf;
      let p = this.pos;
      const e = this.end_;
      while (p < e && WS[buf[p]]) p++;
      this.pos = this.tok = p;
      if (p < e) return buf[p];
      if (!this.fill()) return -1;
    }
  }

  /** Makes sure n bytes from pos are buffered when the file has them. */
  private want(n: number): void {
    while (this.end_ - this.pos < n && this.fill());
  }

  /** A readable description of what starts at the current token (fills the buffer as needed). */
  private describe(): string {
    while (this.end_ - this.tok < 24 && this.fill());
    const p = this.tok;
    if (p >= this.end_) return 'end of file';
    const b = this.buf[p];
    if (b === 0x22) return 'string';
    if (WORDCH[b]) {
      let q = p;
      while (q < this.end_ && q - p < 20 && WORDCH[this.buf[q]]) q++;
      return `'${this.buf.toString('latin1', p, q)}'`;
    }
    if (b < 0x20) return `control character 0x${b.toString(16).padStart(2, '0')}`;
    if (b >= 0x80) {
      const s = this.buf.toString('utf8', p, Math.min(this.end_, p + 4));
      const c = s.codePointAt(0)!;
      if (c === 0xfffd) return `byte 0x${b.toString(16)} (the file must be UTF-8)`;
      return `'${String.fromCodePoint(c)}'`;
    }
    return `'${String.fromCharCode(b)}'`;
  }

  /** Fails at the current position with "unexpected <what is there>". */
  private unexpected(expected: string): never {
    this.tok = this.pos;
    return this.fail(`unexpected ${this.describe()}`, expected);
  }

  peek(): Kind {
    const b = this.ws();
    if (b === -1) return 'eof';
    if (b === 0x7b) return 'object';
    if (b === 0x5b) return 'array';
    if (b === 0x22) return 'string';
    if (b === 0x2d || (b >= 0x30 && b <= 0x39)) return 'number';
    if (b === 0x74 || b === 0x66 || b === 0x6e) return 'literal';
    if (b === 0x7d || b === 0x5d) return 'close';
    return 'other';
  }

  beginObject(expected: string): void {
    if (this.ws() !== 0x7b) this.unexpected(expected);
    this.pos++;
    this.first.push(true);
  }

  beginArray(expected: string): void {
    if (this.ws() !== 0x5b) this.unexpected(expected);
    this.pos++;
    this.first.push(true);
  }

  nextKey(): string | null {
    let b = this.ws();
    const top = this.first.length - 1;
    if (b === 0x7d) {
      this.pos++;
      this.first.pop();
      return null;
    }
    const wasFirst = this.first[top];
    if (!wasFirst) {
      if (b !== 0x2c) this.unexpected(`',' or '}'`);
      this.pos++;
      b = this.ws();
    } else this.first[top] = false;
    if (b !== 0x22) this.unexpected(wasFirst ? `a string key or '}'` : 'a string key');
    const key = this.readString('a string key');
    // to the ':' with tok left on the key, so a refill keeps the key in the buffer (its position is the token's)
    let p = this.pos;
    for (;;) {
      while (p < this.end_ && WS[this.buf[p]]) p++;
      if (p < this.end_) break;
      this.pos = p;
      const more = this.fill();
      p = this.pos;
      if (!more) break;
    }
    if (p >= this.end_ || this.buf[p] !== 0x3a) {
      this.pos = this.tok = p;
      this.unexpected(`':'`);
    }
    this.pos = p + 1;
    return key;
  }

  nextItem(): boolean {
    const b = this.ws();
    const top = this.first.length - 1;
    if (b === 0x5d) {
      this.pos++;
      this.first.pop();
      return false;
    }
    if (!this.first[top]) {
      if (b !== 0x2c) this.unexpected(`',' or ']'`);
      this.pos++;
      this.ws();
    } else this.first[top] = false;
    return true;
  }

  readString(expected: string): string {
    if (this.ws() !== 0x22) this.unexpected(expected);
    const start = this.pos;
    let from = start + 1;
    for (;;) {
      const q = this.buf.indexOf(0x22, from);
      if (q === -1 || q >= this.end_) {
        const consumed = this.end_ - this.tok;
        if (!this.fill()) this.failAt(this.tok, 'unterminated string', `'"' before the end of file`);
        from = this.tok + consumed;
        continue;
      }
      let bs = 0;
      for (let k = q - 1; k > this.tok && this.buf[k] === 0x5c; k--) bs++;
      if (bs % 2 === 1) {
        from = q + 1;
        continue;
      }
      const s0 = this.tok;
      let value: string;
      try {
        value = JSON.parse(this.buf.toString('utf8', s0, q + 1));
      } catch {
        this.badString(s0, q);
      }
      this.pos = q + 1;
      this.tok = s0;
      return value;
    }
  }

  private badString(s0: number, q: number): never {
    for (let k = s0 + 1; k < q; k++) {
      const b = this.buf[k];
      if (b < 0x20) this.failAt(k, `unescaped control character 0x${b.toString(16).padStart(2, '0')} in a string`, 'a JSON string');
      if (b === 0x5c) {
        const c = this.buf[k + 1];
        if (c === 0x75) {
          const hex = this.buf.toString('latin1', k + 2, Math.min(q, k + 6));
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.failAt(k, `invalid escape '\\u${hex}'`, 'four hex digits after \\u');
          k += 5;
        } else if ('"\\/bfnrt'.includes(String.fromCharCode(c))) k++;
        else this.failAt(k, `invalid escape '\\${String.fromCharCode(c)}'`, 'a JSON string escape');
      }
    }
    this.failAt(s0, 'invalid string', 'a JSON string');
  }

  readNumber(expected: string): number {
    const b = this.ws();
    if (!(b === 0x2d || (b >= 0x30 && b <= 0x39))) this.unexpected(expected);
    const start = this.pos;
    let q = start;
    for (;;) {
      while (q < this.end_ && NUMCH[this.buf[q]]) q++;
      if (q < this.end_) break;
      const off = q - this.tok;
      if (!this.fill()) {
        q = this.end_;
        break;
      }
      q = this.tok + off;
    }
    const s0 = this.tok;
    const text = this.buf.toString('latin1', s0, q);
    if (!NUMBER_RE.test(text) || (q < this.end_ && WORDCH[this.buf[q]])) this.fail(`unexpected ${this.describe()}`, expected);
    this.pos = q;
    return Number(text);
  }

  private literal(): true | false | null {
    const b = this.ws();
    this.want(5);
    const p = this.pos;
    const word = b === 0x74 ? 'true' : b === 0x66 ? 'false' : 'null';
    if (this.buf.toString('latin1', p, p + word.length) !== word || (p + word.length < this.end_ && WORDCH[this.buf[p + word.length]])) {
      this.unexpected('a JSON value');
    }
    this.pos = p + word.length;
    return b === 0x74 ? true : b === 0x66 ? false : null;
  }

  readValue(): unknown {
    switch (this.peek()) {
      case 'object': {
        this.beginObject('an object');
        const o: Record<string, unknown> = {};
        for (let k = this.nextKey(); k !== null; k = this.nextKey()) setKey(o, k, this.readValue());
        return o;
      }
      case 'array': {
        this.beginArray('an array');
        const a: unknown[] = [];
        while (this.nextItem()) a.push(this.readValue());
        return a;
      }
      case 'string':
        return this.readString('a string');
      case 'number':
        return this.readNumber('a number');
      case 'literal':
        return this.literal();
      default:
        return this.unexpected('a JSON value');
    }
  }

  skipValue(): void {
    switch (this.peek()) {
      case 'object':
        this.beginObject('an object');
        while (this.nextKey() !== null) this.skipValue();
        return;
      case 'array':
        this.beginArray('an array');
        while (this.nextItem()) this.skipValue();
        return;
      case 'string':
        this.readString('a string');
        return;
      case 'number':
        this.readNumber('a number');
        return;
      case 'literal':
        this.literal();
        return;
      default:
        this.unexpected('a JSON value');
    }
  }

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
        if (err instanceof ElementError) this.elementFail(at, new ElementError(0, err.what, err.expected, err.poem, err.mismatch));
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

  /**
   * End (exclusive) of the object or array starting at s, or -1 when it is not complete in the buffer. Strings
   * are skipped with indexOf; only the structural bytes between them are looked at. Mismatched brackets are
   * left to JSON.parse. Counts keys into keysSeen.
   */
  private matchClose(s: number): number {
    const buf = this.buf;
    const end = this.end_;
    let depth = 0;
    let keys = 0;
    let p = s;
    let nq = this.nq, nob = this.nob, ncb = this.ncb, nos = this.nos, ncs = this.ncs;
    for (;;) {
      if (nq < p) { nq = buf.indexOf(0x22, p); if (nq < 0 || nq > end) nq = end; }
      if (nob < p) { nob = buf.indexOf(0x7b, p); if (nob < 0 || nob > end) nob = end; }
      if (ncb < p) { ncb = buf.indexOf(0x7d, p); if (ncb < 0 || ncb > end) ncb = end; }
      if (nos < p) { nos = buf.indexOf(0x5b, p); if (nos < 0 || nos > end) nos = end; }
      if (ncs < p) { ncs = buf.indexOf(0x5d, p); if (ncs < 0 || ncs > end) ncs = end; }
      let m = nq;
      if (nob < m) m = nob;
      if (ncb < m) m = ncb;
      if (nos < m) m = nos;
      if (ncs < m) m = ncs;
      if (m >= end) {
        p = -1;
        break;
      }
      if (m === nq) {
        let q = buf.indexOf(0x22, m + 1);
        for (;;) {
          if (q < 0 || q >= end) break;
          let k = q - 1;
          while (buf[k] === 0x5c) k--;
          if (((q - 1 - k) & 1) === 0) break;
          q = buf.indexOf(0x22, q + 1);
        }
        if (q < 0 || q >= end) {
          p = -1;
          break;
        }
        p = q + 1;
        let c = buf[p];
        let r = p;
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++r];
        if (c === 0x3a && r < end) keys++;
        continue;
      }
      p = m + 1;
      if (m === nob || m === nos) depth++;
      else if (--depth === 0) break;
    }
    this.nq = nq; this.nob = nob; this.ncb = ncb; this.nos = nos; this.ncs = ncs;
    this.keysSeen = keys;
    return p;
  }

  /** Skips whitespace from p; the position of the next byte, or end_ when the buffer ends first. */
  private skipWs(p: number): number {
    const buf = this.buf;
    const e = this.end_;
    while (p < e && WS[buf[p]]) p++;
    return p;
  }

  /** Refills during a batch scan anchored at this.tok; `shift` moves the scan's positions along. False at end of file. */
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
      let e = this.matchClose(s);
      while (e === -1 && this.end_ - anchor < MAX_ELEMENT + limit) {
        const before = this.tok;
        const more = this.refillShift(shiftAll);
        s -= before - this.tok;
        if (!more) break;
        e = this.matchClose(s);
      }
      if (e === -1 || e - s > MAX_ELEMENT) break;
      if (seps.length === 0) a = s;
      seps.push(seps.length === 0 ? anchor : p - 1);
      keys += this.keysSeen;
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
      values = JSON.parse(`[${this.buf.toString(isAscii(this.buf.subarray(a, z)) ? 'latin1' : 'utf8', a, z)}]`) as unknown[];
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

  rewindBatch(): void {
    this.pos = this.tok = this.batchAt;
    this.first[this.first.length - 1] = this.batchFirst;
  }

  end(): void {
    if (this.ws() !== -1) this.unexpected('end of file after the top-level value');
    this.close();
  }
}

/** The native parseFloats when the addon is there (about 3x faster), else the JS one below. */
let floatParser: typeof parseFloats | undefined;

/**
 * The JS twin of the addon's parseFloats: bytes[from, to), the inside of a JSON array of numbers whose closing
 * bracket is bytes[to], into out[at, at + max) as float32, each the float32 of the double JSON.parse gives.
 * Returns the count, or -1 when anything is unusual (the caller reads the array the precise way).
 */
export function parseFloats(buf: Buffer, from: number, to: number, out: Float32Array, at: number, max: number): number {
  if (buf[to] !== 0x5d) throw new RangeError('parseFloats: bytes[to] must be the closing bracket');
  const lim = at + max;
  let i = from;
  let w = at;
  let c = buf[i];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
  if (c !== 0x5d) {
    for (;;) {
      if (w === lim) return -1;
      const s = i;
      const neg = c === 0x2d;
      if (neg) c = buf[++i];
      // value = (hi * 10^nlo + lo) * 10^scale: up to 18 significant digits, 9 in each int32 (small-integer
      // arithmetic keeps this loop about twice as fast as one double accumulator)
      let hi = 0;
      let nhi = 0;
      let lo = 0;
      let nlo = 0;
      let scale = 0;
      let many = false; // more than 18 significant digits
      if (c === 0x30) {
        c = buf[++i];
        if (c >= 0x30 && c <= 0x39) return -1;
      } else if (c >= 0x31 && c <= 0x39) {
        while (c >= 0x30 && c <= 0x39 && nhi < 9) {
          hi = (hi * 10 + (c - 0x30)) | 0;
          nhi++;
          c = buf[++i];
        }
        while (c >= 0x30 && c <= 0x39 && nlo < 9) {
          lo = (lo * 10 + (c - 0x30)) | 0;
          nlo++;
          c = buf[++i];
        }
        while (c >= 0x30 && c <= 0x39) {
          many = true;
          scale++;
          c = buf[++i];
        }
      } else return -1;
      if (c === 0x2e) {
        c = buf[++i];
        if (!(c >= 0x30 && c <= 0x39)) return -1;
        if (nhi === 0) {
          while (c === 0x30) {
            scale--;
            c = buf[++i];
          }
        }
        const f = i;
        while (c >= 0x30 && c <= 0x39 && nhi < 9) {
          hi = (hi * 10 + (c - 0x30)) | 0;
          nhi++;
          c = buf[++i];
        }
        while (c >= 0x30 && c <= 0x39 && nlo < 9) {
          lo = (lo * 10 + (c - 0x30)) | 0;
          nlo++;
          c = buf[++i];
        }
        scale -= i - f;
        while (c >= 0x30 && c <= 0x39) {
          many = true;
          c = buf[++i];
        }
      }
      if (c === 0x65 || c === 0x45) {
        c = buf[++i];
        const eneg = c === 0x2d;
        if (eneg || c === 0x2b) c = buf[++i];
        if (!(c >= 0x30 && c <= 0x39)) return -1;
        let e = 0;
        do {
          if (e < 100000) e = e * 10 + (c - 0x30);
          c = buf[++i];
        } while (c >= 0x30 && c <= 0x39);
        scale += eneg ? -e : e;
      }
      let v: number;
      if (hi === 0) v = neg ? -0 : 0; // hi holds the first significant digit, if any
      else if (many || scale > 22 || scale < -44) v = +buf.toString('latin1', s, i); // Number() of a JSON number = JSON.parse
      else {
        const m = nlo > 0 ? hi * POW10[nlo] + lo : hi;
        v = scale >= 0 ? m * POW10[scale] : scale >= -22 ? m / POW10[-scale] : m / 1e22 / POW10[-scale - 22];
        if (neg) v = -v;
        // At most 15 digits and |scale| <= 22: one rounding of exact operands, so v is the correctly rounded
        // double (Clinger's fast path). Otherwise v is within a few ulps of it, and the float32 of both agree
        // unless v lies near a float32 midpoint (the low 29 bits of the double near 2^28), float32 rounds
        // elsewhere (subnormal) or the range check is at stake: then the exact parse.
        if (nhi + nlo > 15 || scale < -22) {
          F64[0] = v;
          const low = U32[LOW] & 0x1fffffff;
          const a = neg ? -v : v;
          if ((low > 0x0fffff00 && low < 0x10000100) || a < FLT_MIN_NORMAL || a > 3.4e38) v = +buf.toString('latin1', s, i);
        }
      }
      if (!(v <= FLT_MAX && v >= -FLT_MAX)) return -1;
      out[w++] = v;
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
      if (c === 0x2c) {
        c = buf[++i];
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
        continue;
      }
      if (c === 0x5d) break;
      return -1;
    }
  }
  return i === to ? w - at : -1;
}

/**
 * Object keys in a JSON text: colons after an unescaped quote (and whitespace). Never fewer than the real
 * keys; more only when a string starts with ':', which callers treat like duplicate keys (the precise way).
 */
function countKeys(text: string): number {
  let keys = 0;
  for (let q = text.indexOf(':'); q !== -1; q = text.indexOf(':', q + 1)) {
    let k = q - 1;
    let c = text.charCodeAt(k);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(--k);
    if (c !== 0x22) continue;
    let j = k - 1;
    while (text.charCodeAt(j) === 0x5c) j--;
    if (((k - 1 - j) & 1) === 0) keys++;
  }
  return keys;
}

function allNumbers(values: unknown[]): boolean {
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== 'number') return false;
  return true;
}

/** UTF-8 characters in buf[from, to): bytes that are not continuation bytes. */
function chars(buf: Buffer, from: number, to: number): number {
  if (to <= from) return 0;
  if (isAscii(buf.subarray(from, to))) return to - from;
  let n = 0;
  for (let i = from; i < to; i++) if ((buf[i] & 0xc0) !== 0x80) n++;
  return n;
}

/** Sets a key like JSON.parse does (an own "__proto__" property, never the prototype). */
export function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
