// Streaming cache writer: sections are appended one after another (each ALIGN-aligned) into a temp file
// in the target's directory; finish() writes header and table, fsyncs and renames over the target.
// An existing cache is never opened for writing: readers that have it mapped keep their old inode.
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  ALIGN,
  BYTE_ORDER_MARK,
  DENSE_INDEX_FACTOR,
  DENSE_INDEX_SLACK,
  E,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  H,
  HEADER_SIZE,
  FIELD_PREFIX,
  FieldTag,
  IDS_DENSE_INDEX,
  IDS_REPEATED,
  KIND_ELEMENT_TYPE,
  MAGIC,
  RAGGED_HAS_SCORES,
  SECTION_ENTRY_SIZE,
  SECTION_NAME_BYTES,
  SectionKind,
  SectionName,
  align,
  sectionShape,
} from './layout.ts';

/** Bytes of one array of a section: in memory, a file to copy, or a stream of chunks. */
export type PartSource = ArrayBufferView | { file: string } | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface SectionSpec {
  name: string;
  kind: SectionKind;
  flags?: number;
  count: number;
  param?: number;
  param2?: number;
}

/** A section ready to write: its table fields and its arrays in the order sectionShape lists them. */
export interface EncodedSection extends SectionSpec {
  parts: PartSource[];
}

interface Entry extends Required<SectionSpec> {
  offset: number;
  byteLength: number;
  checksum: number;
}

const TEMP_MARK = '.tmp-';
/** The temp files a writer for `target` may leave behind after a crash (for cleanup by later runs). */
export const isTempFileOf = (target: string, candidate: string): boolean =>
  basename(candidate).startsWith(`${basename(target)}${TEMP_MARK}`);

const ZEROS = new Uint8Array(ALIGN);

export class CacheWriter {
  readonly path: string;
  readonly tempPath: string;
  private fh: FileHandle;
  private readonly maxSections: number;
  private readonly entries: Entry[] = [];
  private position: number;
  private done = false;

  private constructor(path: string, tempPath: string, fh: FileHandle, maxSections: number) {
    this.path = path;
    this.tempPath = tempPath;
    this.fh = fh;
    this.maxSections = maxSections;
    this.position = align(HEADER_SIZE + maxSections * SECTION_ENTRY_SIZE);
  }

  /** Opens a new temp file beside `path` ('wx': never an existing file). */
  static async create(path: string, options: { maxSections?: number } = {}): Promise<CacheWriter> {
    const maxSections = options.maxSections ?? 16;
    const tempPath = join(
      dirname(path),
      `${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(6).toString('hex')}`,
    );
    const fh = await open(tempPath, 'wx', 0o644);
    return new CacheWriter(path, tempPath, fh, maxSections);
  }

  /** Appends one section, streaming its parts; checks every part's size against the layout. */
  async addSection(section: EncodedSection): Promise<void> {
    if (this.done) throw new Error(`${this.tempPath}: writer already finished`);
    const spec: Required<SectionSpec> = { flags: 0, param: 0, param2: 0, ...section };
    const nameBytes = Buffer.from(spec.name, 'utf8');
    if (nameBytes.length === 0 || nameBytes.length > SECTION_NAME_BYTES || nameBytes.includes(0)) {
      throw new Error(
        `section name ${JSON.stringify(spec.name)}: expected 1..${SECTION_NAME_BYTES} UTF-8 bytes without NUL`,
      );
    }
    if (this.entries.some((e) => e.name === spec.name)) throw new Error(`section "${spec.name}" written twice`);
    if (this.entries.length >= this.maxSections)
      throw new Error(`more than ${this.maxSections} sections (raise maxSections)`);
    for (const k of ['count', 'param', 'param2', 'flags'] as const) {
      const v = spec[k];
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new Error(`section "${spec.name}": ${k} ${v} is not a u32`);
    }
    const shape = sectionShape(spec);
    if (!shape) throw new Error(`section "${spec.name}": unknown kind ${spec.kind}`);
    if (section.parts.length !== shape.parts.length) {
      throw new Error(
        `section "${spec.name}": expected ${shape.parts.length} parts ` +
          `(${shape.parts.map((p) => p.name).join(', ')}), got ${section.parts.length}`,
      );
    }
    const start = this.position;
    let checksum = 0;
    let written = 0; // relative to the section start
    const put = async (chunk: Uint8Array) => {
      if (chunk.byteLength === 0) return;
      await this.writeAll(chunk, start + written);
      checksum = crc32(chunk, checksum);
      written += chunk.byteLength;
    };
    for (let i = 0; i < shape.parts.length; i++) {
      const part = shape.parts[i];
      while (written < part.offset) await put(ZEROS.subarray(0, Math.min(ALIGN, part.offset - written)));
      const before = written;
      for await (const chunk of chunksOf(section.parts[i])) await put(chunk);
      if (written - before !== part.bytes) {
        throw new Error(
          `section "${spec.name}" part "${part.name}": expected ${part.bytes} bytes, got ${written - before}`,
        );
      }
    }
    this.entries.push({ ...spec, offset: start, byteLength: written, checksum });
    this.position = align(start + written);
  }

