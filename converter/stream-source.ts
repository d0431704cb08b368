// StreamJsonSource: the same pull interface as ByteSource over stream-json's token stream (the parser
// of record; selectable with parser: 'stream-json'). Bytes are read in chunks, decoded with a streaming
// TextDecoder (which drops a leading UTF-8 BOM) and fed to stream-json's core tokenizer with packed values.
// Token positions are not known on this path: its errors name the file, what and what was expected.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { jsonParser } from 'stream-json/core/parser.js';
import { ConvertError, ElementError } from './errors.ts';
import { setKey, type JsonSource, type Kind, type NumberBatch } from './json-source.ts';

interface Token {
  name: string;
  value?: unknown;
}

const MANY = Symbol.for('object-stream.many');
const NONE = Symbol.for('object-stream.none');
const BATCH = 65536;
/** stream-json turns every chunk into an array of token objects at once: keep chunks small to bound memory. */
const STREAM_CHUNK = 64 << 10;

export class StreamJsonSource implements JsonSource {
  readonly file: string;
  readonly totalBytes: number;
  crc = 0;
  private fd: number;
  private readonly chunk: number;
  private readonly buf: Buffer;
  private fileOffset = 0;
  private done = false;
  private tokens: Token[] = [];
  private i = 0;
  private readonly decoder = new TextDecoder('utf-8');
  private readonly parse = jsonParser({ packValues: true, streamValues: false }) as unknown as (
    chunk: unknown,
  ) => unknown;

  constructor(file: string, options: { chunkSize?: number } = {}) {
    this.file = file;
    this.chunk = Math.max(16, Math.min(options.chunkSize ?? STREAM_CHUNK, STREAM_CHUNK));
    this.fd = openSync(file, 'r');
    this.totalBytes = fstatSync(this.fd).size;
    this.buf = Buffer.allocUnsafeSlow(this.chunk);
    if (this.totalBytes === 0) {
      this.close();
      throw new ConvertError(file, 'the file is empty', 'a JSON object', { line: 1, column: 1, offset: 0 });
    }
  }

  get bytesRead(): number {
    return this.fileOffset;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private feed(text: string | symbol): void {
    let out: unknown;
    try {
      out = this.parse(text);
    } catch (err) {
      throw new ConvertError(this.file, `invalid JSON (stream-json: ${(err as Error).message})`, 'well-formed JSON');
    }
    if (out === NONE || out === undefined) return;
    const toks = (out as Record<symbol, unknown>)[MANY] === 1 ? (out as { values: Token[] }).values : [out as Token];
    if (this.i >= this.tokens.length) {
      this.tokens = toks.slice();
      this.i = 0;
    } else {
      this.tokens = this.tokens.slice(this.i).concat(toks);
      this.i = 0;
    }
  }

  private peekToken(): Token | undefined {
    while (this.i >= this.tokens.length) {
      if (this.done) return undefined;
      const n = readSync(this.fd, this.buf, 0, this.chunk, this.fileOffset);
      if (n === 0) {
        this.done = true;
        const rest = this.decoder.decode();
        if (rest) this.feed(rest);
        this.feed(NONE);
        continue;
      }
      this.crc = crc32(this.buf.subarray(0, n), this.crc);
      this.fileOffset += n;
      const text = this.decoder.decode(this.buf.subarray(0, n), { stream: true });
      if (text) this.feed(text);
    }
    return this.tokens[this.i];
  }

  private next(): Token | undefined {
    const t = this.peekToken();
    if (t) this.i++;
    return t;
  }

  fail(what: string, expected?: string, poem?: number | string, mismatch = false): never {
    const err = new ConvertError(this.file, what, expected, {}, poem);
    err.mismatch = mismatch;
    throw err;
  }

  offset(): undefined {
    return undefined;
  }

  private unexpected(t: Token | undefined, expected: string): never {
    return this.fail(`unexpected ${describe(t)}`, expected);
  }

  peek(): Kind {
    const t = this.peekToken();
    if (!t) return 'eof';
    switch (t.name) {
      case 'startObject':
        return 'object';
      case 'startArray':
        return 'array';
      case 'stringValue':
        return 'string';
      case 'numberValue':
        return 'number';
      case 'trueValue':
      case 'falseValue':
      case 'nullValue':
        return 'literal';
      case 'endObject':
      case 'endArray':
        return 'close';
      default:
        return 'other';
    }
  }

  beginObject(expected: string): void {
    const t = this.next();
    if (t?.name !== 'startObject') this.unexpected(t, expected);
  }

  nextKey(): string | null {
    const t = this.next();
    if (t?.name === 'endObject') return null;
    if (t?.name !== 'keyValue') this.unexpected(t, 'a string key');
    return t.value as string;
  }

  beginArray(expected: string): void {
    const t = this.next();
    if (t?.name !== 'startArray') this.unexpected(t, expected);
  }

  nextItem(): boolean {
    const t = this.peekToken();
    if (t?.name === 'endArray') {
      this.i++;
      return false;
    }
    if (!t) this.unexpected(t, `',' or ']'`);
    return true;
  }

  readString(expected: string): string {
    const t = this.next();
    if (t?.name !== 'stringValue') this.unexpected(t, expected);
    return t.value as string;
  }

  readNumber(expected: string): number {
    const t = this.next();
    if (t?.name !== 'numberValue') this.unexpected(t, expected);
    return Number(t.value as string);
  }

  readValue(): unknown {
    const t = this.next();
    switch (t?.name) {
      case 'startObject': {
        const o: Record<string, unknown> = {};
        for (let k = this.nextKey(); k !== null; k = this.nextKey()) setKey(o, k, this.readValue());
        return o;
      }
      case 'startArray': {
        const a: unknown[] = [];
        while (this.nextItem()) a.push(this.readValue());
        return a;
      }
      case 'stringValue':
        return t.value;
      case 'numberValue':
        return Number(t.value as string);
      case 'trueValue':
        return true;
      case 'falseValue':
        return false;
      case 'nullValue':
        return null;
      default:
        return this.unexpected(t, 'a JSON value');
    }
  }

  skipValue(): void {
    this.readValue();
  }

  readNumbers(onBatch: NumberBatch, expected: string): number {
    let count = 0;
    let batch: number[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      try {
        onBatch(batch, count);
      } catch (err) {
        if (err instanceof ElementError) {
          const lexeme = String(batch[err.index]);
          this.fail(err.what.replace('$lexeme', lexeme), err.expected, err.poem, err.mismatch);
        }
        throw err;
      }
      count += batch.length;
      batch = [];
    };
    for (;;) {
      const t = this.next();
      if (t?.name === 'numberValue') {
        batch.push(Number(t.value as string));
        if (batch.length >= BATCH) flush();
      } else if (t?.name === 'endArray') {
        flush();
        return count;
      } else {
        flush();
        this.unexpected(t, expected);
      }
    }
  }

  end(): void {
    const t = this.peekToken();
    if (t) this.unexpected(t, 'end of file after the top-level value');
    this.close();
  }
}

function describe(t: Token | undefined): string {
  if (!t) return 'end of file';
  switch (t.name) {
    case 'startObject':
      return `'{'`;
    case 'endObject':
      return `'}'`;
    case 'startArray':
      return `'['`;
    case 'endArray':
      return `']'`;
    case 'stringValue':
      return 'string';
    case 'keyValue':
      return 'a key';
    case 'numberValue':
      return `'${t.value}'`;
    case 'trueValue':
      return `'true'`;
    case 'falseValue':
      return `'false'`;
    case 'nullValue':
      return `'null'`;
    default:
      return t.name;
  }
}
