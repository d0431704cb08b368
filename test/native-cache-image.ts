// Hand-built cache images for test/native.test.ts and the corpus of test/open-paths.test.ts, straight from
// cache/layout.ts (independent of any writer): header + section table + one section of every kind, CRC-32 sealed.
import { crc32 } from 'node:zlib';
import {
  align,
  BYTE_ORDER_MARK,
  E,
  ElementType,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  H,
  HEADER_SIZE,
  IDS_DENSE_INDEX,
  KIND_ELEMENT_TYPE,
  MAGIC,
  RAGGED_HAS_SCORES,
  SECTION_ENTRY_SIZE,
  SectionKind,
  sectionShape,
} from '../cache/layout.ts';

export interface SectionSpec {
  name: string;
  kind: number;
  elementType?: number;
  flags?: number;
  count: number;
  param?: number;
  param2?: number;
  /** Fills the section's bytes; for unknown kinds `byteLength` must be given. */
  fill?: (section: Uint8Array, view: DataView, parts: Record<string, { offset: number; length: number }>) => void;
  byteLength?: number;
}

export function buildImage(specs: SectionSpec[]): Uint8Array {
  const tableEnd = HEADER_SIZE + specs.length * SECTION_ENTRY_SIZE;
  const placed = specs.map((s) => {
    const input = { kind: s.kind, flags: s.flags ?? 0, count: s.count, param: s.param ?? 0, param2: s.param2 ?? 0 };
    const shape = sectionShape(input);
    return { s, input, shape, byteLength: shape ? shape.byteLength : (s.byteLength ?? 0), offset: 0 };
  });
  let end = align(tableEnd);
  for (const p of placed) {
    p.offset = end;
    end = align(p.offset + p.byteLength);
  }
  const size = placed.length ? placed[placed.length - 1].offset + placed[placed.length - 1].byteLength : tableEnd;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(MAGIC), H.magic);
  view.setUint16(H.major, FORMAT_MAJOR, true);
  view.setUint16(H.minor, FORMAT_MINOR, true);
  view.setUint32(H.byteOrder, BYTE_ORDER_MARK, true);
  view.setUint32(H.sectionCount, specs.length, true);
  view.setBigUint64(H.fileSize, BigInt(size), true);
  view.setBigUint64(H.tableOffset, BigInt(HEADER_SIZE), true);
  view.setUint32(H.entrySize, SECTION_ENTRY_SIZE, true);
  placed.forEach((p, i) => {
    const at = HEADER_SIZE + i * SECTION_ENTRY_SIZE;
    bytes.set(new TextEncoder().encode(p.s.name), at + E.name);
    view.setUint16(at + E.kind, p.s.kind, true);
    view.setUint16(
      at + E.elementType,
      p.s.elementType ?? KIND_ELEMENT_TYPE[p.s.kind as SectionKind] ?? ElementType.u8,
      true,
    );
    view.setUint32(at + E.flags, p.input.flags, true);
    view.setBigUint64(at + E.offset, BigInt(p.offset), true);
    view.setBigUint64(at + E.byteLength, BigInt(p.byteLength), true);
    view.setUint32(at + E.count, p.input.count, true);
    view.setUint32(at + E.param, p.input.param, true);
    view.setUint32(at + E.param2, p.input.param2, true);
    const section = bytes.subarray(p.offset, p.offset + p.byteLength);
    const parts = Object.fromEntries((p.shape?.parts ?? []).map((q) => [q.name, q]));
    p.s.fill?.(section, new DataView(bytes.buffer, p.offset, p.byteLength), parts);
    view.setUint32(at + E.checksum, crc32(section), true);
  });
  return reseal(bytes);
}

