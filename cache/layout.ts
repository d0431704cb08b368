// The byte layout of a poem cache file: the single definition, used by the writer, the reader and the
// validator (cache/validate.ts, the only one: the native addon maps bytes and knows nothing of the format).
// docs/FORMAT.md describes the same bytes in prose.

export const MAGIC = 'POEMCACH'; // 8 ASCII bytes at offset 0
export const FORMAT_MAJOR = 1; // readers refuse a newer major
export const FORMAT_MINOR = 1; // readers accept any minor of their major (1: ids may repeat; field sections)
export const BYTE_ORDER_MARK = 0x0a0b0c0d; // written little-endian; read back as 0x0d0c0b0a on the wrong order
export const ALIGN = 64; // every section and every array inside one starts on this boundary
export const HEADER_SIZE = 64;
export const SECTION_ENTRY_SIZE = 64;
export const SECTION_NAME_BYTES = 24;
export const MAX_SECTIONS = 1024; // a larger count is refused as corrupt before anything is read

// Header field offsets (all little-endian).
export const H = {
  magic: 0, // u8[8]
  major: 8, // u16
  minor: 10, // u16
  byteOrder: 12, // u32
  flags: 16, // u32, no flags are defined yet: writers write 0, readers ignore unknown bits
  sectionCount: 20, // u32
  fileSize: 24, // u64
  tableOffset: 32, // u64, always HEADER_SIZE in format 1
  entrySize: 40, // u32, always SECTION_ENTRY_SIZE in format 1
  tableChecksum: 44, // u32, CRC-32 of the section table (sectionCount * entrySize bytes)
  reserved: 48, // u8[12], zero
  headerChecksum: 60, // u32, CRC-32 of bytes 0..59
} as const;

// Section table entry field offsets, relative to the entry.
export const E = {
  name: 0, // u8[24], UTF-8, NUL-padded, at least one NUL-free byte
  kind: 24, // u16, SectionKind
  elementType: 26, // u16, ElementType of the section's main array
  flags: 28, // u32, kind-specific
  offset: 32, // u64, multiple of ALIGN
  byteLength: 40, // u64
  count: 48, // u32, rows (or bytes for JSON)
  param: 52, // u32, kind-specific
  param2: 56, // u32, kind-specific
  checksum: 60, // u32, CRC-32 of the section's byteLength bytes
} as const;

export const SectionKind = {
  matrix: 1, // dense float32 rows: count rows x param columns
  ragged: 2, // per-row int32 lists: starts, lengths, values (+ optional float32 scores)
  strings: 3, // per-row UTF-8 strings: offsets[count + 1], bytes
  ids: 4, // row -> id table plus an id -> row index
  json: 5, // UTF-8 JSON document of count bytes
} as const;
export type SectionKind = (typeof SectionKind)[keyof typeof SectionKind];

export const ElementType = {
  f32: 1,
  i32: 2,
  u32: 3,
  u8: 4,
} as const;
export type ElementType = (typeof ElementType)[keyof typeof ElementType];

export const KIND_ELEMENT_TYPE: Record<SectionKind, ElementType> = {
  [SectionKind.matrix]: ElementType.f32,
  [SectionKind.ragged]: ElementType.i32,
  [SectionKind.strings]: ElementType.u8,
  [SectionKind.ids]: ElementType.i32,
  [SectionKind.json]: ElementType.u8,
};

// Kind-specific flags.
export const RAGGED_HAS_SCORES = 1; // ragged: a float32 score array parallel to the values
export const IDS_DENSE_INDEX = 1; // ids: index is a dense id -> row table (else rows sorted by id)
export const IDS_REPEATED = 2; // ids: some id names several rows (then the index is sorted: by id, then row)

// Names of the sections this package writes and reads. Readers skip names and kinds they do not know.
export const SectionName = {
  ids: 'ids',
  embeddings: 'embeddings',
  similar: 'similar',
  diversity: 'diversity',
  title: 'title',
  text: 'text',
  category: 'category',
  date: 'date',
  meta: 'meta',
} as const;

/** Field columns are strings sections named FIELD_PREFIX + n; the meta section maps field paths to them. */
export const FIELD_PREFIX = 'field.';

/** Field rows (strings kind): empty = null or absent, else a tag byte and the value. */
export const FieldTag = {
  string: 0x73, // 's' + the UTF-8 string
  number: 0x6e, // 'n' + the number's shortest round-trip decimal (ASCII)
  true: 0x74, // 't'
  false: 0x66, // 'f'
} as const;

export const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** One typed array inside a section, at a byte offset relative to the section start. */
export interface Part {
  name: string;
  offset: number;
  length: number; // elements
  bytes: number;
}

/** Where the arrays of a section of a known kind lie, and how long the section must be. */
export interface SectionShape {
  parts: Part[];
  byteLength: number;
}

export interface ShapeInput {
  kind: number;
  flags: number;
  count: number;
  param: number;
  param2: number;
}

/**
 * The arrays of a known section kind, laid out one after another, each starting ALIGN-aligned.
 * Returns undefined for unknown kinds (readers skip them). For a matrix, count * param * 4 can exceed 2^53
 * (JS rounds it); the result is then far beyond any real file, so the byte-length check rejects it: no size
 * computed here can make a view leave the file.
 *   matrix:  values f32[count * param]
 *   ragged:  starts u32[count], lengths u32[count], values i32[param], scores f32[param] if RAGGED_HAS_SCORES
 *   strings: offsets u32[count + 1], bytes u8[param]
 *   ids:     ids i32[count], then index i32[param2] (dense, base id = param) or u32[count] (sorted)
 *   json:    bytes u8[count]
 */
export function sectionShape(s: ShapeInput): SectionShape | undefined {
  const parts: Part[] = [];
  let end = 0;
  const add = (name: string, length: number, elementBytes: number) => {
    const offset = parts.length === 0 ? 0 : align(end);
    const bytes = length * elementBytes;
    parts.push({ name, offset, length, bytes });
    end = offset + bytes;
  };
  switch (s.kind) {
    case SectionKind.matrix:
      add('values', s.count * s.param, 4);
      break;
    case SectionKind.ragged:
      add('starts', s.count, 4);
      add('lengths', s.count, 4);
      add('values', s.param, 4);
      if (s.flags & RAGGED_HAS_SCORES) add('scores', s.param, 4);
      break;
    case SectionKind.strings:
      add('offsets', s.count + 1, 4);
      add('bytes', s.param, 1);
      break;
    case SectionKind.ids:
      add('ids', s.count, 4);
      add('index', s.flags & IDS_DENSE_INDEX ? s.param2 : s.count, 4);
      break;
    case SectionKind.json:
      add('bytes', s.count, 1);
      break;
    default:
      return undefined;
  }
  return { parts, byteLength: end };
}

/** A dense id index is used when its table is at most this many times the row count (plus slack). */
export const DENSE_INDEX_FACTOR = 4;
export const DENSE_INDEX_SLACK = 1024;
