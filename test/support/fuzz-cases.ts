// Property-based fuzzing of the cache READER, end to end: valid caches written by cache/writer.ts are mutated at
// random (fast-check), written to a file and opened through both paths of openCache() (the native addon's mmap
// and the pure-JS fallback's read; cache/validate.ts checks both images). Shared by test/fuzz.test.ts (short
// seeded CI run) and scripts/fuzz.ts (the same property at scale). test/open-paths.test.ts holds the deterministic
// corpus; this file never calls parseCache directly, only the public reader.
//
// The property, for every mutated image and each path:
//   - openCache either throws a CacheFormatError (on both paths) whose message is `${file}: byte N: expected ...`,
//     or returns a reader;
//   - on a reader, every accessor over every row either returns a value that matches an independent decode of
//     the raw image (so no view is clamped, shifted or outside its section, its part and reader.bytes), or
//     throws the reader's own Error (`${file}: ...`); `metadata` may also throw the reader's format error
//     (mutated JSON text);
//   - both paths make the same accept/reject decision, with the same message when they reject;
//   - nothing crashes the process (native runs in-process) and no case takes longer than the watchdog allows.
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import {
  align,
  E,
  H,
  HEADER_SIZE,
  SECTION_ENTRY_SIZE,
  SectionKind,
  sectionShape,
  ElementType,
} from '../../cache/layout.ts';
import { forgetCache, openCache, type CacheReader } from '../../cache/reader.ts';
import { CacheFormatError, type SectionInfo } from '../../cache/validate.ts';
import {
  encodeCacheData,
  encodeJson,
  encodeRagged,
  encodeStrings,
  writeCache,
  type EncodedSection,
} from '../../cache/writer.ts';
import { loadNative } from '../../native/index.ts';
import { reseal } from '../native-cache-image.ts';

// ---------------------------------------------------------------------------------------------------------
// Base images: valid caches of a few shapes, written by writeCache (plus unknown-kind sections appended).

export interface BaseImage {
  name: string;
  bytes: Uint8Array;
}

/** Appends a section of an unknown kind after the last one and reseals (the writer refuses unknown kinds). */
function appendUnknownSection(
  image: Uint8Array,
  name: string,
  kind: number,
  elementType: number,
  payload: Uint8Array,
): Uint8Array {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const n = view.getUint32(H.sectionCount, true);
  const at = HEADER_SIZE + n * SECTION_ENTRY_SIZE;
  // The writer reserves room for 16 table entries; the first section starts after that room.
  const offset = align(image.length);
  const out = new Uint8Array(offset + payload.length);
  out.set(image);
  out.set(payload, offset);
  const v = new DataView(out.buffer);
  if (at + SECTION_ENTRY_SIZE > new DataView(out.buffer).getBigUint64(HEADER_SIZE + E.offset, true))
    throw new Error('no room in the table');
  out.set(new TextEncoder().encode(name), at + E.name);
  v.setUint16(at + E.kind, kind, true);
  v.setUint16(at + E.elementType, elementType, true);
  v.setBigUint64(at + E.offset, BigInt(offset), true);
  v.setBigUint64(at + E.byteLength, BigInt(payload.length), true);
  v.setUint32(at + E.count, payload.length, true);
  v.setUint32(H.sectionCount, n + 1, true);
  v.setBigUint64(H.fileSize, BigInt(out.length), true);
  return reseal(out);
}

