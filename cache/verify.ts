// verifyImage: everything that can be checked in a whole cache image, beyond what opening it checks
// (validate.ts: structure, bounds, the meta checksum): every section checksum, that every list value is a row
// and every diversity sequence starts with its own row, that the id index agrees with the ids, that strings
// are UTF-8 and field rows well tagged, that embeddings and scores are finite, that the metadata is JSON.
// `poem-cache verify` prints its result.
import { crc32 } from 'node:zlib';
import {
  FIELD_PREFIX,
  FieldTag,
  IDS_DENSE_INDEX,
  IDS_REPEATED,
  RAGGED_HAS_SCORES,
  SectionKind,
  SectionName,
} from './layout.ts';
import { CacheFormatError, parseCache, sectionChecksumOk, type ParsedCache, type SectionInfo } from './validate.ts';

/** At most this many problems are listed per section; the rest are counted. */
const PER_SECTION = 5;

const count = (n: number) => n.toLocaleString('en-US');
const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** Every problem verify can find, each as one line; an empty list means the file is good. */
export function verifyImage(path: string, bytes: Uint8Array): string[] {
  let parsed: ParsedCache;
  try {
    parsed = parseCache(bytes, path);
  } catch (e) {
    if (e instanceof CacheFormatError) return [e.message];
    throw e;
  }
  const problems: string[] = [];
  for (const s of parsed.sections) {
    if (!sectionChecksumOk(bytes, s)) {
      const actual = crc32(bytes.subarray(s.offset, s.offset + s.byteLength));
      const changed = `bytes ${s.offset}..${s.offset + s.byteLength} changed`;
      const mismatch = `checksum ${hex(actual)} does not match the table's ${hex(s.checksum)}`;
      problems.push(`${path}: section "${s.name}": ${mismatch} (${changed})`);
    }
  }
  const ids = parsed.sections.find((s) => s.name === SectionName.ids && s.kind === SectionKind.ids);
  if (!ids) {
    problems.push(`${path}: no "${SectionName.ids}" section (row <-> poem id table)`);
    return problems;
  }
  for (const s of parsed.sections) {
    if (!s.known) continue;
    const report = sectionReport(path, s, problems);
    checkSection(bytes, s, ids.count, report.add);
    report.done();
  }
  return problems;
}

/** Adds a section's problems to `problems`: the first PER_SECTION, then how many more. */
function sectionReport(path: string, s: SectionInfo, problems: string[]) {
  let n = 0;
  return {
    add(msg: string) {
      if (n++ < PER_SECTION) problems.push(`${path}: section "${s.name}": ${msg}`);
    },
    done() {
      if (n > PER_SECTION) {
        problems.push(`${path}: section "${s.name}": ... and ${n - PER_SECTION} more problems like these`);
      }
    },
  };
}

