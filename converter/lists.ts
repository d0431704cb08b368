// similarity_rankings_cache.json {"metadata": {"total_poems", "top_k", ...}, "rankings": {"<poem>": [poems, most
// similar first]}} and diversity_cache.json {"metadata": {"num_poems", ...}, "sequences": {"<poem>": [the poem,
// then ever more different ones]}}. How the numbers name poems (ids, 1-based poem_index as the C rankings writer
// does, 0-based positions as the diversity writer does) is the file's reading (identity.ts): the numbers are
// spooled as they are and turned into rows when the cache is written, once the whole file fixed the reading.
import { ConvertError, ElementError } from './errors.ts';
import {
  locate,
  MAX_ID,
  READING_NAMES,
  ReadingTracker,
  type KeyMode,
  type KeyReading,
  type PoemIndex,
} from './identity.ts';
import { readMeta } from './metadata.ts';
import type { JsonSource } from './json-source.ts';
import { FLT_MAX } from './parse-floats.ts';
import { Spool } from './spool.ts';
import type { Ticker } from './ticker.ts';

export type ListRole = 'similarity' | 'diversity';

export interface ListsResult {
  /** The list values as the file has them (int32); `reading` turns them into rows. */
  valuesFile: string;
  scoresFile?: string;
  reading: KeyReading;
  starts: Uint32Array;
  lengths: Uint32Array;
  total: number;
  sourceMeta: Record<string, unknown>;
  crc: number;
  bytes: number;
}

const KEY_RE = /^(?:0|[1-9][0-9]*)$/;
const REF_EXPECTED = 'a poem reference (an integer in 0..2147483647)';
const isRef = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= MAX_ID;

