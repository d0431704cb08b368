// The one validator of cache images, for every path: the reader (native mmap, POSIX shm and the pure-JS
// fallback), `poem-cache verify` and inspect, and the converter's freshness check (readCacheLayout, which reads
// only the header and the section table from a file). The addon maps bytes and checks nothing. After
// parseCache returns, every view the reader makes is inside the image and every per-row index points inside
// its section.
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import {
  ALIGN,
  BYTE_ORDER_MARK,
  E,
  ElementType,
  FORMAT_MAJOR,
  H,
  HEADER_SIZE,
  IDS_DENSE_INDEX,
  KIND_ELEMENT_TYPE,
  MAGIC,
  MAX_SECTIONS,
  SECTION_ENTRY_SIZE,
  SECTION_NAME_BYTES,
  SectionKind,
  sectionShape,
  type Part,
} from './layout.ts';

/** A cache file that cannot be read: names the file, the byte offset and what was expected there. */
export class CacheFormatError extends Error {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, expected: string, found?: string) {
    super(`${file}: byte ${offset}: expected ${expected}${found === undefined ? '' : `, found ${found}`}`);
    this.name = 'CacheFormatError';
    this.file = file;
    this.offset = offset;
  }
}

export interface SectionInfo {
  index: number;
  name: string;
  kind: number;
  elementType: number;
  flags: number;
  offset: number; // absolute
  byteLength: number;
  count: number;
  param: number;
  param2: number;
  checksum: number;
  known: boolean;
  /** Absolute byte offsets of the arrays of a known kind. */
  parts: Record<string, Part>;
}

export interface CacheHeader {
  major: number;
  minor: number;
  flags: number;
  fileSize: number;
  sectionCount: number;
  headerChecksum: number;
  tableChecksum: number;
}

