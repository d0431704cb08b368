// Spool files: what the input readers produce, appended to temp files beside the output (bounded memory),
// then copied into the cache by CacheWriter. Named `${spoolBase}-<what>`; removed after every conversion
// and, when a converter died, by the next one (converter/cleanup.ts).
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { FieldTag } from '../cache/layout.ts';

export const spoolName = (base: string, what: string): string => `${base}-${what}`;

/** Appends bytes to a temp file through a staging buffer. */
export class Spool {
  readonly path: string;
  private fd: number;
  private readonly stage: Buffer;
  private readonly utf8Write?: (this: Buffer, s: string, offset: number) => number;
  private used = 0;
  bytes = 0;
  constructor(path: string, stageBytes = 4 << 20) {
    this.path = path;
    this.fd = openSync(path, 'wx', 0o600);
    this.stage = Buffer.allocUnsafeSlow(stageBytes);
    const w = (this.stage as unknown as { utf8Write?: unknown }).utf8Write;
    if (typeof w === 'function') this.utf8Write = w as (this: Buffer, s: string, offset: number) => number;
  }
  /** Appends the UTF-8 bytes of a string; returns their count. */
  writeString(s: string): number {
    if (this.used + s.length * 3 > this.stage.length) {
      this.flush();
      if (s.length * 3 > this.stage.length) {
        const b = Buffer.from(s, 'utf8');
        this.writeRaw(b);
        this.bytes += b.length;
        return b.length;
      }
    }
    // Buffer#utf8Write (what Buffer#write calls after checking its arguments) when present: one call per string
    const n = this.utf8Write ? this.utf8Write.call(this.stage, s, this.used) : this.stage.write(s, this.used, 'utf8');
    this.used += n;
    this.bytes += n;
    return n;
  }
  /** Appends one byte. */
  writeByte(b: number): void {
    if (this.used === this.stage.length) this.flush();
    this.stage[this.used++] = b;
    this.bytes++;
  }
  write(src: Uint8Array): void {
    if (this.used + src.byteLength > this.stage.length) this.flush();
    if (src.byteLength > this.stage.length) {
      this.writeRaw(src);
    } else {
      this.stage.set(src, this.used);
      this.used += src.byteLength;
    }
    this.bytes += src.byteLength;
  }
  private writeRaw(b: Uint8Array): void {
    let off = 0;
    while (off < b.byteLength) off += writeSync(this.fd, b, off, b.byteLength - off);
  }
  flush(): void {
    if (this.used) this.writeRaw(this.stage.subarray(0, this.used));
    this.used = 0;
  }
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** A finished strings column: offsets in memory, bytes in a spool file. */
export interface SpooledStrings {
  file: string;
  offsets: Uint32Array;
  bytes: number;
}

/** A strings column (the cache's strings kind): offsets in memory, UTF-8 bytes spooled. */
export class StringColumn {
  readonly spool: Spool;
  private offsets = new Uint32Array(1024);
  count = 0;
  constructor(path: string, stageBytes = 4 << 20) {
    this.spool = new Spool(path, stageBytes);
  }
  push(s: string): void {
    if (this.spool.bytes + s.length * 3 > 0xffffffff && this.spool.bytes + Buffer.byteLength(s, 'utf8') > 0xffffffff) {
      throw new Error(`strings exceed the format's 4 GiB limit`);
    }
    this.spool.writeString(s);
    this.endRow();
  }
  /** Ends a row whose bytes were appended to the spool directly. */
  endRow(): void {
    if (this.count + 2 > this.offsets.length) {
      const bigger = new Uint32Array(this.offsets.length * 2);
      bigger.set(this.offsets);
      this.offsets = bigger;
    }
    this.offsets[++this.count] = this.spool.bytes;
  }
  finish(): SpooledStrings {
    this.spool.close();
    return { file: this.spool.path, offsets: this.offsets.slice(0, this.count + 1), bytes: this.spool.bytes };
  }
}

/** A value of a poem field: what JSON scalars become in the cache (absent = null). */
export type FieldValue = string | number | boolean | null;

/** A field column: one tagged row per poem (FieldTag, docs/FORMAT.md), counting the value types it saw. */
export class FieldColumn {
  readonly path: string;
  private readonly column: StringColumn;
  readonly types = { string: 0, number: 0, boolean: 0, null: 0 };
  constructor(path: string, file: string) {
    this.path = path;
    this.column = new StringColumn(file, 256 << 10);
  }
  push(v: FieldValue): void {
    const s = this.column.spool;
    if (v === null) this.types.null++;
    else if (typeof v === 'string') {
      this.types.string++;
      s.writeByte(FieldTag.string);
      s.writeString(v);
    } else if (typeof v === 'number') {
      this.types.number++;
      s.writeByte(FieldTag.number);
      s.writeString(String(v));
    } else {
      this.types.boolean++;
      s.writeByte(v ? FieldTag.true : FieldTag.false);
    }
    this.column.endRow();
  }
  finish(): SpooledStrings {
    return this.column.finish();
  }
}

/**
 * The int32 values of a spool file, each turned by `map` on the way out (the writer copies them into the
 * cache). Chunks are read into one aligned buffer, so `map` works on an Int32Array in place.
 */
export async function* mappedInts(file: string, map: (values: Int32Array) => void): AsyncGenerator<Uint8Array> {
  const fd = openSync(file, 'r');
  try {
    const ints = new Int32Array(1 << 20);
    const bytes = new Uint8Array(ints.buffer);
    let pos = 0;
    for (;;) {
      let n = 0;
      while (n < bytes.length) {
        const k = readSync(fd, bytes, n, bytes.length - n, pos + n);
        if (k === 0) break;
        n += k;
      }
      if (n === 0) return;
      if (n % 4 !== 0) throw new Error(`${file}: ${pos + n} bytes is not a whole number of int32 values`);
      const view = ints.subarray(0, n / 4);
      map(view);
      yield bytes.subarray(0, n);
      pos += n;
      if (n < bytes.length) return;
    }
  } finally {
    closeSync(fd);
  }
}