/** Writes the base caches into `dir` with writeCache and returns their bytes. */
export async function makeBaseImages(dir: string): Promise<BaseImage[]> {
  const out: BaseImage[] = [];
  const write = async (name: string, data: Parameters<typeof writeCache>[1]) => {
    const path = join(dir, `base-${name}.poemcache`);
    await writeCache(path, data);
    out.push({ name, bytes: new Uint8Array(readFileSync(path)) });
  };
  // 1. Everything: dense ids, embeddings, scored and unscored lists with empty rows, non-ASCII strings, meta.
  const ids = [100, 101, 103, 104, 107, 108];
  const dim = 3;
  await write('full-dense', {
    ids,
    embeddings: { dim, values: Float32Array.from({ length: ids.length * dim }, (_, i) => i / 4 - 2) },
    similar: {
      lists: [[1, 2], [], [0, 3, 5], [4], [5, 0], []],
      scores: [[0.9, 0.5], [], [1, 0.25, -0.5], [0.1], [0.7, 0.6], []],
    },
    diversity: { lists: [[0, 5, 1], [1], [2, 3], [3], [4, 2, 0, 1], [5]] },
    title: ['静夜思', 'Ode', '', 'Élégie — “x”', 'emoji 🌙', 'Sonnet 18'],
    text: ['床前明月光，\n疑是地上霜。', 'a', '', 'b\u0000c', 'ü', 'Shall I compare thee'],
    category: ['五言绝句', 'ode', '', 'c', 'c', 'sonnet'],
    date: ['618–907', '', '', '2024-01-01', '', '1609'],
    meta: { source: 'fuzz', poems: ids.length, nested: { ünï: [1, 2, 3] } },
  });
  // 2. Sparse ids (sorted index), no embeddings, unscored similar only, some empty strings.
  const sparse = [5, 900_000, 12, 2_000_000_000, 77];
  await write('sparse-sorted', {
    ids: sparse,
    similar: { lists: [[1], [], [0, 1, 2, 3, 4], [], [3]] },
    title: ['α', 'β', '', 'δ', ''],
    date: ['', '', '', '', ''],
  });
  // 3. No rows at all: empty dense ids, empty lists and strings, meta.
  await write('empty', { ids: [], similar: { lists: [] }, title: [], meta: {} });
  // 4. Extra sections the reader does not know by name (known kinds) plus unknown kinds appended.
  const extra: EncodedSection[] = [
    ...encodeCacheData({
      ids: [1, 2, 3],
      embeddings: { dim: 2, values: new Float32Array([1, 2, 3, 4, 5, 6]) },
      diversity: { lists: [[0, 1], [1], [2, 0]], scores: [[1, 0.5], [1], [1, 0]] },
      text: ['x', 'yy', 'zzz'],
    }),
    encodeRagged('neighbours-v2', [[2], [0, 2], []]),
    encodeStrings('notes', ['n1', '', 'ñ3']),
    encodeJson('build-info', { tool: 'fuzz' }),
  ];
  await write('extra-sections', extra);
  const last = out[out.length - 1];
  last.bytes = appendUnknownSection(last.bytes, 'future-kind', 77, 9, new Uint8Array(10).fill(0xab));
  last.bytes = appendUnknownSection(last.bytes, 'zero-kind', 0, ElementType.u8, new Uint8Array(64).fill(7));
  // 5. One row, one-dimensional embedding, the largest id, a meta object with odd keys.
  await write('single', {
    ids: [2_147_483_647],
    embeddings: { dim: 1, values: new Float32Array([0.5]) },
    title: ['only'],
    meta: { '': null, '\u0000': ['x'] },
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Mutations: plain data (fast-check generates, prints and shrinks them), resolved against the current image.

type Width = 1 | 2 | 4 | 8;

/** A value to write: a constant, or one relative to the file, the field itself or a neighbouring entry. */
export type ValueSpec =
  | { k: 'const'; v: bigint }
  | { k: 'fileSize'; delta: number }
  | { k: 'current'; delta: number }
  | { k: 'entry'; entry: number; field: 'offset' | 'end' | 'byteLength' | 'count' | 'param'; delta: number };

export type Mutation =
  | { op: 'header'; field: keyof typeof HEADER_FIELDS; value: ValueSpec }
  | { op: 'table'; entry: number; field: keyof typeof ENTRY_FIELDS; value: ValueSpec }
  | { op: 'sectionWord'; entry: number; part: number; index: number; value: ValueSpec }
  | { op: 'flip'; at: number; xor: number }
  | { op: 'truncate'; keep: number }
  | { op: 'extend'; by: number; fill: number }
  | { op: 'zero'; at: number; length: number }
  | { op: 'copyEntry'; from: number; to: number }
  | { op: 'swapEntries'; a: number; b: number };

export type Seal = 'none' | 'checksums' | 'size+checksums';

export interface FuzzCase {
  base: number;
  mutations: Mutation[];
  seal: Seal;
}

const HEADER_FIELDS = {
  magic: [H.magic, 8],
  major: [H.major, 2],
  minor: [H.minor, 2],
  byteOrder: [H.byteOrder, 4],
  flags: [H.flags, 4],
  sectionCount: [H.sectionCount, 4],
  fileSize: [H.fileSize, 8],
  tableOffset: [H.tableOffset, 8],
  entrySize: [H.entrySize, 4],
  tableChecksum: [H.tableChecksum, 4],
  reserved: [H.reserved, 8],
  headerChecksum: [H.headerChecksum, 4],
} as const satisfies Record<string, readonly [number, Width]>;

const ENTRY_FIELDS = {
  name: [E.name, 8],
  kind: [E.kind, 2],
  elementType: [E.elementType, 2],
  flags: [E.flags, 4],
  offset: [E.offset, 8],
  byteLength: [E.byteLength, 8],
  count: [E.count, 4],
  param: [E.param, 4],
  param2: [E.param2, 4],
  checksum: [E.checksum, 4],
} as const satisfies Record<string, readonly [number, Width]>;

const INTERESTING: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  4n,
  5n,
  6n,
  7n,
  9n,
  63n,
  64n,
  65n,
  127n,
  128n,
  1024n,
  1025n,
  0x7fffn,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  0x100000000n,
  0x1fffffffffffffn,
  0x20000000000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
];

const nat = fc.nat({ max: 1 << 20 });
const delta = fc.constantFrom(0, 0, 1, -1, 4, -4, 64, -64);
const valueSpec: fc.Arbitrary<ValueSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('const' as const), v: fc.constantFrom(...INTERESTING) }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('const' as const), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('fileSize' as const), delta }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('current' as const),
      delta: fc.constantFrom(1, -1, 2, -2, 4, 64, -64, 0x10000),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('entry' as const),
      entry: nat,
      field: fc.constantFrom(
        'offset' as const,
        'end' as const,
        'byteLength' as const,
        'count' as const,
        'param' as const,
      ),
      delta,
    }),
  },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('header' as const),
      field: fc.constantFrom(...(Object.keys(HEADER_FIELDS) as (keyof typeof HEADER_FIELDS)[])),
      value: valueSpec,
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('table' as const),
      entry: nat,
      field: fc.constantFrom(...(Object.keys(ENTRY_FIELDS) as (keyof typeof ENTRY_FIELDS)[])),
      value: valueSpec,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('sectionWord' as const),
      entry: nat,
      part: nat,
      index: nat,
      value: valueSpec,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), keep: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('extend' as const),
      by: fc.integer({ min: 1, max: 256 }),
      fill: fc.constantFrom(0, 0xff, 0x41),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('zero' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 128 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('copyEntry' as const), from: nat, to: nat }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swapEntries' as const), a: nat, b: nat }) },
);