/** Recomputes the table and header checksums (the table one only when the table lies inside the image). */
export function reseal(bytes: Uint8Array): Uint8Array {
  if (bytes.length < HEADER_SIZE) return bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(H.sectionCount, true);
  const tableEnd = HEADER_SIZE + count * SECTION_ENTRY_SIZE;
  if (tableEnd <= bytes.length) view.setUint32(H.tableChecksum, crc32(bytes.subarray(HEADER_SIZE, tableEnd)), true);
  view.setUint32(H.headerChecksum, crc32(bytes.subarray(0, H.headerChecksum)), true);
  return bytes;
}

const u32 = (v: DataView, at: number, values: number[]) => {
  for (const [i, x] of values.entries()) v.setUint32(at + i * 4, x >>> 0, true);
};
const i32 = (v: DataView, at: number, values: number[]) => {
  for (const [i, x] of values.entries()) v.setInt32(at + i * 4, x, true);
};
const f32 = (v: DataView, at: number, values: number[]) => {
  for (const [i, x] of values.entries()) v.setFloat32(at + i * 4, x, true);
};

/** A strings section of these rows. */
function strings(name: string, rows: string[]): SectionSpec {
  const encoded = rows.map((r) => new TextEncoder().encode(r));
  const offsets = [0];
  for (const e of encoded) offsets.push(offsets[offsets.length - 1] + e.length);
  return {
    name,
    kind: SectionKind.strings,
    count: rows.length,
    param: offsets[rows.length],
    fill: (s, v, p) => {
      u32(v, p.offsets.offset, offsets);
      for (const [i, e] of encoded.entries()) s.set(e, p.bytes.offset + offsets[i]);
    },
  };
}

/**
 * One valid section of every kind (two variants of ragged and ids), plus one of an unknown kind: a cache of 4
 * rows that the reader opens.
 */
export const SAMPLE_SECTIONS: SectionSpec[] = [
  {
    name: 'ids',
    kind: SectionKind.ids,
    flags: IDS_DENSE_INDEX,
    count: 4,
    param: 100,
    param2: 8,
    fill: (_, v, p) => {
      i32(v, p.ids.offset, [100, 102, 103, 107]);
      i32(v, p.index.offset, [0, -1, 1, 2, -1, -1, -1, 3]);
    },
  },
  {
    name: 'ids-sorted',
    kind: SectionKind.ids,
    count: 4,
    param: 0,
    param2: 0,
    fill: (_, v, p) => {
      i32(v, p.ids.offset, [7, 3, 9, 1]);
      u32(v, p.index.offset, [3, 1, 0, 2]);
    },
  },
  {
    name: 'embeddings',
    kind: SectionKind.matrix,
    count: 4,
    param: 3,
    fill: (_, v, p) => f32(v, p.values.offset, [0.5, 1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
  },
  {
    name: 'similar',
    kind: SectionKind.ragged,
    flags: RAGGED_HAS_SCORES,
    count: 4,
    param: 6,
    fill: (_, v, p) => {
      u32(v, p.starts.offset, [0, 2, 2, 5]);
      u32(v, p.lengths.offset, [2, 0, 3, 1]);
      i32(v, p.values.offset, [1, 2, 0, 1, 3, 2]);
      f32(v, p.scores.offset, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]);
    },
  },
  {
    name: 'diversity',
    kind: SectionKind.ragged,
    count: 4,
    param: 3,
    fill: (_, v, p) => {
      u32(v, p.starts.offset, [0, 1, 2, 3]);
      u32(v, p.lengths.offset, [1, 1, 1, 0]);
      i32(v, p.values.offset, [3, 2, 1]);
    },
  },
  strings('title', ['Ode', 'Élégie', '', 'Sonnet 18']),
  strings('category', ['', 'ode', 'ode', '五言']),
  {
    name: 'meta',
    kind: SectionKind.json,
    count: 17,
    fill: (s, _, p) => s.set(new TextEncoder().encode('{"poems":4,"v":1}'), p.bytes.offset),
  },
  { name: 'future-kind', kind: 77, elementType: 9, count: 3, byteLength: 10, fill: (s) => s.fill(0xab) },
];

export function sampleImage(): Uint8Array {
  return buildImage(SAMPLE_SECTIONS);
}
