// embeddings.json: {"metadata": {"embedding_dimension", ...}, "embeddings": [...]} as the pipeline writes it: an
// array indexed by poem_index (dkjson writes a Lua table with integer keys as an array, null for holes) or an
// object keyed by poem_index; entries {poem_index, id, embedding, content_length, is_random?, error?}.
// An entry names its poem by poem_index (1-based) when it has one, else by id (keys 'auto'); an entry
// without "embedding" (the pipeline's error records) leaves its poem without one.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { ConvertError, ElementError } from './errors.ts';
import { locate, MAX_ID, READING_NAMES, type KeyMode, type KeyReading, type PoemIndex } from './identity.ts';
import { readMeta } from './metadata.ts';
import type { JsonSource } from './json-source.ts';
import { FLT_MAX } from './parse-floats.ts';
import type { Ticker } from './ticker.ts';

/** Matrices up to this size are built in memory, larger ones with positional writes to a spool file (8 MiB:
 * the seed set's 24 MB matrix in memory pushed peak RSS over 300 MB). */
export const MATRIX_IN_MEMORY = 8 << 20;

const COUNT_KEYS = ['total_poems', 'num_poems', 'num_embeddings', 'total_embeddings', 'count'];
const REF_EXPECTED = 'a poem reference (an integer in 0..2147483647)';
const isRef = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= MAX_ID;

export interface EmbeddingsResult {
  file: string;
  dim: number;
  reading: KeyReading;
  sourceMeta: Record<string, unknown>;
  crc: number;
  bytes: number;
}

export interface EmbeddingsOptions {
  keys: KeyMode;
  /** Matrix size up to which rows are gathered in memory (a testing knob; default MATRIX_IN_MEMORY). */
  matrixInMemory?: number;
}

/** A number read from an entry, with where it stood (for messages after the entry). */
interface Ref {
  value: number;
  offset?: number;
}

