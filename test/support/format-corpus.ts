// A deterministic corpus of cache images for test/open-paths.test.ts: the hand-built sample image of
// test/native-cache-image.ts (one section of every kind) and about 1,750 mutations of it — every header and
// table field set to edge values (resealed and not), truncations and extensions, every per-row index word,
// and random byte changes. Unlike the fuzzer (test/support/fuzz-cases.ts) it is the same on every run.
import { E, H, HEADER_SIZE, SECTION_ENTRY_SIZE, SectionKind, sectionShape } from '../../cache/layout.ts';
import { reseal, SAMPLE_SECTIONS, sampleImage } from '../native-cache-image.ts';

export interface Case {
  label: string;
  bytes: Uint8Array;
}

/** xorshift32: the corpus is the same on every run. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

export function corpus(): Case[] {
  const base = sampleImage();
  const cases: Case[] = [];
  const add = (
    label: string,
    // A mutation changes the copy in place (void) or returns new bytes.
    mutate: ((b: Uint8Array, v: DataView) => Uint8Array) | ((b: Uint8Array, v: DataView) => void),
    resealAfter: boolean[] = [false, true],
  ) => {
    for (const r of resealAfter) {
      const copy = base.slice();
      let out = mutate(copy, new DataView(copy.buffer)) ?? copy;
      if (r) out = reseal(out);
      cases.push({ label: `${label}${r ? ' (resealed)' : ''}`, bytes: out });
    }
  };
  const u16 = (at: number, x: number) => (_: Uint8Array, v: DataView) => v.setUint16(at, x, true);
  const u32 = (at: number, x: number) => (_: Uint8Array, v: DataView) => v.setUint32(at, x >>> 0, true);
  const i32 = (at: number, x: number) => (_: Uint8Array, v: DataView) => v.setInt32(at, x, true);
  const u64 = (at: number, x: bigint) => (_: Uint8Array, v: DataView) =>
    v.setBigUint64(at, BigInt.asUintN(64, x), true);
  const bytesAt = (at: number, xs: number[]) => (b: Uint8Array) => b.set(xs, at);
  const size = base.length;
  const view = new DataView(base.buffer);
  const sectionCount = SAMPLE_SECTIONS.length;
  const tableEnd = HEADER_SIZE + sectionCount * SECTION_ENTRY_SIZE;

  add('valid', () => {}, [false]);

  // Header fields.
  for (const [name, xs] of [
    [
      'magic',
      [
        [0x50, 0x4f, 0x45, 0x4d, 0x43, 0x41, 0x43, 0x58],
        [0x22, 0x5c, 0x0a, 0x00, 0x01, 0x7f, 0x80, 0xff],
        [0x08, 0x09, 0x0c, 0x0d, 0x1f, 0x20, 0xe9, 0x41],
      ],
    ],
    ['reserved', [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]],
  ] as const) {
    for (const x of xs)
      add(`header ${name} = ${x.join(',')}`, bytesAt(name === 'magic' ? H.magic : H.reserved, [...x]));
  }
  for (const x of [0, 2, 3, 0xffff]) add(`header major = ${x}`, u16(H.major, x));
  for (const x of [1, 0xffff]) add(`header minor = ${x}`, u16(H.minor, x));
  for (const x of [0x0d0c0b0a, 0, 0xffffffff]) add(`header byteOrder = ${x}`, u32(H.byteOrder, x));
  for (const x of [1, 0xffffffff]) add(`header flags = ${x}`, u32(H.flags, x));
  for (const x of [0, 1, sectionCount - 1, sectionCount + 1, 25, 1024, 1025, 0xffffffff])
    add(`header sectionCount = ${x}`, u32(H.sectionCount, x));
  for (const x of [0n, BigInt(size - 1), BigInt(size + 1), 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n])
    add(`header fileSize = ${x}`, u64(H.fileSize, x));
  for (const x of [0n, 128n, 63n, 2n ** 60n, 2n ** 64n - 1n]) add(`header tableOffset = ${x}`, u64(H.tableOffset, x));
  for (const x of [0, 32, 65, 128, 0xffffffff]) add(`header entrySize = ${x}`, u32(H.entrySize, x));
  add('header tableChecksum flipped', u32(H.tableChecksum, view.getUint32(H.tableChecksum, true) ^ 1), [false]);
  add('header headerChecksum flipped', u32(H.headerChecksum, view.getUint32(H.headerChecksum, true) ^ 0x80000000), [
    false,
  ]);

  // Every table field of every section.
  for (let i = 0; i < sectionCount; i++) {
    const at = HEADER_SIZE + i * SECTION_ENTRY_SIZE;
    const s = `section ${i}`;
    const offset = Number(view.getBigUint64(at + E.offset, true));
    const byteLength = Number(view.getBigUint64(at + E.byteLength, true));
    const count = view.getUint32(at + E.count, true);
    const param = view.getUint32(at + E.param, true);
    const param2 = view.getUint32(at + E.param2, true);
    const otherName = SAMPLE_SECTIONS[(i + 1) % sectionCount].name;
    const nameBytes = (xs: number[]) => (b: Uint8Array) => {
      b.fill(0, at + E.name, at + E.name + 24);
      b.set(xs.slice(0, 24), at + E.name);
    };
    const enc = (t: string) => [...new TextEncoder().encode(t)];
    add(`${s} name empty`, nameBytes([]));
    add(`${s} name invalid UTF-8`, nameBytes([0x61, 0xff, 0x62]));
    add(`${s} name truncated UTF-8`, nameBytes([0x61, 0xc3]));
    add(`${s} name surrogate`, nameBytes([0xed, 0xa0, 0x80]));
    add(`${s} name overlong`, nameBytes([0xc0, 0xaf]));
    add(`${s} name BOM only`, nameBytes([0xef, 0xbb, 0xbf]));
    add(`${s} name BOM + other's name`, nameBytes([0xef, 0xbb, 0xbf, ...enc(otherName)]));
    add(`${s} name duplicate`, nameBytes(enc(otherName)));
    add(`${s} name 24 bytes no NUL`, nameBytes(enc('abcdefghijklmnopqrstuvwx')));
    add(`${s} name with quote and emoji`, nameBytes(enc('a"b\\c😀\n')));
    add(`${s} name NUL then bytes`, nameBytes([0x61, 0, 0xff]));
    for (const x of [0, 1, 2, 3, 4, 5, 6, 0xffff]) add(`${s} kind = ${x}`, u16(at + E.kind, x));
    for (const x of [0, 1, 2, 3, 4, 0xffff]) add(`${s} elementType = ${x}`, u16(at + E.elementType, x));
    for (const x of [0, 1, 2, 0xffffffff]) add(`${s} flags = ${x}`, u32(at + E.flags, x));
    for (const x of [offset + 1, offset + 64, offset - 64, 0, 64, tableEnd, size, size + 64, 2 ** 53 - 64, 2 ** 53]) {
      add(`${s} offset = ${x}`, u64(at + E.offset, BigInt(x)));
    }
    add(`${s} offset = 2^64 - 64`, u64(at + E.offset, 2n ** 64n - 64n));
    add(
      `${s} offset = other's`,
      u64(
        at + E.offset,
        view.getBigUint64(HEADER_SIZE + ((i + 1) % sectionCount) * SECTION_ENTRY_SIZE + E.offset, true),
      ),
    );
    for (const x of [byteLength + 1, byteLength - 1, 0, byteLength + 64, size])
      add(`${s} byteLength = ${x}`, u64(at + E.byteLength, BigInt(Math.max(0, x))));
    add(`${s} byteLength = 2^64 - 1`, u64(at + E.byteLength, 2n ** 64n - 1n));
    add(`${s} byteLength = 2^53`, u64(at + E.byteLength, 2n ** 53n));
    for (const x of [0, count + 1, count - 1, 0xffffffff]) add(`${s} count = ${x}`, u32(at + E.count, Math.max(0, x)));
    for (const x of [0, param + 1, param - 1, 0xffffffff]) add(`${s} param = ${x}`, u32(at + E.param, Math.max(0, x)));
    for (const x of [0, param2 + 1, 0xffffffff]) add(`${s} param2 = ${x}`, u32(at + E.param2, x));
    add(`${s} checksum flipped`, u32(at + E.checksum, view.getUint32(at + E.checksum, true) ^ 1));
  }
  // A matrix whose shape is far beyond 2^53 bytes: count * param rounds, and the byte-length check refuses it.
  const matrixAt = HEADER_SIZE + SAMPLE_SECTIONS.findIndex((s) => s.kind === SectionKind.matrix) * SECTION_ENTRY_SIZE;
  for (const [c, p] of [
    [0xffffffff, 0xffffffff],
    [0x10000000, 0x1000],
    [0xffffffff, 3],
    [123456789, 987654],
  ]) {
    add(
      `matrix count ${c} x param ${p}`,
      (b, v) => {
        u32(matrixAt + E.count, c)(b, v);
        u32(matrixAt + E.param, p)(b, v);
      },
      [true],
    );
  }

  // Truncations and extensions, with the header's file size left alone or made to match.
  for (const n of [
    0,
    1,
    8,
    63,
    64,
    65,
    100,
    tableEnd - 1,
    tableEnd,
    tableEnd + 1,
    size - 1,
    size - 64,
    Math.floor(size / 2),
  ]) {
    add(`truncated to ${n}`, (b) => b.slice(0, n), [false]);
    add(
      `truncated to ${n} with fileSize`,
      (b) => {
        const out = b.slice(0, n);
        if (n >= 32) new DataView(out.buffer).setBigUint64(H.fileSize, BigInt(n), true);
        return out;
      },
      [true],
    );
  }
  for (const n of [1, 63, 64, 4096]) {
    const extend = (b: Uint8Array) => {
      const out = new Uint8Array(b.length + n);
      out.set(b);
      return out;
    };
    add(`extended by ${n}`, extend, [false]);
    add(
      `extended by ${n} with fileSize`,
      (b) => {
        const out = extend(b);
        new DataView(out.buffer).setBigUint64(H.fileSize, BigInt(out.length), true);
        return out;
      },
      [true],
    );
  }

  // Per-row indexes inside sections (the table stays intact, so checksums need no resealing).
  const shapeOf = (i: number) => {
    const at = HEADER_SIZE + i * SECTION_ENTRY_SIZE;
    const offset = Number(view.getBigUint64(at + E.offset, true));
    const sh = sectionShape({
      kind: view.getUint16(at + E.kind, true),
      flags: view.getUint32(at + E.flags, true),
      count: view.getUint32(at + E.count, true),
      param: view.getUint32(at + E.param, true),
      param2: view.getUint32(at + E.param2, true),
    })!;
    return Object.fromEntries(sh.parts.map((p) => [p.name, offset + p.offset]));
  };
  SAMPLE_SECTIONS.forEach((spec, i) => {
    if (spec.kind === SectionKind.strings) {
      const { offsets } = shapeOf(i);
      for (let r = 0; r <= spec.count; r++) {
        for (const x of [1, 2, 0xffffffff, (spec.param ?? 0) + 1, (spec.param ?? 0) - 1])
          add(`${spec.name} string offset ${r} = ${x}`, u32(offsets + r * 4, Math.max(0, x)), [false]);
      }
    } else if (spec.kind === SectionKind.ragged) {
      const { starts, lengths } = shapeOf(i);
      for (let r = 0; r < spec.count; r++) {
        for (const x of [spec.param ?? 0, 0xffffffff, 0x80000000]) {
          add(`${spec.name} row ${r} start = ${x}`, u32(starts + r * 4, x), [false]);
          add(`${spec.name} row ${r} length = ${x}`, u32(lengths + r * 4, x), [false]);
        }
      }
    } else if (spec.kind === SectionKind.ids) {
      const { index } = shapeOf(i);
      const length = spec.flags ? (spec.param2 ?? 0) : spec.count;
      for (let k = 0; k < length; k++) {
        for (const x of [-2, -1, spec.count - 1, spec.count, 0x7fffffff, -0x80000000])
          add(`${spec.name} index ${k} = ${x}`, i32(index + k * 4, x), [false]);
      }
    }
  });
  // Dense ids whose base id is near 2^32 (the message adds base + k beyond u32).
  const idsAt = HEADER_SIZE;
  add(
    'ids base 0xffffffff and a bad row',
    (b, v) => {
      u32(idsAt + E.param, 0xffffffff)(b, v);
      i32(shapeOf(0).index + 7 * 4, 9)(b, v);
    },
    [true],
  );

  // Random byte changes in header and table, resealed so that the deeper checks run.
  const next = random(0x5eed);
  for (let n = 0; n < 300; n++) {
    const changes = 1 + (next() % 4);
    add(
      `random #${n}`,
      (b) => {
        for (let c = 0; c < changes; c++) b[next() % tableEnd] = next() & 0xff;
      },
      [n % 3 !== 0],
    );
  }
  // ...and anywhere in the file.
  for (let n = 0; n < 100; n++)
    add(`random anywhere #${n}`, (b) => void (b[next() % size] ^= 1 << (next() % 8)), [true]);
  return cases;
}