export function fuzzCaseArbitrary(baseCount: number): fc.Arbitrary<FuzzCase> {
  return fc.record({
    base: fc.nat({ max: baseCount - 1 }),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
    // Most cases re-fix what the checksums and the size field guard, so mutations reach the deep checks.
    seal: fc.oneof(
      { weight: 3, arbitrary: fc.constant('none' as const) },
      { weight: 4, arbitrary: fc.constant('checksums' as const) },
      { weight: 3, arbitrary: fc.constant('size+checksums' as const) },
    ),
  });
}

function readUint(bytes: Uint8Array, at: number, width: Width): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(at + i < bytes.length ? bytes[at + i] : 0);
  return v;
}

function writeUint(bytes: Uint8Array, at: number, width: Width, value: bigint): void {
  let v = BigInt.asUintN(width * 8, value);
  for (let i = 0; i < width; i++, v >>= 8n) if (at + i < bytes.length) bytes[at + i] = Number(v & 0xffn);
}

function sectionCount(bytes: Uint8Array): number {
  return bytes.length >= HEADER_SIZE ? Number(readUint(bytes, H.sectionCount, 4)) : 0;
}

/** Entry `i` modulo the table (one past the end included), or undefined when no table lies in the image. */
function entryAt(bytes: Uint8Array, i: number): number | undefined {
  const n = Math.min(sectionCount(bytes), 64);
  const at = HEADER_SIZE + (i % (n + 1)) * SECTION_ENTRY_SIZE;
  return at + SECTION_ENTRY_SIZE <= bytes.length ? at : undefined;
}

function resolveValue(bytes: Uint8Array, spec: ValueSpec, at: number, width: Width): bigint {
  switch (spec.k) {
    case 'const':
      return spec.v;
    case 'fileSize':
      return BigInt(bytes.length + spec.delta);
    case 'current':
      return readUint(bytes, at, width) + BigInt(spec.delta);
    case 'entry': {
      const e = entryAt(bytes, spec.entry);
      if (e === undefined) return BigInt(spec.delta);
      const offset = readUint(bytes, e + E.offset, 8);
      const byteLength = readUint(bytes, e + E.byteLength, 8);
      const v =
        spec.field === 'offset'
          ? offset
          : spec.field === 'byteLength'
            ? byteLength
            : spec.field === 'end'
              ? offset + byteLength
              : readUint(bytes, e + (spec.field === 'count' ? E.count : E.param), 4);
      return v + BigInt(spec.delta);
    }
  }
}