  /** Writes header and table, fsyncs, renames over the target. Returns the final size. */
  async finish(): Promise<{ path: string; size: number }> {
    if (this.done) throw new Error(`${this.tempPath}: writer already finished`);
    try {
      // The file ends at the aligned end of the last section (or of the reserved table space).
      const fileSize = this.position;
      await this.fh.truncate(fileSize);
      const head = encodeHeadAndTable(this.entries, fileSize);
      await this.writeAll(head, 0);
      await this.fh.sync();
      await this.fh.close();
      this.done = true;
      await rename(this.tempPath, this.path);
      await syncDir(dirname(this.path));
      return { path: this.path, size: fileSize };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Closes and removes the temp file; the target is untouched. Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.fh.close().catch(() => {});
    }
    await unlink(this.tempPath).catch(() => {});
  }

  private async writeAll(chunk: Uint8Array, position: number): Promise<void> {
    let off = 0;
    while (off < chunk.byteLength) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.byteLength - off, position + off);
      off += bytesWritten;
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => {}); // some filesystems refuse fsync on directories; the rename stands
  await fh.close();
}

async function* chunksOf(src: PartSource): AsyncIterable<Uint8Array> {
  if (ArrayBuffer.isView(src)) {
    yield new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  } else if ('file' in src) {
    for await (const chunk of createReadStream(src.file, { highWaterMark: 4 << 20 })) yield chunk as Buffer;
  } else {
    yield* src as AsyncIterable<Uint8Array>;
  }
}

function encodeHeadAndTable(entries: Entry[], fileSize: number): Uint8Array {
  const tableBytes = entries.length * SECTION_ENTRY_SIZE;
  const buf = new Uint8Array(HEADER_SIZE + tableBytes);
  const view = new DataView(buf.buffer);
  entries.forEach((e, i) => {
    const at = HEADER_SIZE + i * SECTION_ENTRY_SIZE;
    buf.set(Buffer.from(e.name, 'utf8'), at + E.name);
    view.setUint16(at + E.kind, e.kind, true);
    view.setUint16(at + E.elementType, KIND_ELEMENT_TYPE[e.kind], true);
    view.setUint32(at + E.flags, e.flags, true);
    view.setBigUint64(at + E.offset, BigInt(e.offset), true);
    view.setBigUint64(at + E.byteLength, BigInt(e.byteLength), true);
    view.setUint32(at + E.count, e.count, true);
    view.setUint32(at + E.param, e.param, true);
    view.setUint32(at + E.param2, e.param2, true);
    view.setUint32(at + E.checksum, e.checksum, true);
  });
  buf.set(Buffer.from(MAGIC, 'latin1'), H.magic);
  view.setUint16(H.major, FORMAT_MAJOR, true);
  view.setUint16(H.minor, FORMAT_MINOR, true);
  view.setUint32(H.byteOrder, BYTE_ORDER_MARK, true);
  view.setUint32(H.flags, 0, true);
  view.setUint32(H.sectionCount, entries.length, true);
  view.setBigUint64(H.fileSize, BigInt(fileSize), true);
  view.setBigUint64(H.tableOffset, BigInt(HEADER_SIZE), true);
  view.setUint32(H.entrySize, SECTION_ENTRY_SIZE, true);
  view.setUint32(H.tableChecksum, crc32(buf.subarray(HEADER_SIZE)), true);
  view.setUint32(H.headerChecksum, crc32(buf.subarray(0, H.headerChecksum)), true);
  return buf;
}