export interface ParsedCache {
  header: CacheHeader;
  sections: SectionInfo[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  // Anything past 2^53 cannot be a real offset in a file that fits in memory.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

type Fail = (at: number, expected: string, found?: string) => never;

const failIn =
  (file: string): Fail =>
  (at, expected, found) => {
    throw new CacheFormatError(file, at, expected, found);
  };

/**
 * Validates header, section table, section bounds and (unless indexes: false, for tools that only look at a
 * damaged file's layout, never for making views) per-row indexes. Throws CacheFormatError.
 */
export function parseCache(bytes: Uint8Array, file: string, options: { indexes?: boolean } = {}): ParsedCache {
  const header = parseHeader(bytes.subarray(0, HEADER_SIZE), bytes.byteLength, file);
  const sections = parseTable(bytes.subarray(HEADER_SIZE, tableEndOf(header)), header, bytes.byteLength, file);
  if (options.indexes !== false) {
    const fail = failIn(file);
    for (const s of sections) if (s.known) checkIndexes(bytes, s, fail);
  }
  return { header, sections };
}

/**
 * The header and the section table of a cache file, read from an open file (the header, then the table: no
 * section is read) and validated as parseCache does them, with the same messages. Throws CacheFormatError.
 */
export async function readCacheLayout(fh: FileHandle, file: string): Promise<ParsedCache> {
  const size = (await fh.stat()).size;
  const header = parseHeader(await readAt(fh, file, 0, Math.min(size, HEADER_SIZE)), size, file);
  const table = await readAt(fh, file, HEADER_SIZE, tableEndOf(header) - HEADER_SIZE);
  return { header, sections: parseTable(table, header, size, file) };
}

/** One section's bytes, read from an open file and checked against the table's CRC-32. Throws CacheFormatError. */
export async function readSectionChecked(fh: FileHandle, file: string, s: SectionInfo): Promise<Uint8Array> {
  const bytes = await readAt(fh, file, s.offset, s.byteLength);
  const actual = crc32(bytes);
  if (actual !== s.checksum) {
    const what = `section ${s.index} "${s.name}" with checksum ${hex(s.checksum)}`;
    throw new CacheFormatError(file, s.offset, what, hex(actual));
  }
  return bytes;
}

async function readAt(fh: FileHandle, file: string, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(out, got, length - got, position + got);
    if (bytesRead === 0) {
      throw new CacheFormatError(
        file,
        position + got,
        `${length} bytes at ${position} (the file shrank while being read)`,
      );
    }
    got += bytesRead;
  }
  return out;
}

const tableEndOf = (h: CacheHeader) => HEADER_SIZE + h.sectionCount * SECTION_ENTRY_SIZE;

/** The header (`head`: the file's first min(size, 64) bytes) against the file's real size. */
function parseHeader(head: Uint8Array, size: number, file: string): CacheHeader {
  const fail = failIn(file);
  if (size < HEADER_SIZE) fail(0, `a ${HEADER_SIZE}-byte header`, `a file of ${size} bytes`);
  const view = new DataView(head.buffer, head.byteOffset, HEADER_SIZE);

  const magic = String.fromCharCode(...head.subarray(0, 8));
  if (magic !== MAGIC) fail(H.magic, `magic "${MAGIC}" (not a poem cache file?)`, JSON.stringify(magic));
  const major = view.getUint16(H.major, true);
  const minor = view.getUint16(H.minor, true);
  const bom = view.getUint32(H.byteOrder, true);
  if (bom !== BYTE_ORDER_MARK) {
    fail(H.byteOrder, `byte-order mark ${hex(BYTE_ORDER_MARK)} (little-endian)`, hex(bom));
  }
  if (major !== FORMAT_MAJOR) {
    fail(
      H.major,
      `format major version ${FORMAT_MAJOR}`,
      `${major}.${minor}` +
        (major > FORMAT_MAJOR ? ': written by a newer astro-poem-cache, upgrade this package to read it' : ''),
    );
  }
  const headerChecksum = view.getUint32(H.headerChecksum, true);
  const headerActual = crc32(head.subarray(0, H.headerChecksum));
  if (headerChecksum !== headerActual)
    fail(H.headerChecksum, `header checksum ${hex(headerActual)}`, hex(headerChecksum));
  const fileSize = u64(view, H.fileSize);
  if (fileSize !== size) fail(H.fileSize, `file size ${size} (truncated or extended file?)`, String(fileSize));
  const tableOffset = u64(view, H.tableOffset);
  if (tableOffset !== HEADER_SIZE) fail(H.tableOffset, `section table at ${HEADER_SIZE}`, String(tableOffset));
  const entrySize = view.getUint32(H.entrySize, true);
  if (entrySize !== SECTION_ENTRY_SIZE)
    fail(H.entrySize, `section entry size ${SECTION_ENTRY_SIZE}`, String(entrySize));
  const sectionCount = view.getUint32(H.sectionCount, true);
  if (sectionCount > MAX_SECTIONS) fail(H.sectionCount, `at most ${MAX_SECTIONS} sections`, String(sectionCount));
  const header: CacheHeader = {
    major,
    minor,
    flags: view.getUint32(H.flags, true),
    fileSize,
    sectionCount,
    headerChecksum,
    tableChecksum: view.getUint32(H.tableChecksum, true),
  };
  if (tableEndOf(header) > size) {
    fail(HEADER_SIZE, `a section table of ${sectionCount} entries inside the file`, `${size} bytes`);
  }
  return header;
}

/** The section table (`table`: its bytes, from offset HEADER_SIZE) and every section's bounds and shape. */
function parseTable(table: Uint8Array, header: CacheHeader, size: number, file: string): SectionInfo[] {
  const fail = failIn(file);
  const tableActual = crc32(table);
  if (header.tableChecksum !== tableActual) {
    fail(H.tableChecksum, `section table checksum ${hex(tableActual)}`, hex(header.tableChecksum));
  }
  const tableEnd = HEADER_SIZE + table.byteLength;
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const sections: SectionInfo[] = [];
  for (let i = 0; i < header.sectionCount; i++) {
    const rel = i * SECTION_ENTRY_SIZE; // in `table`
    const at = HEADER_SIZE + rel; // in the file, for messages
    const nameBytes = table.subarray(rel + E.name, rel + E.name + SECTION_NAME_BYTES);
    const nul = nameBytes.indexOf(0);
    let name = '';
    try {
      name = decoder.decode(nameBytes.subarray(0, nul < 0 ? SECTION_NAME_BYTES : nul));
    } catch {
      fail(at + E.name, `section ${i}: a UTF-8 name`);
    }
    if (name.length === 0) fail(at + E.name, `section ${i}: a non-empty name`);
    const s: SectionInfo = {
      index: i,
      name,
      kind: view.getUint16(rel + E.kind, true),
      elementType: view.getUint16(rel + E.elementType, true),
      flags: view.getUint32(rel + E.flags, true),
      offset: u64(view, rel + E.offset),
      byteLength: u64(view, rel + E.byteLength),
      count: view.getUint32(rel + E.count, true),
      param: view.getUint32(rel + E.param, true),
      param2: view.getUint32(rel + E.param2, true),
      checksum: view.getUint32(rel + E.checksum, true),
      known: false,
      parts: {},
    };
    const where = `section ${i} "${name}"`;
    if (s.offset % ALIGN !== 0)
      fail(at + E.offset, `${where}: an offset that is a multiple of ${ALIGN}`, String(s.offset));
    if (s.offset < tableEnd)
      fail(at + E.offset, `${where}: an offset after the section table (${tableEnd})`, String(s.offset));
    if (s.offset + s.byteLength > size) {
      fail(at + E.byteLength, `${where}: ${s.byteLength} bytes at ${s.offset} to end inside the file (${size} bytes)`);
    }
    if (sections.some((o) => o.name === name)) fail(at + E.name, `${where}: a unique section name`);
    const shape = sectionShape(s);
    if (shape) {
      s.known = true;
      const expectedType = KIND_ELEMENT_TYPE[s.kind as SectionKind];
      if (s.elementType !== expectedType) {
        fail(at + E.elementType, `${where}: element type ${expectedType} for kind ${s.kind}`, String(s.elementType));
      }
      if (s.byteLength !== shape.byteLength) {
        fail(
          at + E.byteLength,
          `${where}: byte length ${shape.byteLength} for its kind, count and parameters`,
          String(s.byteLength),
        );
      }
      for (const p of shape.parts) s.parts[p.name] = { ...p, offset: s.offset + p.offset };
    }
    sections.push(s);
  }
  const byOffset = [...sections].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    const cur = byOffset[i];
    if (prev.offset + prev.byteLength > cur.offset) {
      const at = HEADER_SIZE + cur.index * SECTION_ENTRY_SIZE + E.offset;
      fail(at, `section ${cur.index} "${cur.name}" not to overlap section ${prev.index} "${prev.name}"`);
    }
  }
  return sections;
}

