// JsonSource: the pull interface the input readers (poems.ts, embeddings.ts, lists.ts) read JSON through.
// Two implementations: ByteSource (source.ts, the byte scanner with fast paths: the default) and
// StreamJsonSource (stream-source.ts, stream-json's tokens: parser 'stream-json').
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

/** Sets a key like JSON.parse does (an own "__proto__" property, never the prototype). */
export function setKey(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  } else o[k] = v;
}