// ---- Encoders for in-memory data (tests, small sites, the converter's merge step) ----

export function encodeMatrix(name: string, rows: number, dim: number, values: Float32Array): EncodedSection {
  if (values.length !== rows * dim)
    throw new Error(`matrix "${name}": expected ${rows} x ${dim} values, got ${values.length}`);
  return { name, kind: SectionKind.matrix, count: rows, param: dim, parts: [values] };
}

/** Per-row lists of int32 (row numbers for neighbour lists), optionally with a parallel float32 score per entry. */
export function encodeRagged(name: string, lists: ArrayLike<number>[], scores?: ArrayLike<number>[]): EncodedSection {
  const rows = lists.length;
  const starts = new Uint32Array(rows);
  const lengths = new Uint32Array(rows);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    starts[r] = total;
    lengths[r] = lists[r].length;
    total += lists[r].length;
    if (scores && scores[r].length !== lists[r].length) {
      throw new Error(`ragged "${name}" row ${r}: expected ${lists[r].length} scores, got ${scores[r].length}`);
    }
  }
  if (total > 0xffffffff) throw new Error(`ragged "${name}": ${total} values exceed the format's 2^32 - 1`);
  const values = new Int32Array(total);
  const scoreValues = scores ? new Float32Array(total) : undefined;
  for (let r = 0; r < rows; r++) {
    values.set(lists[r], starts[r]);
    scoreValues?.set(scores![r], starts[r]);
  }
  return {
    name,
    kind: SectionKind.ragged,
    flags: scoreValues ? RAGGED_HAS_SCORES : 0,
    count: rows,
    param: total,
    parts: scoreValues ? [starts, lengths, values, scoreValues] : [starts, lengths, values],
  };
}

export function encodeStrings(name: string, strings: string[]): EncodedSection {
  const encoded = strings.map((s) => Buffer.from(s, 'utf8'));
  const offsets = new Uint32Array(strings.length + 1);
  let total = 0;
  encoded.forEach((b, i) => {
    total += b.length;
    offsets[i + 1] = total;
  });
  if (total > 0xffffffff) throw new Error(`strings "${name}": ${total} bytes exceed the format's 2^32 - 1`);
  return {
    name,
    kind: SectionKind.strings,
    count: strings.length,
    param: total,
    parts: [offsets, Buffer.concat(encoded)],
  };
}

/**
 * Row -> id, plus an id -> row index: a dense table when ids are unique and compact enough, else the rows sorted
 * by id (then by row). Ids may repeat (the pipeline numbers poems per category): IDS_REPEATED says so.
 */
export function encodeIds(ids: ArrayLike<number>, name: string = SectionName.ids): EncodedSection {
  const rows = ids.length;
  const idArray = Int32Array.from(ids);
  let min = Infinity;
  let max = -Infinity;
  for (let r = 0; r < rows; r++) {
    const id = ids[r];
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff)
      throw new Error(`ids: row ${r}: expected an integer id in 0..2147483647, got ${id}`);
    if (id < min) min = id;
    if (id > max) max = id;
  }
  const span = rows === 0 ? 0 : max - min + 1;
  if (span <= DENSE_INDEX_FACTOR * rows + DENSE_INDEX_SLACK) {
    const table = new Int32Array(span).fill(-1);
    let unique = true;
    for (let r = 0; r < rows && unique; r++) {
      if (table[ids[r] - min] !== -1) unique = false;
      else table[ids[r] - min] = r;
    }
    if (unique) {
      return {
        name,
        kind: SectionKind.ids,
        flags: IDS_DENSE_INDEX,
        count: rows,
        param: rows ? min : 0,
        param2: span,
        parts: [idArray, table],
      };
    }
  }
  const sorted = Uint32Array.from({ length: rows }, (_, r) => r).sort((a, b) => idArray[a] - idArray[b] || a - b);
  let repeated = false;
  for (let k = 1; k < rows && !repeated; k++) repeated = idArray[sorted[k]] === idArray[sorted[k - 1]];
  return { name, kind: SectionKind.ids, flags: repeated ? IDS_REPEATED : 0, count: rows, parts: [idArray, sorted] };
}