function u32s(bytes: Uint8Array, p: Part): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset + p.offset, p.length);
}

// O(rows): proves every row's slice lies inside its section, so accessors need only a row range check.
// Runs once per open, mostly before V8 has compiled anything: the scans below use builtins where they can,
// and the message is built only on the rare failure.
function checkIndexes(bytes: Uint8Array, s: SectionInfo, fail: Fail): void {
  const where = `section ${s.index} "${s.name}"`;
  if (s.kind === SectionKind.strings) {
    const off = u32s(bytes, s.parts.offsets);
    const r = firstBadOffset(off, s.param);
    if (r === 0) fail(s.parts.offsets.offset, `${where}: string offset 0 to be 0`, String(off[0]));
    const at = s.parts.offsets.offset;
    if (r > 0) fail(at + r * 4, `${where}: string offset ${r} in ${off[r - 1]}..${s.param}`, String(off[r]));
    if (off[s.count] !== s.param)
      fail(at + s.count * 4, `${where}: last string offset ${s.param}`, String(off[s.count]));
  } else if (s.kind === SectionKind.ragged) {
    const starts = u32s(bytes, s.parts.starts);
    const lengths = u32s(bytes, s.parts.lengths);
    const r = firstListOutside(starts, lengths, s.param);
    if (r >= 0) {
      const list = `row ${r} list (start ${starts[r]}, length ${lengths[r]})`;
      fail(s.parts.starts.offset + r * 4, `${where}: ${list} inside ${s.param} values`);
    }
  } else if (s.kind === SectionKind.ids) {
    const index = s.parts.index;
    if (s.flags & IDS_DENSE_INDEX) {
      const table = new Int32Array(bytes.buffer, bytes.byteOffset + index.offset, index.length);
      const k = firstOutside(table, -1, s.count - 1);
      if (k >= 0) {
        fail(index.offset + k * 4, `${where}: row -1..${s.count - 1} for id ${s.param + k}`, String(table[k]));
      }
    } else {
      const perm = u32s(bytes, index);
      const k = firstOutside(perm, 0, s.count - 1);
      if (k >= 0) fail(index.offset + k * 4, `${where}: a row below ${s.count} in the sorted index`, String(perm[k]));
    }
  }
}