export async function readEmbeddings(
  src: JsonSource,
  index: PoemIndex,
  spoolFile: string,
  ticker: Ticker,
  options: EmbeddingsOptions,
): Promise<EmbeddingsResult> {
  const rows = index.count;
  const mode = options.keys;
  const inMemory = options.matrixInMemory ?? MATRIX_IN_MEMORY;
  let dim = -1; // from the first embedding or the metadata
  let metaDim = -1;
  let sourceMeta: Record<string, unknown> | undefined;
  let matrix: Float32Array | undefined;
  let fd = -1;
  let scratch: Float32Array | undefined;
  let firstValues: number[] | undefined;
  const have = new Uint8Array(rows);
  /** Rows whose entry had no "embedding": where the entry was and its "error", for the message. */
  const failed = new Map<number, { offset?: number; error?: string }>();
  let reading: KeyReading | undefined;
  let seenList = false;
  // spooled matrix: consecutive rows are staged and written together (positional writes)
  let stage: Float32Array | undefined;
  let stageRow = 0;
  let stageN = 0;
  let stageCap = 0;
  const setup = (d: number) => {
    dim = d;
    if (rows * dim * 4 <= inMemory) matrix = new Float32Array(rows * dim);
    else {
      fd = openSync(spoolFile, 'wx', 0o600);
      ftruncateSync(fd, rows * dim * 4);
      stageCap = Math.max(1, Math.floor((4 << 20) / Math.max(1, dim * 4)));
      stage = new Float32Array(stageCap * dim);
    }
    scratch = new Float32Array(dim);
  };
  const flushRows = () => {
    if (stageN === 0) return;
    const b = new Uint8Array(stage!.buffer, 0, stageN * dim * 4);
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off, stageRow * dim * 4 + off);
    stageN = 0;
  };
  const putRow = (row: number, vals: ArrayLike<number>) => {
    if (matrix) {
      matrix.set(vals, row * dim);
      return;
    }
    if (stageN > 0 && (stageN === stageCap || row !== stageRow + stageN)) flushRows();
    if (stageN === 0) stageRow = row;
    stage!.set(vals, stageN * dim);
    stageN++;
  };
  // A declaration (not an arrow) so that TypeScript knows a call ends the path.
  function failAt(offset: number | undefined, what: string, expected: string, poem?: string, mismatch = false): never {
    const err = new ConvertError(src.file, what, expected, locate(src.file, { offset }) ?? {}, poem);
    err.mismatch = mismatch;
    throw err;
  }
  const readRef = (key: string): Ref => {
    const value = src.readNumber(REF_EXPECTED);
    if (!isRef(value)) src.fail(`invalid ${key} ${value}`, REF_EXPECTED);
    return { value, offset: src.offset() };
  };

  /** Reads one entry (objectKey: its key in the object form). */
  const readEntry = (k: number, objectKey?: Ref): void => {
    if (src.peek() === 'literal') {
      const v = src.readValue();
      if (v !== null) src.fail(`unexpected ${String(v)}`, 'an embedding object or null');
      return; // a hole: dkjson writes null for a poem_index without an entry
    }
    const entryAt = src.offset();
    src.beginObject('an embedding object {"poem_index", "embedding"}');
    let poemIndex: Ref | undefined;
    let id: Ref | undefined;
    let got = -1;
    let error: string | undefined;
    for (let f = src.nextKey(); f !== null; f = src.nextKey()) {
      if (f === 'poem_index') poemIndex = readRef(f);
      else if (f === 'id') id = readRef(f);
      else if (f === 'error') {
        const e = src.readValue();
        error = typeof e === 'string' ? e : JSON.stringify(e);
      } else if (f === 'embedding') {
        if (got >= 0) src.fail('duplicate key "embedding"', 'one "embedding" array');
        got = readVector();
      } else src.skipValue();
    }
    // The poem this entry names: poem_index (or the object key) read as an index, else id read as an id.
    let ref: Ref | undefined;
    let how: KeyReading;
    if (mode === 'id') {
      ref = id ?? poemIndex ?? objectKey;
      how = 'id';
    } else {
      ref = poemIndex ?? objectKey ?? id;
      how = mode !== 'auto' ? mode : poemIndex || objectKey ? 'index' : 'id';
    }
    if (!ref) failAt(entryAt, `embedding #${k + 1} has no "poem_index"`, 'a "poem_index" (or "id") key');
    if (objectKey && poemIndex && objectKey.value !== poemIndex.value) {
      failAt(
        poemIndex.offset,
        `poem_index ${poemIndex.value} differs from its key "${objectKey.value}"`,
        'the key of the entry',
      );
    }
    if (reading !== undefined && how !== reading) {
      failAt(
        ref.offset,
        `this entry names its poem by ${READING_NAMES[how]}, the ones before by ${READING_NAMES[reading]}`,
        'one way of naming poems in the file (set keys.embeddings to choose)',
      );
    }
    reading = how;
    const row = index.rowOf(how, ref.value);
    if (row < 0) {
      const label = ref === objectKey ? `key "${ref.value}"` : `${ref === id ? 'id' : 'poem_index'} ${ref.value}`;
      failAt(ref.offset, index.whyNot(how, ref.value, label), index.expected(how), undefined, row === -1);
    }
    if (have[row] || failed.has(row))
      failAt(ref.offset, `a second embedding for ${index.describe(row)}`, 'one embedding per poem');
    // an entry with both: its id must be the id of the poem its poem_index names, or the files disagree
    if (how !== 'id' && id && index.ids[row] !== id.value) {
      failAt(
        id.offset,
        `this entry's id is ${id.value}, but ${index.describe(row)} has id ${index.ids[row]}`,
        `the ids of poems.json (the embeddings were made from another poems.json)`,
        undefined,
        true,
      );
    }
    if (got < 0) {
      failed.set(row, { offset: entryAt, error });
      return;
    }
    putRow(row, scratch!);
    have[row] = 1;
  };

  /** Reads an "embedding" array into scratch; returns its length. */
  const readVector = (): number => {
    src.beginArray('an array of numbers');
    const want = dim >= 0 ? dim : metaDim;
    const like = dim >= 0 ? 'like the first embedding' : 'metadata.embedding_dimension';
    if (want < 0) firstValues = [];
    else if (!scratch) setup(want);
    // fast path: the floats straight from the bytes (anything unusual: the way below reports it)
    let got = want >= 0 && src.readFloats ? src.readFloats(scratch!, 0, want) : -1;
    if (got < 0)
      got = src.readNumbers((values, first) => {
        const len = values.length;
        for (let i = 0; i < len; i++) {
          const v = values[i];
          if (!(v <= FLT_MAX && v >= -FLT_MAX))
            throw new ElementError(i, `number $lexeme is outside the float32 range`, 'a finite float32');
        }
        if (want >= 0) {
          if (first + len > want)
            throw new ElementError(want - first, `embedding has more than ${want} values`, `${want} values (${like})`);
          for (let i = 0; i < len; i++) scratch![first + i] = values[i];
        } else for (let i = 0; i < len; i++) firstValues!.push(values[i]);
      }, 'a number (the pipeline writes NaN and infinities as null)');
    if (want >= 0 && got !== want) src.fail(`embedding has ${got} values`, `${want} values (${like})`);
    if (want < 0) {
      if (got === 0) src.fail('embedding has 0 values', 'at least one value');
      setup(got);
      scratch!.set(firstValues!);
      firstValues = undefined;
    }
    return got;
  };

  const countChecks = Object.fromEntries(
    COUNT_KEYS.map((key) => [
      key,
      (v: number) => {
        if (v !== rows) {
          const err = new ConvertError(
            src.file,
            `metadata.${key} is ${v} but poems.json has ${rows} poems`,
            `${rows}`,
            locate(src.file, { offset: src.offset() }) ?? {},
          );
          err.mismatch = true;
          throw err;
        }
      },
    ]),
  );
  try {
    src.beginObject('a JSON object with "metadata" and "embeddings"');
    for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
      if (key === 'metadata') {
        if (sourceMeta) src.fail('duplicate key "metadata"', 'one "metadata" object');
        sourceMeta = readMeta(src, {
          ...countChecks,
          embedding_dimension: (v) => {
            if (v === 0) src.fail('metadata.embedding_dimension is 0', 'a positive integer');
            if (dim >= 0 && v !== dim)
              src.fail(`metadata.embedding_dimension is ${v} but the embeddings have ${dim} values`, `${dim}`);
            metaDim = v;
          },
        });
        if (metaDim < 0) src.fail('metadata has no "embedding_dimension"', 'an "embedding_dimension" key');
      } else if (key === 'embeddings') {
        if (seenList) src.fail('duplicate key "embeddings"', 'one "embeddings" array or object');
        seenList = true;
        let k = 0;
        if (src.peek() === 'object') {
          // {"<poem_index>": {...}}: the form dkjson falls back to for sparse tables
          src.beginObject('an object of embeddings keyed by poem_index');
          for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
            const p = ticker.tick(src);
            if (p) await p;
            if (!/^(?:0|[1-9][0-9]*)$/.test(key) || !isRef(Number(key)))
              src.fail(`invalid key ${JSON.stringify(key)}`, REF_EXPECTED);
            readEntry(k++, { value: Number(key), offset: src.offset() });
          }
        } else {
          src.beginArray('an array (or object) of embeddings');
          // Entry by entry: the floats, nearly all of the bytes, go through readFloats where the source has it.
          while (src.nextItem()) {
            const p = ticker.tick(src);
            if (p) await p;
            readEntry(k++);
          }
        }
      } else src.skipValue();
    }
    if (!sourceMeta) src.fail('no "metadata" key', 'a "metadata" object with "embedding_dimension"');
    if (!seenList) src.fail('no "embeddings" key', 'an "embeddings" array');
    src.end();
    for (let r = 0; r < rows; r++) {
      if (have[r]) continue;
      const f = failed.get(r);
      const err = new ConvertError(
        src.file,
        f
          ? `no embedding for ${index.describe(r)}: its entry has no "embedding"` +
              (f.error ? ` (the pipeline's error: ${f.error})` : '')
          : `no embedding for ${index.describe(r)}`,
        'one embedding per poem of poems.json',
        (f && locate(src.file, { offset: f.offset })) || {},
      );
      err.mismatch = true;
      throw err;
    }
    if (rows === 0) setup(Math.max(metaDim, 0));
    flushRows();
    if (matrix) {
      fd = openSync(spoolFile, 'wx', 0o600);
      const b = new Uint8Array(matrix.buffer);
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  ticker.done(src);
  return {
    file: spoolFile,
    dim,
    reading: reading ?? (mode === 'auto' ? 'index' : mode),
    sourceMeta: sourceMeta!,
    crc: src.crc,
    bytes: src.totalBytes,
  };
}