function checkSection(bytes: Uint8Array, s: SectionInfo, rows: number, add: (msg: string) => void): void {
  const view = <T>(Type: new (b: ArrayBufferLike, o: number, n: number) => T, part: string) =>
    new Type(bytes.buffer, bytes.byteOffset + s.parts[part].offset, s.parts[part].length);
  const perRow = s.kind === SectionKind.matrix || s.kind === SectionKind.ragged || s.kind === SectionKind.strings;
  if (perRow && s.count !== rows) add(`${count(s.count)} rows, expected ${count(rows)} like "${SectionName.ids}"`);
  if (s.kind === SectionKind.ids) {
    const idv = view(Int32Array, 'ids');
    if (s.flags & IDS_DENSE_INDEX) {
      const table = view(Int32Array, 'index');
      let mapped = 0;
      for (let k = 0; k < table.length; k++) if (table[k] >= 0) mapped++;
      for (let r = 0; r < s.count; r++) {
        const k = idv[r] - s.param;
        if (!(k >= 0 && k < table.length) || table[k] !== r) {
          add(`row ${r} (id ${idv[r]}) is not found by the id index`);
        }
      }
      if (mapped !== s.count) add(`the id index maps ${count(mapped)} ids, expected ${count(s.count)}`);
    } else {
      // by id, then by row; equal ids only where the section says ids repeat
      const perm = view(Uint32Array, 'index');
      const repeats = (s.flags & IDS_REPEATED) !== 0;
      for (let k = 1; k < perm.length; k++) {
        const a = idv[perm[k - 1]];
        const b = idv[perm[k]];
        if (a < b || (repeats && a === b && perm[k - 1] < perm[k])) continue;
        const why = a === b && !repeats ? ' (a repeated id, but the section does not say ids repeat)' : '';
        add(`sorted id index entry ${k}: id ${b} (row ${perm[k]}) does not follow id ${a} (row ${perm[k - 1]})${why}`);
      }
    }
  } else if (s.kind === SectionKind.ragged) {
    const starts = view(Uint32Array, 'starts');
    const lengths = view(Uint32Array, 'lengths');
    const values = view(Int32Array, 'values');
    const isDiversity = s.name === SectionName.diversity;
    for (let r = 0; r < s.count; r++) {
      const a = starts[r];
      const n = lengths[r];
      for (let j = 0; j < n; j++) {
        const v = values[a + j];
        if (!(v >= 0 && v < rows)) add(`row ${r}, entry ${j}: row ${v} is outside 0..${rows - 1}`);
      }
      if (isDiversity && n > 0 && values[a] !== r) {
        add(`row ${r}: the sequence starts with row ${values[a]}, expected the row itself`);
      }
    }
    if (s.flags & RAGGED_HAS_SCORES) {
      const scores = view(Float32Array, 'scores');
      for (let k = 0; k < scores.length; k++) if (!Number.isFinite(scores[k])) add(`score ${k} is ${scores[k]}`);
    }
  } else if (s.kind === SectionKind.strings) {
    checkStrings(bytes, s, view(Uint32Array, 'offsets'), add);
  } else if (s.kind === SectionKind.matrix) {
    const v = view(Float32Array, 'values');
    const dim = s.param || 1;
    for (let k = 0; k < v.length; k++) {
      if (!Number.isFinite(v[k])) add(`row ${Math.floor(k / dim)}, column ${k % dim}: ${v[k]}`);
    }
  } else if (s.kind === SectionKind.json) {
    try {
      JSON.parse(utf8.decode(bytes.subarray(s.parts.bytes.offset, s.parts.bytes.offset + s.count)));
    } catch (e) {
      add(`not UTF-8 JSON (${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim()})`);
    }
  }
}

// fatal: refuses bytes that are not UTF-8 (and shared memory, so images are read into unshared buffers)
const utf8 = new TextDecoder('utf-8', { fatal: true });
const FIELD_TAGS: number[] = Object.values(FieldTag);

/** Each row valid UTF-8; in a field section, each non-empty row a tag and a value that fits it. */
function checkStrings(bytes: Uint8Array, s: SectionInfo, offsets: Uint32Array, add: (msg: string) => void): void {
  const base = s.parts.bytes.offset;
  const isField = s.name.startsWith(FIELD_PREFIX);
  for (let r = 0; r < s.count; r++) {
    const a = base + offsets[r];
    const b = base + offsets[r + 1];
    try {
      utf8.decode(bytes.subarray(a, b));
    } catch {
      add(`row ${r}: not valid UTF-8`);
    }
    if (!isField || a === b) continue;
    const tag = bytes[a];
    if (!FIELD_TAGS.includes(tag)) add(`row ${r}: field tag ${tag}, expected one of s, n, t, f`);
    else if (tag === FieldTag.number && !Number.isFinite(Number(latin1(bytes, a + 1, b)))) {
      add(`row ${r}: not a number`);
    } else if ((tag === FieldTag.true || tag === FieldTag.false) && b - a !== 1) {
      add(`row ${r}: a boolean field row of ${b - a} bytes`);
    }
  }
}

/** The bytes as Latin-1 text (a number field's ASCII digits). */
function latin1(bytes: Uint8Array, from: number, to: number): string {
  return Buffer.from(bytes.subarray(from, to)).toString('latin1');
}