/** A field column: per row null (empty), or a tag byte and the value (FieldTag). */
export function encodeField(
  name: string,
  values: readonly (string | number | boolean | null | undefined)[],
): EncodedSection {
  return encodeStrings(
    name,
    values.map((v) => {
      if (v === null || v === undefined) return '';
      if (typeof v === 'string') return String.fromCharCode(FieldTag.string) + v;
      if (typeof v === 'number') return String.fromCharCode(FieldTag.number) + String(v);
      return String.fromCharCode(v ? FieldTag.true : FieldTag.false);
    }),
  );
}

export function encodeJson(name: string, value: unknown): EncodedSection {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  return { name, kind: SectionKind.json, count: bytes.length, parts: [bytes] };
}

/** Everything a cache can hold, in memory. Lists hold ROW numbers (see rowOf/idOf), not poem ids. */
export interface CacheData {
  ids: ArrayLike<number>;
  embeddings?: { dim: number; values: Float32Array };
  similar?: { lists: ArrayLike<number>[]; scores?: ArrayLike<number>[] };
  diversity?: { lists: ArrayLike<number>[]; scores?: ArrayLike<number>[] };
  title?: string[];
  text?: string[];
  category?: string[];
  date?: string[];
  /** Poem fields by path ("metadata.author"): one value per row; the meta section maps them to sections. */
  fields?: Record<string, readonly (string | number | boolean | null | undefined)[]>;
  meta?: unknown;
}

/** Encodes in-memory data as the standard sections, in a fixed order. */
export function encodeCacheData(data: CacheData): EncodedSection[] {
  const rows = data.ids.length;
  const out: EncodedSection[] = [encodeIds(data.ids)];
  const check = (what: string, n: number) => {
    if (n !== rows) throw new Error(`${what}: expected ${rows} rows (one per id), got ${n}`);
  };
  if (data.embeddings) {
    out.push(
      encodeMatrix(
        SectionName.embeddings,
        (data.embeddings.values.length / (data.embeddings.dim || 1)) | 0,
        data.embeddings.dim,
        data.embeddings.values,
      ),
    );
    check('embeddings', out[out.length - 1].count);
  }
  for (const key of ['similar', 'diversity'] as const) {
    const d = data[key];
    if (d) {
      check(key, d.lists.length);
      out.push(encodeRagged(SectionName[key], d.lists, d.scores));
    }
  }
  for (const key of ['title', 'text', 'category', 'date'] as const) {
    const d = data[key];
    if (d) {
      check(key, d.length);
      out.push(encodeStrings(SectionName[key], d));
    }
  }
  const fields = Object.entries(data.fields ?? {}).map(([path, values], i) => {
    check(`field ${path}`, values.length);
    out.push(encodeField(`${FIELD_PREFIX}${i}`, values));
    return { path, section: `${FIELD_PREFIX}${i}` };
  });
  if (fields.length)
    out.push(encodeJson(SectionName.meta, { ...((data.meta ?? {}) as Record<string, unknown>), fields }));
  else if (data.meta !== undefined) out.push(encodeJson(SectionName.meta, data.meta));
  return out;
}

/** Writes a whole cache from memory: temp file, fsync, rename. */
export async function writeCache(
  path: string,
  data: CacheData | EncodedSection[],
): Promise<{ path: string; size: number }> {
  const sections = Array.isArray(data) ? data : encodeCacheData(data);
  const writer = await CacheWriter.create(path, { maxSections: Math.max(16, sections.length) });
  try {
    for (const s of sections) await writer.addSection(s);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.finish();
}