/** Growable typed arrays for the per-key data (keys come in any order, one per poem). */
class Column<T extends Int32Array | Uint32Array | Float64Array> {
  data: T;
  length = 0;
  constructor(data: T) {
    this.data = data;
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new (this.data.constructor as new (n: number) => T)(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
}

export async function readLists(
  src: JsonSource,
  role: ListRole,
  index: PoemIndex,
  spoolPath: (what: string) => string,
  ticker: Ticker,
  options: { keys: KeyMode },
): Promise<ListsResult> {
  const rows = index.count;
  const listKey = role === 'similarity' ? 'rankings' : 'sequences';
  const countKey = role === 'similarity' ? 'total_poems' : 'num_poems';
  const noun = role === 'similarity' ? 'ranking' : 'sequence';
  const tracker = new ReadingTracker(index, options.keys, src.file, `keys.${role} (--${role}-keys)`);
  const keys = new Column(new Int32Array(1024));
  const keyAt = new Column(new Float64Array(1024));
  const starts = new Column(new Uint32Array(1024));
  const lengths = new Column(new Uint32Array(1024));
  const values = new Spool(spoolPath(`${role}-values`));
  let scores: Spool | undefined;
  const vbuf = new Int32Array(1 << 16);
  const sbuf = new Float32Array(1 << 16);
  let vn = 0;
  let sn = 0;
  let total = 0;
  let form: 'numbers' | 'objects' | undefined;
  let sourceMeta: Record<string, unknown> | undefined;
  let metaCount = -1;
  let seenList = false;
  const flushValues = () => {
    values.write(new Uint8Array(vbuf.buffer, 0, vn * 4));
    vn = 0;
  };
  const flushScores = () => {
    scores!.write(new Uint8Array(sbuf.buffer, 0, sn * 4));
    sn = 0;
  };

  /** The numbers of one list (after its '['), raw, into vbuf; returns their count. */
  const readNumbers = (owner: number, arrayAt: number | undefined): number => {
    // fast path: plain integers that every remaining reading accepts, straight from the bytes
    let got = src.readIdRows
      ? src.readIdRows(tracker.acceptTable(), 0, vbuf, vn, role === 'diversity' ? owner : -1)
      : -1;
    if (got === -2) {
      flushValues();
      got = src.readIdRows!(tracker.acceptTable(), 0, vbuf, vn, role === 'diversity' ? owner : -1);
    }
    if (got >= 0) {
      vn += got;
      if (vn === vbuf.length) flushValues();
      return got;
    }
    // the precise way: element by element, errors at the element
    return src.readNumbers(
      (vals, first) => {
        for (let i = 0; i < vals.length; i++) {
          const v = vals[i];
          if (!isRef(v)) throw new ElementError(i, 'invalid poem reference $lexeme', REF_EXPECTED);
          if (first + i === 0 && role === 'diversity' && v !== owner) {
            throw new ElementError(
              i,
              `the sequence of "${owner}" starts with ${v}`,
              `its own key ${owner} first (a sequence starts with its poem)`,
            );
          }
          const problem = tracker.accepts(v, { offset: arrayAt, element: first + i });
          if (problem) throw new ElementError(i, problem.what, problem.expected, undefined, problem.mismatch);
          vbuf[vn++] = v;
          if (vn === vbuf.length) flushValues();
        }
      },
      role === 'diversity'
        ? 'a poem reference (a number)'
        : 'a poem reference (a number) or an {"id", "similarity"} object',
    );
  };

  /** [{"id": poem, "similarity": score}, ...]: rankings with scores. */
  const readObjects = (): number => {
    scores ??= new Spool(spoolPath(`${role}-scores`));
    let n = 0;
    while (src.nextItem()) {
      src.beginObject('an {"id", "similarity"} object');
      let ref = -1;
      let score: number | undefined;
      for (let f = src.nextKey(); f !== null; f = src.nextKey()) {
        if (f === 'id' || f === 'poem_index') {
          const v = src.readNumber(REF_EXPECTED);
          if (!isRef(v)) src.fail(`invalid poem reference ${v}`, REF_EXPECTED);
          const problem = tracker.accepts(v, { offset: src.offset() });
          if (problem) src.fail(problem.what, problem.expected, undefined, problem.mismatch);
          ref = v;
        } else if (f === 'similarity' || f === 'score') {
          const v = src.readNumber('a number');
          if (!(Math.abs(v) <= FLT_MAX)) src.fail(`similarity ${v} is outside the float32 range`, 'a finite float32');
          score = v;
        } else src.skipValue();
      }
      if (ref < 0) src.fail('entry has no "id"', 'an "id" key');
      if (score === undefined) src.fail('entry has no "similarity"', 'a "similarity" key');
      vbuf[vn++] = ref;
      sbuf[sn++] = score;
      if (vn === vbuf.length) flushValues();
      if (sn === sbuf.length) flushScores();
      n++;
    }
    return n;
  };

  try {
    src.beginObject(`a JSON object with "metadata" and "${listKey}"`);
    for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
      if (key === 'metadata') {
        if (sourceMeta) src.fail('duplicate key "metadata"', 'one "metadata" object');
        sourceMeta = readMeta(src, {
          [countKey]: (v) => {
            if (v !== rows)
              src.fail(`metadata.${countKey} is ${v} but poems.json has ${rows} poems`, `${rows}`, undefined, true);
            metaCount = v;
          },
        });
        if (metaCount < 0) src.fail(`metadata has no "${countKey}"`, `a "${countKey}" key`);
      } else if (key === listKey) {
        if (seenList) src.fail(`duplicate key "${listKey}"`, `one "${listKey}" object`);
        seenList = true;
        src.beginObject(`an object of ${noun}s keyed by poem`);
        for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
          const p = ticker.tick(src);
          if (p) await p;
          if (!KEY_RE.test(k) || !isRef(Number(k))) src.fail(`invalid key ${JSON.stringify(k)}`, REF_EXPECTED);
          const owner = Number(k);
          const at = src.offset();
          const problem = tracker.accepts(owner, { offset: at });
          if (problem) src.fail(problem.what, problem.expected, undefined, problem.mismatch);
          keys.push(owner);
          keyAt.push(at ?? -1);
          starts.push(total);
          src.beginArray('an array of poem references');
          const arrayAt = src.offset();
          const kind = src.peek();
          let n: number;
          if (kind === 'object') {
            if (role === 'diversity' || form === 'numbers')
              src.fail('unexpected object', 'a poem reference (a number) like the other lists');
            form = 'objects';
            n = readObjects();
          } else {
            if (form === 'objects' && kind !== 'close')
              src.fail(`unexpected ${kind}`, 'an {"id", "similarity"} object like the other lists');
            n = readNumbers(owner, arrayAt);
            if (n > 0) form = 'numbers';
          }
          if (n === 0 && role === 'diversity') src.fail('empty sequence', `the poem's own key ${owner} first`);
          lengths.push(n);
          total += n;
          if (total > 0xffffffff) src.fail('more than 2^32 - 1 list entries', 'fewer entries');
        }
      } else src.skipValue();
    }
    if (!sourceMeta) src.fail('no "metadata" key', `a "metadata" object with "${countKey}"`);
    if (!seenList) src.fail(`no "${listKey}" key`, `a "${listKey}" object`);
    src.end();
    flushValues();
    if (scores) flushScores();
  } finally {
    values.close();
    scores?.close();
  }

  // The whole file is read: its reading is fixed, and every key becomes a row.
  const reading = tracker.decide(keys.length ? keys.data[0] : undefined);
  const rowStarts = new Uint32Array(rows);
  const rowLengths = new Uint32Array(rows);
  const keyOf = new Int32Array(rows).fill(-1);
  for (let i = 0; i < keys.length; i++) {
    const row = index.rowOf(reading, keys.data[i]);
    if (keyOf[row] >= 0) {
      throw new ConvertError(
        src.file,
        `a second ${noun} for ${index.describe(row)} (key "${keys.data[i]}")`,
        `one ${noun} per poem`,
        locate(src.file, { offset: keyAt.data[i] }) ?? {},
      );
    }
    keyOf[row] = i;
    rowStarts[row] = starts.data[i];
    rowLengths[row] = lengths.data[i];
  }
  for (let r = 0; r < rows; r++) {
    if (keyOf[r] >= 0) continue;
    const err = new ConvertError(
      src.file,
      `no ${noun} for ${index.describe(r)}`,
      `one ${noun} per poem of poems.json (its numbers read as ${READING_NAMES[reading]})`,
    );
    err.mismatch = true;
    throw err;
  }
  ticker.done(src);
  return {
    valuesFile: values.path,
    scoresFile: scores?.path,
    reading,
    starts: rowStarts,
    lengths: rowLengths,
    total,
    sourceMeta: sourceMeta!,
    crc: src.crc,
    bytes: src.totalBytes,
  };
}
