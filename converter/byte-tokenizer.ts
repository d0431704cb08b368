// ByteTokenizer: JSON read straight from the file's bytes, a chunk at a time, with exact error positions. The
// buffer keeps every byte from the current token on, so a token never straddles a refill; lines are counted
// as bytes leave the buffer and columns only on error. Memory is bounded by the chunk size (plus the longest
// string). ByteNumbers (byte-numbers.ts) and ByteSource (source.ts) add the fast paths on top.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { ConvertError } from './errors.ts';
import { setKey, type Kind } from './json-source.ts';

export const WS = new Uint8Array(256);
WS[0x20] = WS[0x09] = WS[0x0a] = WS[0x0d] = 1;
export const NUMCH = new Uint8Array(256);
for (const c of '0123456789+-.eE') NUMCH[c.charCodeAt(0)] = 1;
const WORDCH = new Uint8Array(256);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._') WORDCH[c.charCodeAt(0)] = 1;
const NUMBER_RE = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

export const DEFAULT_CHUNK = 2 << 20;

export class ByteTokenizer {
  readonly file: string;
  readonly totalBytes: number;
  crc = 0;
  private fd: number;
  protected buf: Buffer;
  private readonly chunk: number;
  protected pos = 0;
  protected end_ = 0;
  protected tok = 0; // start of the last token, kept in the buffer across refills
  private base = 0; // file offset of buf[0]
  private fileOffset = 0;
  private eof = false;
  private lines = 0; // newlines before buf[0]
  private lineStart = 0; // file offset of the line holding buf[0] (columns are counted from here only on error)
  protected readonly first: boolean[] = []; // per open container: no element read yet
  /** Counts refills: buffer positions remembered across one are stale. */
  protected refills = 0;

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
  protected fill(): boolean {
    if (this.eof) return false;
    const keep = Math.min(this.tok, this.pos);
    this.refills++;
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
    const before =
      lineStart === -1
        ? this.charsBefore() + chars(this.buf, Math.max(0, this.lineStart - this.base), p)
        : chars(this.buf, lineStart + 1, p);
    return { line, column: before + 1, offset: this.base + p };
  }

  /** Characters from the start of the line holding buf[0] up to buf[0], read back from the file. */
  private charsBefore(): number {
    const from = Math.min(this.lineStart, this.base);
    if (from >= this.base) return 0;
    const fd = this.fd >= 0 ? this.fd : openSync(this.file, 'r');
    const tmp = Buffer.allocUnsafe(Math.min(1 << 20, this.base - from));
    let n = 0;
    try {
      for (let at = from; at < this.base; ) {
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

  protected failAt(p: number, what: string, expected?: string, poem?: number | string, mismatch = false): never {
    this.tok = p;
    this.fail(what, expected, poem, mismatch);
  }

  /** Skips whitespace; returns the next byte (or -1 at end of file) and marks it as the token start. */
  protected ws(): number {
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
  protected unexpected(expected: string): never {
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
      if (b < 0x20) {
        this.failAt(k, `unescaped control character 0x${b.toString(16).padStart(2, '0')} in a string`, 'a JSON string');
      }
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
    if (!NUMBER_RE.test(text) || (q < this.end_ && WORDCH[this.buf[q]])) {
      this.fail(`unexpected ${this.describe()}`, expected);
    }
    this.pos = q;
    return Number(text);
  }

  private literal(): true | false | null {
    const b = this.ws();
    this.want(5);
    const p = this.pos;
    const word = b === 0x74 ? 'true' : b === 0x66 ? 'false' : 'null';
    const after = p + word.length;
    if (this.buf.toString('latin1', p, after) !== word || (after < this.end_ && WORDCH[this.buf[after]])) {
      this.unexpected('a JSON value');
    }
    this.pos = after;
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

  /** Skips whitespace from p; the position of the next byte, or end_ when the buffer ends first. */
  protected skipWs(p: number): number {
    const buf = this.buf;
    const e = this.end_;
    while (p < e && WS[buf[p]]) p++;
    return p;
  }

  end(): void {
    if (this.ws() !== -1) this.unexpected('end of file after the top-level value');
    this.close();
  }
}

/** UTF-8 characters in buf[from, to): bytes that are not continuation bytes. */
function chars(buf: Buffer, from: number, to: number): number {
  if (to <= from) return 0;
  if (isAscii(buf.subarray(from, to))) return to - from;
  let n = 0;
  for (let i = from; i < to; i++) if ((buf[i] & 0xc0) !== 0x80) n++;
  return n;
}