/** The first string offset that is not 0 (at 0), below the one before it or past `end`; -1 when none. */
function firstBadOffset(off: Uint32Array, end: number): number {
  const n = off.length;
  if (off[0] === 0 && off[n - 1] <= end && n <= SORT_LIMIT && ascending(off)) return -1;
  if (off[0] !== 0) return 0;
  // One comparison a row finds the first decrease; the offsets before it ascend, so the first one past `end`
  // among them is found by bisection.
  let r = 1;
  for (let prev = 0; r < n; r++) {
    const v = off[r];
    if (v < prev) break;
    prev = v;
  }
  if (off[r - 1] <= end) return r < n ? r : -1;
  let lo = 1;
  let hi = r - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (off[mid] > end) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The first row whose list start + length passes `values`; -1 when none. */
function firstListOutside(starts: Uint32Array, lengths: Uint32Array, values: number): number {
  const n = starts.length;
  if (n === 0 || extreme(Math.max, starts) + extreme(Math.max, lengths) <= values) return -1;
  for (let r = 0; r < n; r++) if (starts[r] + lengths[r] > values) return r;
  return -1;
}

/** The first entry outside min..max; -1 when none. */
function firstOutside(table: Int32Array | Uint32Array, min: number, max: number): number {
  const n = table.length;
  if (n === 0 || (extreme(Math.min, table) >= min && extreme(Math.max, table) <= max)) return -1;
  for (let k = 0; k < n; k++) {
    const v = table[k];
    if (v < min || v > max) return k;
  }
  return -1;
}

// Builtins first: a cold process interprets a JS loop at ~20 ns a row and then compiles it, while Math.min/max
// over an argument list and a typed-array sort run natively (about 1.4 ms less per open of a 500 MB cache).
// The JS loops run only to name the failing row, for string tables past SORT_LIMIT, and for a ragged section
// whose largest start plus longest list passes its values although no single row does.
const APPLY_CHUNK = 8192; // arguments of one apply call live on the stack
const SORT_LIMIT = 1 << 16; // beyond this, sorting (n log n) costs more than the compiled loop

/** Math.max or Math.min of a non-empty typed array. */
function extreme(f: (...values: number[]) => number, a: Int32Array | Uint32Array): number {
  const of = (from: number) => f.apply(null, a.subarray(from, from + APPLY_CHUNK) as unknown as number[]);
  let m = of(0);
  for (let i = APPLY_CHUNK; i < a.length; i += APPLY_CHUNK) m = f(m, of(i));
  return m;
}

function ascending(a: Uint32Array): boolean {
  const sorted = a.slice().sort();
  return Buffer.compare(Buffer.from(sorted.buffer), Buffer.from(a.buffer, a.byteOffset, a.byteLength)) === 0;
}

/** CRC-32 of a section's bytes against its table entry (the reader does not do this at open: `verify` does). */
export function sectionChecksumOk(bytes: Uint8Array, s: SectionInfo): boolean {
  return crc32(bytes.subarray(s.offset, s.offset + s.byteLength)) === s.checksum;
}

export { ElementType };