/** Applies a case to a copy of its base image. */
export function applyCase(base: Uint8Array, c: FuzzCase): Uint8Array {
  let bytes = Uint8Array.from(base);
  for (const m of c.mutations) {
    switch (m.op) {
      case 'header': {
        const [at, width] = HEADER_FIELDS[m.field];
        writeUint(bytes, at, width, resolveValue(bytes, m.value, at, width));
        break;
      }
      case 'table': {
        const e = entryAt(bytes, m.entry);
        if (e === undefined) break;
        const [rel, width] = ENTRY_FIELDS[m.field];
        writeUint(bytes, e + rel, width, resolveValue(bytes, m.value, e + rel, width));
        break;
      }
      case 'sectionWord': {
        // A u32 inside one array of a section (string offsets, list starts/lengths, id index, ids, values).
        const e = entryAt(bytes, m.entry);
        if (e === undefined) break;
        const shape = sectionShape({
          kind: Number(readUint(bytes, e + E.kind, 2)),
          flags: Number(readUint(bytes, e + E.flags, 4)),
          count: Number(readUint(bytes, e + E.count, 4)),
          param: Number(readUint(bytes, e + E.param, 4)),
          param2: Number(readUint(bytes, e + E.param2, 4)),
        });
        const offset = Number(readUint(bytes, e + E.offset, 8));
        if (!shape || !Number.isSafeInteger(offset)) break;
        const part = shape.parts[m.part % shape.parts.length];
        const words = Math.floor(part.bytes / 4);
        if (words === 0) break;
        const at = offset + part.offset + (m.index % words) * 4;
        if (at + 4 <= bytes.length) writeUint(bytes, at, 4, resolveValue(bytes, m.value, at, 4));
        break;
      }
      case 'flip':
        if (bytes.length > 0) bytes[m.at % bytes.length] ^= m.xor;
        break;
      case 'truncate':
        bytes = bytes.slice(0, m.keep % (bytes.length + 1));
        break;
      case 'extend': {
        const grown = new Uint8Array(bytes.length + m.by).fill(m.fill);
        grown.set(bytes);
        bytes = grown;
        break;
      }
      case 'zero':
        if (bytes.length > 0) bytes.fill(0, m.at % bytes.length, (m.at % bytes.length) + m.length);
        break;
      case 'copyEntry':
      case 'swapEntries': {
        const a = entryAt(bytes, m.op === 'copyEntry' ? m.from : m.a);
        const b = entryAt(bytes, m.op === 'copyEntry' ? m.to : m.b);
        if (a === undefined || b === undefined || a === b) break;
        const ea = bytes.slice(a, a + SECTION_ENTRY_SIZE);
        if (m.op === 'swapEntries') bytes.copyWithin(a, b, b + SECTION_ENTRY_SIZE);
        bytes.set(ea, b);
        break;
      }
    }
  }
  if (c.seal === 'size+checksums' && bytes.length >= HEADER_SIZE) writeUint(bytes, H.fileSize, 8, BigInt(bytes.length));
  if (c.seal !== 'none') reseal(bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------
// The property.

export type PathName = 'native' | 'fallback';

export interface PathStats {
  accepted: number;
  rejected: number;
}

export interface FuzzStats {
  cases: number;
  native: PathStats;
  fallback: PathStats;
  /** Rejections by kind of message (numbers and names blanked), over both paths. */
  reasons: Map<string, number>;
  /** Accessor calls on accepted readers that threw the reader's own error, and metadata SyntaxErrors. */
  accessorErrors: number;
  metadataErrors: number;
  slowestCaseMs: number;
}

export const newStats = (): FuzzStats => ({
  cases: 0,
  native: { accepted: 0, rejected: 0 },
  fallback: { accepted: 0, rejected: 0 },
  reasons: new Map(),
  accessorErrors: 0,
  metadataErrors: 0,
  slowestCaseMs: 0,
});

export class FuzzFailure extends Error {
  constructor(path: PathName | 'both', message: string) {
    super(`[${path}] ${message}`);
    this.name = 'FuzzFailure';
  }
}

type Outcome = { accepted: true } | { accepted: false; message: string };

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface Fuzzer {
  dir: string;
  bases: BaseImage[];
  native: boolean;
  stats: FuzzStats;
  /** Runs one case; throws FuzzFailure when the property does not hold. */
  check(c: FuzzCase): void;
  /** The progress counter a watchdog watches (case number in slot 0). */
  progress: Int32Array;
  close(): void;
}

export async function createFuzzer(): Promise<Fuzzer> {
  const dir = mkdtempSync(join(tmpdir(), 'poem-cache-fuzz-'));
  const bases = await makeBaseImages(dir);
  const native = loadNative() !== undefined;
  const stats = newStats();
  const file = resolve(dir, 'case.poemcache');
  const formatMessage = new RegExp(`^${escapeRegExp(file)}: byte \\d+: expected `);
  const progress = new Int32Array(new SharedArrayBuffer(8));
  let counting = true;

  const openPath = (path: PathName): { outcome: Outcome; reader?: CacheReader } => {
    forgetCache(file);
    try {
      const reader = openCache(file, { fallback: path === 'fallback' });
      if (path === 'native' && reader.backing !== 'mmap')
        throw new FuzzFailure(path, `expected an mmap reader, got ${reader.backing}`);
      return { outcome: { accepted: true }, reader };
    } catch (error) {
      if (error instanceof FuzzFailure) throw error;
      const e = error as Error;
      if (!(error instanceof CacheFormatError) || !formatMessage.test(e.message)) {
        throw new FuzzFailure(
          path,
          `open threw something other than a format error: ${e?.name}: ${e?.message}\n${e?.stack ?? ''}`,
        );
      }
      return { outcome: { accepted: false, message: e.message } };
    } finally {
      // Also lets go of the fallback's shared image: a long run opens 100,000 file versions.
      forgetCache(file);
    }
  };

  const check = (c: FuzzCase) => {
    const started = performance.now();
    const image = applyCase(bases[c.base].bytes, c);
    // A new file per case, as the writer makes one (a replacing rename costs ext4 a flush, 1 ms a case;
    // rewriting in place makes every truncate walk all the mappings the GC has not released yet). The reader's
    // per-thread cache and the fallback's environment data are dropped around every open.
    rmSync(file, { force: true });
    writeFileSync(file, image);
    const outcomes: Partial<Record<PathName, Outcome>> = {};
    for (const path of native ? (['native', 'fallback'] as const) : (['fallback'] as const)) {
      const { outcome, reader } = openPath(path);
      outcomes[path] = outcome;
      if (reader) exercise(reader, image, file, path, stats, counting);
      if (counting) {
        stats[path][outcome.accepted ? 'accepted' : 'rejected']++;
        if (!outcome.accepted) {
          const reason = outcome.message
            .slice(file.length)
            .replace(/^: byte \d+: expected /, '')
            .replace(/, found .*$/s, '')
            .replace(/"[^"]*"/g, '"…"')
            .replace(/0x[0-9a-f]+/g, '0x…')
            .replace(/(?<![\w-])\d+(?![\dx])/g, 'N')
            .slice(0, 70);
          stats.reasons.set(reason, (stats.reasons.get(reason) ?? 0) + 1);
        }
      }
    }
    const n = outcomes.native;
    const f = outcomes.fallback!;
    if (n && n.accepted !== f.accepted) {
      throw new FuzzFailure(
        'both',
        `native ${n.accepted ? 'accepted' : `rejected (${(n as { message: string }).message})`} but fallback ` +
          `${f.accepted ? 'accepted' : `rejected (${(f as { message: string }).message})`}`,
      );
    }
    if (n && !n.accepted && !f.accepted && n.message !== f.message) {
      throw new FuzzFailure('both', `different messages:\n  native:   ${n.message}\n  fallback: ${f.message}`);
    }
    const ms = performance.now() - started;
    if (counting) {
      stats.cases++;
      if (ms > stats.slowestCaseMs) stats.slowestCaseMs = ms;
    }
  };

  return {
    dir,
    bases,
    native,
    stats,
    progress,
    check: (c) => {
      try {
        check(c);
      } catch (e) {
        counting = false; // shrinking re-runs cases: keep the counts of the run itself
        throw e;
      } finally {
        Atomics.add(progress, 0, 1);
      }
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Every accessor over every row, checked against an independent decode of the raw image.

function exercise(
  reader: CacheReader,
  image: Uint8Array,
  file: string,
  path: PathName,
  stats: FuzzStats,
  counting: boolean,
): void {
  const fail = (what: string): never => {
    throw new FuzzFailure(path, what);
  };
  const bytes = reader.bytes;
  if (
    bytes.byteLength !== image.length ||
    Buffer.compare(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), image) !== 0
  ) {
    fail(`reader.bytes (${bytes.byteLength} bytes) is not the file's image (${image.length} bytes)`);
  }
  const raw = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const ownError = (e: unknown) =>
    e instanceof Error && !(e instanceof FuzzFailure) && e.message.startsWith(`${file}: `);
  /** Runs an accessor: a value, or undefined when it threw the reader's own error (anything else fails). */
  const call = <T>(what: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (e instanceof FuzzFailure) throw e;
      if (!ownError(e))
        fail(`${what} threw ${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack ?? ''}`);
      if (counting) stats.accessorErrors++;
      return undefined;
    }
  };
  const byName = new Map(reader.sections.filter((s) => s.known).map((s) => [s.name, s]));
  /** A view must lie inside reader.bytes, inside its section and inside the named part, at the expected place. */
  const expectView = (
    what: string,
    view: ArrayBufferView,
    s: SectionInfo,
    part: string,
    elementOffset: number,
    length: number,
    elementBytes: number,
  ) => {
    const p = s.parts[part];
    if (!p) fail(`${what}: section "${s.name}" has no part "${part}"`);
    if (view.buffer !== bytes.buffer) fail(`${what}: a view onto another buffer`);
    const start = view.byteOffset - bytes.byteOffset;
    const end = start + view.byteLength;
    if (start < 0 || end > bytes.byteLength)
      fail(`${what}: view ${start}..${end} outside the image (${bytes.byteLength} bytes)`);
    if (start < s.offset || end > s.offset + s.byteLength)
      fail(`${what}: view ${start}..${end} outside section "${s.name}" (${s.offset}..${s.offset + s.byteLength})`);
    if (start < p.offset || end > p.offset + p.bytes)
      fail(`${what}: view ${start}..${end} outside part "${part}" (${p.offset}..${p.offset + p.bytes})`);
    const wantStart = p.offset + elementOffset * elementBytes;
    if (start !== wantStart || view.byteLength !== length * elementBytes) {
      fail(`${what}: view ${start}+${view.byteLength} bytes, the image says ${wantStart}+${length * elementBytes}`);
    }
  };
  const u32 = (p: { offset: number }, i: number) => raw.getUint32(p.offset + i * 4, true);

  const count = reader.count;
  const ids = byName.get('ids');
  if (!ids || ids.kind !== SectionKind.ids) fail('accepted without an "ids" section of kind ids');
  if (count !== ids!.count) fail(`count ${count}, ids section says ${ids!.count}`);

  // Rows outside the table are refused with RangeError.
  for (const row of [-1, count, count + 1, 0.5, Number.NaN, 2 ** 32]) {
    try {
      reader.idOf(row);
      fail(`idOf(${row}) returned for a cache of ${count} rows`);
    } catch (e) {
      if (!(e instanceof RangeError) || !ownError(e))
        fail(`idOf(${row}) threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
  }
  for (const id of [-1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, ids!.param - 1, ids!.param + ids!.param2, 0.5, Number.NaN]) {
    const r = call(`rowOf(${id})`, () => reader.rowOf(id));
    if (r !== undefined && !(r === -1 || (Number.isInteger(r) && r >= 0 && r < count))) fail(`rowOf(${id}) = ${r}`);
  }

  const emb = byName.get('embeddings');
  const lists = new Set([
    'similar',
    'diversity',
    ...reader.sections.filter((s) => s.known && s.kind === SectionKind.ragged).map((s) => s.name),
  ]);
  const strings = new Set([
    'title',
    'text',
    'category',
    'date',
    ...reader.sections.filter((s) => s.known && s.kind === SectionKind.strings).map((s) => s.name),
  ]);
  for (let row = 0; row < count; row++) {
    const id = call(`idOf(${row})`, () => reader.idOf(row));
    if (id === undefined || id !== raw.getInt32(ids!.parts.ids.offset + row * 4, true))
      fail(`idOf(${row}) = ${id}, the image says ${raw.getInt32(ids!.parts.ids.offset + row * 4, true)}`);
    const back = call(`rowOf(${id})`, () => reader.rowOf(id!));
    if (back !== undefined && !(back === -1 || (Number.isInteger(back) && back >= 0 && back < count)))
      fail(`rowOf(${id}) = ${back}`);

    const e = call(`embedding(${row})`, () => reader.embedding(row));
    if (e !== undefined) {
      if (!emb || emb.kind !== SectionKind.matrix) fail(`embedding(${row}) returned without an embeddings matrix`);
      expectView(`embedding(${row})`, e, emb!, 'values', row * emb!.param, emb!.param, 4);
    } else if (emb && emb.kind === SectionKind.matrix)
      fail(`embedding(${row}) threw although the cache has embeddings`);

    for (const name of lists) {
      const s = byName.get(name);
      const ragged = s && s.kind === SectionKind.ragged ? s : undefined;
      const v = call(`list("${name}", ${row})`, () => reader.list(name, row));
      const sc = call(`listScores("${name}", ${row})`, () => reader.listScores(name, row));
      if (!ragged) {
        if (v !== undefined || sc !== undefined)
          fail(`list("${name}", ${row}) returned without a ragged section "${name}"`);
        continue;
      }
      if (v === undefined || (sc === undefined && ragged.parts.scores))
        fail(`list("${name}", ${row}) threw although the section exists`);
      const start = u32(ragged.parts.starts, row);
      const length = u32(ragged.parts.lengths, row);
      if (start + length > ragged.param)
        fail(
          `row ${row} of "${name}" (start ${start}, length ${length}) passed validation outside ${ragged.param} values`,
        );
      if (length > 0) expectView(`list("${name}", ${row})`, v!, ragged, 'values', start, length, 4);
      else if (v!.length !== 0) fail(`list("${name}", ${row}) has ${v!.length} values, the image says 0`);
      if (ragged.parts.scores) {
        if (!sc) fail(`listScores("${name}", ${row}) is undefined although the section has scores`);
        expectView(`listScores("${name}", ${row})`, sc!, ragged, 'scores', start, length, 4);
      } else if (sc !== undefined) fail(`listScores("${name}", ${row}) returned without scores`);
    }
    // The named accessors are the generic ones by a fixed name.
    const named: [string, (r: number) => unknown][] = [
      ['similar', (r) => reader.similar(r)],
      ['diversity', (r) => reader.diversity(r)],
      ['similar', (r) => reader.similarScores(r)],
      ['title', (r) => reader.title(r)],
      ['text', (r) => reader.text(r)],
      ['category', (r) => reader.category(r)],
      ['date', (r) => reader.date(r)],
    ];
    for (const [name, f] of named) call(`${name}(${row})`, () => f(row));

    for (const name of strings) {
      const s = byName.get(name);
      const str = s && s.kind === SectionKind.strings ? s : undefined;
      const v = call(`string("${name}", ${row})`, () => reader.string(name, row));
      if (!str) {
        if (v !== undefined) fail(`string("${name}", ${row}) returned without a strings section "${name}"`);
        continue;
      }
      if (v === undefined) fail(`string("${name}", ${row}) threw although the section exists`);
      const a = u32(str.parts.offsets, row);
      const b = u32(str.parts.offsets, row + 1);
      if (a > b || b > str.param)
        fail(`string ${row} of "${name}" (${a}..${b}) passed validation outside ${str.param} bytes`);
      const want = Buffer.from(image.buffer, image.byteOffset + str.parts.bytes.offset + a, b - a).toString('utf8');
      if (v !== want) fail(`string("${name}", ${row}) = ${JSON.stringify(v)}, the image says ${JSON.stringify(want)}`);
    }
  }

  // metadata: JSON.parse of the "meta" section; a mutated document, or one that is not an object, is the
  // reader's own format error naming the file (never a bare SyntaxError).
  const meta = reader.sections.find((s) => s.name === 'meta' && s.kind === SectionKind.json);
  for (let i = 0; i < 2; i++) {
    try {
      const m = reader.metadata;
      if (!meta && (typeof m !== 'object' || m === null || Object.keys(m).length !== 0))
        fail('metadata of a cache without "meta" is not {}');
    } catch (e) {
      if (e instanceof FuzzFailure) throw e;
      if (!(e instanceof CacheFormatError) || !meta || !e.message.startsWith(`${file}: byte `))
        fail(`metadata threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
      if (counting) stats.metadataErrors++;
    }
  }
  for (const name of ['embeddings', 'similar', 'nope'])
    if (typeof reader.has(name) !== 'boolean') fail(`has("${name}")`);
}

// ---------------------------------------------------------------------------------------------------------
// Watchdog: a worker that SIGKILLs the process, after saying which case hung, when the counter stalls.
// A synchronous hang in the reader or the addon cannot be interrupted from the same thread.

export function startWatchdog(
  progress: Int32Array,
  timeoutMs: number,
  label: string,
): { stop(): void; setLabel(l: string): void } {
  const labelBuf = new Uint8Array(new SharedArrayBuffer(512));
  const setLabel = (l: string) => {
    labelBuf.fill(0);
    labelBuf.set(new TextEncoder().encode(l).subarray(0, 511));
  };
  setLabel(label);
  const worker = new Worker(
    `
    const { workerData } = require('node:worker_threads');
    const { writeSync } = require('node:fs');
    const { progress, labelBuf, timeoutMs } = workerData;
    const tick = new Int32Array(new SharedArrayBuffer(4));
    let last = Atomics.load(progress, 0), since = Date.now();
    for (;;) {
      Atomics.wait(tick, 0, 0, 250);
      const now = Atomics.load(progress, 0);
      if (now !== last) { last = now; since = Date.now(); continue; }
      if (Date.now() - since > timeoutMs) {
        const label = Buffer.from(labelBuf).toString('utf8').replace(/\\0+$/, '');
        writeSync(2, '\\nfuzz watchdog: no case finished for ' + timeoutMs + ' ms after case ' + now + ' (' + label +
          '): hang, killing the process\\n');
        process.kill(process.pid, 'SIGKILL');
      }
    }
  `,
    { eval: true, workerData: { progress, labelBuf, timeoutMs } },
  );
  worker.unref();
  return { stop: () => void worker.terminate(), setLabel };
}

// ---------------------------------------------------------------------------------------------------------
// A run: fast-check over the property, with counts.

export interface RunResult {
  seed: number;
  numRuns: number;
  ms: number;
  stats: FuzzStats;
  native: boolean;
  failure?: { message: string; counterexample: string; path: string; seed: number };
}

const YIELD_EVERY = 256;

export async function runFuzz(options: {
  cases: number;
  seed: number;
  path?: string;
  watchdogMs?: number;
  onProgress?: (done: number) => void;
}): Promise<RunResult> {
  const fuzzer = await createFuzzer();
  // The counter is the 0-based run number while no case has failed: `--seed S --path N` replays run N.
  const watchdog = startWatchdog(
    fuzzer.progress,
    options.watchdogMs ?? 20_000,
    `seed ${options.seed}: replay with node scripts/fuzz.ts --seed ${options.seed} --path <case>`,
  );
  const started = performance.now();
  try {
    const every = Math.max(1, Math.floor(options.cases / 10));
    let sinceYield = 0;
    const details = await fc.check(
      fc.asyncProperty(fuzzCaseArbitrary(fuzzer.bases.length), async (c) => {
        fuzzer.check(c);
        if (options.onProgress && fuzzer.stats.cases % every === 0) options.onProgress(fuzzer.stats.cases);
        // Node unmaps a collected mapping in a later event-loop turn (napi finalizers of external buffers run
        // from setImmediate): a run that never yields would keep every case's mapping, past vm.max_map_count.
        if (++sinceYield === YIELD_EVERY) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
      { seed: options.seed, numRuns: options.cases, path: options.path, endOnFailure: false },
    );
    const result: RunResult = {
      seed: options.seed,
      numRuns: details.numRuns,
      ms: performance.now() - started,
      stats: fuzzer.stats,
      native: fuzzer.native,
    };
    if (details.failed) {
      const err = details.errorInstance as Error | undefined;
      result.failure = {
        message: err?.message ?? String(details.errorInstance),
        counterexample: fc.stringify(details.counterexample?.[0]),
        path: details.counterexamplePath ?? '',
        seed: details.seed,
      };
    }
    return result;
  } finally {
    watchdog.stop();
    fuzzer.close();
  }
}

/** Human-readable summary lines of a run. */
export function describeRun(r: RunResult, top = 12): string[] {
  const s = r.stats;
  const lines = [
    `fuzz: seed ${r.seed}, ${s.cases} cases in ${(r.ms / 1000).toFixed(1)} s (slowest case ` +
      `${s.slowestCaseMs.toFixed(1)} ms)${r.native ? '' : ' — native addon NOT available: fallback path only'}`,
    `  native:   ${r.native ? `${s.native.accepted} accepted, ${s.native.rejected} rejected` : 'skipped'}`,
    `  fallback: ${s.fallback.accepted} accepted, ${s.fallback.rejected} rejected`,
    `  on accepted readers: ${s.accessorErrors} accessor calls threw the reader's own error, ${s.metadataErrors} ` +
      'metadata format errors',
    `  rejections by message (both paths, top ${Math.min(top, s.reasons.size)} of ${s.reasons.size} kinds):`,
    ...[...s.reasons]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, n]) => `    ${String(n).padStart(7)}  ${k}`),
  ];
  if (r.failure) {
    lines.push(
      `FAILURE: ${r.failure.message}`,
      `  counterexample: ${r.failure.counterexample}`,
      `  replay: node scripts/fuzz.ts --seed ${r.failure.seed} --path ${r.failure.path} --cases ${r.numRuns}`,
    );
  }
  return lines;
}
