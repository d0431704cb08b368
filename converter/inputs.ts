// Readers for the four pipeline inputs. They pull from a JsonSource (fast byte scanner or stream-json),
// check consistency against the poem ids of poems.json, and spool big results to temp files.
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { ConvertError, ElementError, AbortError } from './errors.ts';
import { ByteSource, FLT_MAX, type JsonSource } from './source.ts';
import { StreamJsonSource } from './stream-source.ts';

export type Role = 'poems' | 'embeddings' | 'similarity' | 'diversity';
export type ParserChoice = 'auto' | 'stream-json';

export const MAX_ID = 0x7fffffff;
/** Embedding matrices up to this size are built in memory, larger ones with positional writes (one per row) to a
 * spool file: 8 MiB, not the 64 MiB the brief allows, because the seed set (7.8k x 768 = 24 MB) pushed peak RSS over 300 MB. */
export const MATRIX_IN_MEMORY = 8 << 20;
/** Tests lower the threshold (env POEM_CONVERTER_MATRIX_IN_MEMORY, bytes) to exercise the positional-write path. */
const matrixInMemory = (): number => Number(process.env.POEM_CONVERTER_MATRIX_IN_MEMORY ?? MATRIX_IN_MEMORY);

export function openSource(file: string, parser: ParserChoice, chunkSize?: number): JsonSource {
  return parser === 'stream-json' ? new StreamJsonSource(file, { chunkSize }) : new ByteSource(file, { chunkSize });
}

/** Cooperative yielding (abort, progress) between entries; sources themselves are synchronous. */
export class Ticker {
  private n = 0;
  private last = Date.now();
  private readonly progress?: Float64Array;
  private readonly slot: number;
  private readonly signal?: AbortSignal;
  constructor(progress: Float64Array | undefined, slot: number, signal?: AbortSignal) {
    this.progress = progress;
    this.slot = slot;
    this.signal = signal;
  }
  /** Counts `k` entries (a batch counts as its elements). */
  tick(src: JsonSource, k = 1): Promise<void> | undefined {
    const before = this.n;
    this.n += k;
    if (before >> 4 === this.n >> 4) return undefined;
    if (this.progress) this.progress[this.slot] = src.bytesRead;
    const now = Date.now();
    if (now - this.last < 40) return undefined;
    this.last = now;
    return new Promise<void>((r) => setImmediate(r)).then(() => this.check());
  }
  check(): void {
    if (this.signal?.aborted) throw new AbortError(this.signal.reason);
  }
  done(src: JsonSource): void {
    if (this.progress) this.progress[this.slot] = src.totalBytes;
  }
}

/** id -> row lookup over the poem ids of poems.json (dense table when compact, else a Map). */
export class IdIndex {
  readonly ids: Int32Array;
  readonly base: number = 0;
  /** Dense id - base -> row table (-1 = no such id), when the ids are compact. */
  readonly dense?: Int32Array;
  private readonly map?: Map<number, number>;
  constructor(ids: Int32Array) {
    this.ids = ids;
    let min = MAX_ID;
    let max = 0;
    for (let r = 0; r < ids.length; r++) {
      if (ids[r] < min) min = ids[r];
      if (ids[r] > max) max = ids[r];
    }
    if (ids.length > 0 && max - min + 1 <= 4 * ids.length + 1024) {
      this.base = min;
      this.dense = new Int32Array(max - min + 1).fill(-1);
      for (let r = 0; r < ids.length; r++) this.dense[ids[r] - min] = r;
    } else {
      this.map = new Map();
      for (let r = 0; r < ids.length; r++) this.map.set(ids[r], r);
    }
  }
  rowOf(id: number): number {
    if (this.dense) {
      const k = id - this.base;
      return k >= 0 && k < this.dense.length ? this.dense[k] : -1;
    }
    return this.map!.get(id) ?? -1;
  }
}

const EMPTY_I32 = new Int32Array(0);
const isId = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= MAX_ID;
const ID_EXPECTED = 'a poem id (an integer in 0..2147483647)';
const KEY_RE = /^(?:0|[1-9][0-9]*)$/;

/** Reads a metadata object; numeric fields named in `checks` are validated where they stand. */
function readMeta(src: JsonSource, checks: Record<string, (v: number) => void>): Record<string, unknown> {
  if (src.peek() !== 'object') src.fail(`unexpected ${src.peek()}`, 'a "metadata" object');
  src.beginObject('a "metadata" object');
  const meta: Record<string, unknown> = {};
  for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
    const check = Object.hasOwn(checks, k) ? checks[k] : undefined;
    if (check) {
      if (src.peek() !== 'number') src.readNumber(`a non-negative integer for metadata.${k}`);
      const v = src.readNumber(`a non-negative integer for metadata.${k}`);
      if (!Number.isInteger(v) || v < 0) src.fail(`metadata.${k} is ${v}`, 'a non-negative integer');
      check(v);
      meta[k] = v;
    } else if (k === '__proto__') Object.defineProperty(meta, k, { value: src.readValue(), enumerable: true, writable: true, configurable: true });
    else meta[k] = src.readValue();
  }
  return meta;
}

// ---------------------------------------------------------------- spools

/** Appends bytes to a temp file through a 4 MB staging buffer. */
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
    // Buffer#utf8Write (what Buffer#write calls after validating its arguments) when present: 30k+ calls per poems.json
    const n = this.utf8Write ? this.utf8Write.call(this.stage, s, this.used) : this.stage.write(s, this.used, 'utf8');
    this.used += n;
    this.bytes += n;
    return n;
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

/** A strings column: offsets in memory, UTF-8 bytes spooled. */
class StringColumn {
  readonly spool: Spool;
  private offsets = new Uint32Array(1024);
  count = 0;
  constructor(path: string) {
    this.spool = new Spool(path, 4 << 20);
  }
  push(s: string): void {
    if (this.spool.bytes + s.length * 3 > 0xffffffff && this.spool.bytes + Buffer.byteLength(s, 'utf8') > 0xffffffff) {
      throw new Error(`strings exceed the format's 4 GiB limit`);
    }
    this.spool.writeString(s);
    if (this.count + 2 > this.offsets.length) {
      const bigger = new Uint32Array(this.offsets.length * 2);
      bigger.set(this.offsets);
      this.offsets = bigger;
    }
    this.offsets[++this.count] = this.spool.bytes;
  }
  finish(): { file: string; offsets: Uint32Array; bytes: number } {
    this.spool.close();
    return { file: this.spool.path, offsets: this.offsets.slice(0, this.count + 1), bytes: this.spool.bytes };
  }
}

// ---------------------------------------------------------------- poems.json

/** Bytes of JSON text per fast-path batch: small batches measured fastest (the parsed values stay in the young
 * generation and in cache; the JIT sees many short calls). Per input, on the bench data: */
const POEM_BATCH = 32 << 10;

/** Object keys in a parsed value, at every depth (what the batch's text has, unless it has duplicate keys). */
function keyCount(v: object): number {
  let n = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e = v[i];
      if (typeof e === 'object' && e !== null) n += keyCount(e);
    }
    return n;
  }
  for (const k in v) {
    n++;
    const e = (v as Record<string, unknown>)[k];
    if (typeof e === 'object' && e !== null) n += keyCount(e);
  }
  return n;
}

const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : v === null || v === undefined ? '' : undefined);

/**
 * Fast path: adds the poems of a parsed batch when every one is plainly valid (what the precise reader would
 * accept, with the same result) and returns -1; else adds nothing and returns how many elements of the batch
 * to read the precise way (up to the first doubtful one, or all when the batch has duplicate keys).
 */
function addPoems(vals: unknown[], keysSeen: number, seen: Map<number, number>, add: (id: number, title: string, text: string, category: string, date: string) => void): number {
  const n = vals.length;
  const fields: string[] = new Array(n * 4);
  let keys = 0;
  let bad = -1;
  let i = 0;
  for (; i < n; i++) {
    const o = vals[i] as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) break;
    keys += keyCount(o);
    const id = o.id;
    if (typeof id !== 'number' || !isId(id) || seen.has(id)) break;
    const text = o.content;
    if (typeof text !== 'string') break;
    const title = optStr(o.title);
    const category = optStr(o.category);
    if (title === undefined || category === undefined) break;
    let date = '';
    const m = o.metadata;
    if (m !== undefined && m !== null) {
      if (typeof m !== 'object' || Array.isArray(m)) break;
      const d = optStr((m as Record<string, unknown>).creation_date);
      if (d === undefined) break;
      date = d;
    }
    seen.set(id, -1); // duplicates within the batch
    fields[i * 4] = title;
    fields[i * 4 + 1] = text;
    fields[i * 4 + 2] = category;
    fields[i * 4 + 3] = date;
  }
  if (i < n) bad = i + 1;
  else if (keys !== keysSeen) bad = n;
  for (let j = 0; j < i; j++) seen.delete((vals[j] as { id: number }).id);
  if (bad >= 0) return bad;
  for (let j = 0; j < n; j++) add((vals[j] as { id: number }).id, fields[j * 4], fields[j * 4 + 1], fields[j * 4 + 2], fields[j * 4 + 3]);
  return -1;
}

export interface PoemsResult {
  ids: Int32Array;
  strings: Record<'title' | 'text' | 'category' | 'date', { file: string; offsets: Uint32Array; bytes: number }>;
  sourceMeta: unknown;
  crc: number;
  bytes: number;
}

export async function readPoems(src: JsonSource, spoolPath: (what: string) => string, ticker: Ticker): Promise<PoemsResult> {
  const cols = {
    title: new StringColumn(spoolPath('title')),
    text: new StringColumn(spoolPath('text')),
    category: new StringColumn(spoolPath('category')),
    date: new StringColumn(spoolPath('date')),
  };
  let ids = new Int32Array(1024);
  let n = 0;
  const seen = new Map<number, number>();
  let sourceMeta: unknown = null;
  let sawPoems = false;
  const optString = (what: string): string => {
    if (src.peek() === 'literal') {
      const v = src.readValue();
      if (v === null) return '';
      src.fail(`unexpected '${v}'`, `a string for ${what}`);
    }
    return src.readString(`a string for ${what}`);
  };
  src.beginObject('a JSON object with a "poems" array');
  for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
    if (key === 'poems') {
      if (sawPoems) src.fail('duplicate key "poems"', 'one "poems" array');
      sawPoems = true;
      src.beginArray('an array of poems');
      // One poem accepted, from the fast path (a parsed batch) or the precise reader.
      const add = (id: number, title: string, text: string, category: string, date: string): void => {
        seen.set(id, n);
        if (n === ids.length) {
          const bigger = new Int32Array(n * 2);
          bigger.set(ids);
          ids = bigger;
        }
        ids[n++] = id;
        cols.title.push(title);
        cols.text.push(text);
        cols.category.push(category);
        cols.date.push(date);
      };
      const readOne = (): void => {
        src.beginObject('a poem object');
        let id = -1;
        let title = '';
        let text: string | undefined;
        let category = '';
        let date = '';
        for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
          switch (k) {
            case 'id': {
              const v = src.readNumber(ID_EXPECTED);
              if (!isId(v)) src.fail(`invalid poem id ${v}`, ID_EXPECTED);
              const prev = seen.get(v);
              if (prev !== undefined) src.fail(`duplicate poem id ${v} (first at poem #${prev + 1})`, 'unique poem ids', v);
              id = v;
              break;
            }
            case 'title':
              title = optString('title');
              break;
            case 'content':
              text = src.readString('a string for content');
              break;
            case 'category':
              category = optString('category');
              break;
            case 'metadata':
              if (src.peek() === 'literal') {
                if (src.readValue() !== null) src.fail('unexpected literal', 'an object for metadata');
                break;
              }
              src.beginObject('an object for metadata');
              for (let mk = src.nextKey(); mk !== null; mk = src.nextKey()) {
                if (mk === 'creation_date') date = optString('metadata.creation_date');
                else src.skipValue();
              }
              break;
            default:
              src.skipValue();
          }
        }
        if (id < 0) src.fail(`poem #${n + 1} has no "id"`, 'an "id" key');
        if (text === undefined) src.fail(`poem #${n + 1} has no "content"`, 'a "content" string', id);
        add(id, title, text, category, date);
      };
      for (;;) {
        // fast path: ~2 MB of poems per JSON.parse, each poem checked here; the first one that is not plainly
        // valid (and everything after it in the batch) goes back to the precise reader, which reports errors
        const b = src.nextBatch?.(POEM_BATCH);
        let slow = 1;
        if (b) {
          const p = ticker.tick(src, b.count);
          if (p) await p;
          slow = b.count;
          const vals = b.values;
          if (vals) {
            const k = addPoems(vals, b.keys, seen, add);
            if (k < 0) continue;
            src.rewindBatch!();
            slow = k;
          }
        } else {
          const p = ticker.tick(src);
          if (p) await p;
        }
        let more = true;
        for (; slow > 0 && (more = src.nextItem()); slow--) readOne();
        if (!more) break;
      }
    } else if (key === 'metadata') {
      sourceMeta = src.readValue();
    } else src.skipValue();
  }
  if (!sawPoems) src.fail('no "poems" key', 'a "poems" array');
  src.end();
  ticker.done(src);
  return {
    ids: ids.slice(0, n),
    strings: { title: cols.title.finish(), text: cols.text.finish(), category: cols.category.finish(), date: cols.date.finish() },
    sourceMeta,
    crc: src.crc,
    bytes: src.totalBytes,
  };
}

// ---------------------------------------------------------------- embeddings.json

export interface EmbeddingsResult {
  file: string;
  dim: number;
  sourceMeta: Record<string, unknown>;
  crc: number;
  bytes: number;
}

const EMB_COUNT_KEYS = ['total_poems', 'num_poems', 'num_embeddings', 'total_embeddings', 'count'];

export async function readEmbeddings(src: JsonSource, index: IdIndex, spoolFile: string, ticker: Ticker): Promise<EmbeddingsResult> {
  const rows = index.ids.length;
  let dim = -1; // from the first embedding or the metadata
  let metaDim = -1;
  let sourceMeta: Record<string, unknown> | undefined;
  let matrix: Float32Array | undefined;
  let fd = -1;
  let scratch: Float32Array | undefined;
  let firstValues: number[] | undefined;
  const have = new Uint8Array(rows);
  let seenList = false;
  // spooled matrix: consecutive rows are staged and written together (positional writes)
  let stage: Float32Array | undefined;
  let stageRow = 0;
  let stageN = 0;
  let stageCap = 0;
  const setup = (d: number) => {
    dim = d;
    if (rows * dim * 4 <= matrixInMemory()) matrix = new Float32Array(rows * dim);
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
  const countChecks = Object.fromEntries(EMB_COUNT_KEYS.map((k) => [k, (v: number) => {
    if (v !== rows) src.fail(`metadata.${k} is ${v} but poems.json has ${rows} poems`, `${rows}`);
  }]));
  try {
    src.beginObject('a JSON object with "metadata" and "embeddings"');
    for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
      if (key === 'metadata') {
        if (sourceMeta) src.fail('duplicate key "metadata"', 'one "metadata" object');
        sourceMeta = readMeta(src, {
          ...countChecks,
          embedding_dimension: (v) => {
            if (v === 0) src.fail('metadata.embedding_dimension is 0', 'a positive integer');
            if (dim >= 0 && v !== dim) src.fail(`metadata.embedding_dimension is ${v} but the embeddings have ${dim} values`, `${dim}`);
            metaDim = v;
          },
        });
        if (metaDim < 0) src.fail('metadata has no "embedding_dimension"', 'an "embedding_dimension" key');
      } else if (key === 'embeddings') {
        if (seenList) src.fail('duplicate key "embeddings"', 'one "embeddings" array');
        seenList = true;
        src.beginArray('an array of embeddings');
        let k = 0;
        const readOne = (): void => {
          src.beginObject('an embedding object {"poem_index", "embedding"}');
          let id = -1;
          let row = -1;
          let got = -1;
          for (let f = src.nextKey(); f !== null; f = src.nextKey()) {
            if (f === 'poem_index' || f === 'id') {
              const v = src.readNumber(ID_EXPECTED);
              if (!isId(v)) src.fail(`invalid poem id ${v}`, ID_EXPECTED);
              if (id >= 0 && v !== id) src.fail(`"${f}" ${v} differs from the other id ${id} of this embedding`, 'one poem id', id);
              const r = index.rowOf(v);
              if (r < 0) src.fail(`unknown poem id ${v}`, 'an id from poems.json', v);
              if (have[r] && id !== v) src.fail(`duplicate embedding for poem id ${v}`, 'one embedding per poem', v);
              id = v;
              row = r;
            } else if (f === 'embedding') {
              if (got >= 0) src.fail('duplicate key "embedding"', 'one "embedding" array', id >= 0 ? id : undefined);
              src.beginArray('an array of numbers');
              const owner = id >= 0 ? id : undefined;
              const want = dim >= 0 ? dim : metaDim;
              if (want < 0) firstValues = [];
              else if (!scratch) setup(want);
              // fast path: the floats straight from the bytes (anything unusual: the way below reports it)
              got = want >= 0 && src.readFloats ? src.readFloats(scratch!, 0, want) : -1;
              if (got < 0) got = src.readNumbers((values, first) => {
                const len = values.length;
                if (want >= 0) {
                  if (first + len > want) throw new ElementError(want - first, `embedding has more than ${want} values`, `${want} values (${dim >= 0 ? 'like the first embedding' : 'metadata.embedding_dimension'})`, owner);
                  const sc = scratch!;
                  for (let i = 0; i < len; i++) {
                    const v = values[i];
                    if (!(v <= FLT_MAX && v >= -FLT_MAX)) throw new ElementError(i, `number $lexeme is outside the float32 range`, 'a finite float32', owner);
                    sc[first + i] = v;
                  }
                } else {
                  for (let i = 0; i < len; i++) {
                    const v = values[i];
                    if (!(v <= FLT_MAX && v >= -FLT_MAX)) throw new ElementError(i, `number $lexeme is outside the float32 range`, 'a finite float32', owner);
                    firstValues!.push(v);
                  }
                }
              }, 'a number');
              if (want >= 0 && got !== want) src.fail(`embedding has ${got} values`, `${want} values (${dim >= 0 ? 'like the first embedding' : 'metadata.embedding_dimension'})`, owner);
              if (want < 0) {
                if (got === 0) src.fail('embedding has 0 values', 'at least one value', owner);
                setup(got);
                scratch!.set(firstValues!);
                firstValues = undefined;
              }
            } else src.skipValue();
          }
          if (id < 0) src.fail(`embedding #${k + 1} has no "poem_index"`, 'a "poem_index" (or "id") key');
          if (got < 0) src.fail(`embedding #${k + 1} has no "embedding"`, 'an "embedding" array', id);
          putRow(row, scratch!);
          have[row] = 1;
          k++;
        };
        // Entry by entry: the floats, nearly all of the bytes, go through readFloats where the source has it.
        while (src.nextItem()) {
          const p = ticker.tick(src);
          if (p) await p;
          readOne();
        }
      } else src.skipValue();
    }
    if (!sourceMeta) src.fail('no "metadata" key', 'a "metadata" object with "embedding_dimension"');
    if (!seenList) src.fail('no "embeddings" key', 'an "embeddings" array');
    src.end();
    for (let r = 0; r < rows; r++) {
      if (!have[r]) throw new ConvertError(src.file, `no embedding for poem id ${index.ids[r]}`, 'one embedding per poem of poems.json', {}, index.ids[r]);
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
  return { file: spoolFile, dim, sourceMeta: sourceMeta!, crc: src.crc, bytes: src.totalBytes };
}

// ---------------------------------------------------------------- rankings / sequences

export interface RaggedResult {
  valuesFile: string;
  scoresFile?: string;
  starts: Uint32Array;
  lengths: Uint32Array;
  total: number;
  sourceMeta: Record<string, unknown>;
  crc: number;
  bytes: number;
}

/** similarity_rankings_cache.json ("rankings", metadata.total_poems) or diversity_cache.json ("sequences", metadata.num_poems). */
export async function readRagged(
  src: JsonSource, role: 'similarity' | 'diversity', index: IdIndex, spoolPath: (what: string) => string, ticker: Ticker,
): Promise<RaggedResult> {
  const rows = index.ids.length;
  const listKey = role === 'similarity' ? 'rankings' : 'sequences';
  const countKey = role === 'similarity' ? 'total_poems' : 'num_poems';
  const noun = role === 'similarity' ? 'ranking' : 'sequence';
  const starts = new Uint32Array(rows);
  const lengths = new Uint32Array(rows);
  const have = new Uint8Array(rows);
  const values = new Spool(spoolPath(`${role}-values`));
  let scores: Spool | undefined;
  const vbuf = new Int32Array(1 << 16);
  const sbuf = new Float32Array(1 << 16);
  let vn = 0;
  let sn = 0;
  let total = 0;
  let form: 'ids' | 'objects' | undefined;
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
  try {
    src.beginObject(`a JSON object with "metadata" and "${listKey}"`);
    for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
      if (key === 'metadata') {
        if (sourceMeta) src.fail('duplicate key "metadata"', 'one "metadata" object');
        sourceMeta = readMeta(src, {
          [countKey]: (v) => {
            if (v !== rows) src.fail(`metadata.${countKey} is ${v} but poems.json has ${rows} poems`, `${rows}`);
            metaCount = v;
          },
        });
        if (metaCount < 0) src.fail(`metadata has no "${countKey}"`, `a "${countKey}" key`);
      } else if (key === listKey) {
        if (seenList) src.fail(`duplicate key "${listKey}"`, `one "${listKey}" object`);
        seenList = true;
        src.beginObject(`an object of ${noun}s keyed by poem id`);
        for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
          const p = ticker.tick(src);
          if (p) await p;
          if (!KEY_RE.test(k) || !isId(Number(k))) src.fail(`invalid key ${JSON.stringify(k)}`, ID_EXPECTED);
          const owner = Number(k);
          const row = index.rowOf(owner);
          if (row < 0) src.fail(`unknown poem id ${owner}`, 'an id from poems.json', owner);
          if (have[row]) src.fail(`duplicate ${noun} for poem id ${owner}`, `one ${noun} per poem`, owner);
          have[row] = 1;
          starts[row] = total;
          src.beginArray(`an array of poem ids`);
          let n = 0;
          const kind = src.peek();
          if (kind === 'object') {
            if (role === 'diversity' || form === 'ids') src.fail('unexpected object', 'a poem id (a number) like the other lists', owner);
            if (!form) {
              form = 'objects';
              scores = new Spool(spoolPath(`${role}-scores`));
            }
            while (src.nextItem()) {
              src.beginObject('an {"id", "similarity"} object');
              let id = -1;
              let score: number | undefined;
              for (let f = src.nextKey(); f !== null; f = src.nextKey()) {
                if (f === 'id' || f === 'poem_index') {
                  const v = src.readNumber(ID_EXPECTED);
                  if (!isId(v)) src.fail(`invalid poem id ${v}`, ID_EXPECTED, owner);
                  const r = index.rowOf(v);
                  if (r < 0) src.fail(`unknown id ${v}`, 'an id from poems.json', owner);
                  id = r;
                } else if (f === 'similarity' || f === 'score') {
                  const v = src.readNumber('a number');
                  if (!(Math.abs(v) <= FLT_MAX)) src.fail(`similarity ${v} is outside the float32 range`, 'a finite float32', owner);
                  score = v;
                } else src.skipValue();
              }
              if (id < 0) src.fail('entry has no "id"', 'an "id" key', owner);
              if (score === undefined) src.fail('entry has no "similarity"', 'a "similarity" key', owner);
              vbuf[vn++] = id;
              sbuf[sn++] = score;
              if (vn === vbuf.length) flushValues();
              if (sn === sbuf.length) flushScores();
              n++;
            }
          } else {
            if (form === 'objects' && kind !== 'close') src.fail(`unexpected ${kind}`, 'an {"id", "similarity"} object like the other lists', owner);
            const dense = index.dense ?? EMPTY_I32;
            const base = index.base;
            const dlen = dense.length;
            // fast path: plain integers straight from the bytes into rows (anything unusual: the way below)
            let got = index.dense && src.readIdRows ? src.readIdRows(dense, base, vbuf, vn, role === 'diversity' ? row : -1) : -1;
            if (got === -2) {
              flushValues();
              got = src.readIdRows!(dense, base, vbuf, vn, role === 'diversity' ? row : -1);
            }
            if (got >= 0) {
              vn += got;
              n = got;
              if (vn === vbuf.length) flushValues();
            } else n = src.readNumbers((vals, first) => {
              // hot loop (61M ids at seed scale): locals only, the dense table inline, errors on the slow path
              if (first === 0 && role === 'diversity' && vals.length > 0 && vals[0] !== owner) {
                if (!isId(vals[0])) throw new ElementError(0, `invalid poem id $lexeme`, ID_EXPECTED, owner);
                if (index.rowOf(vals[0]) < 0) throw new ElementError(0, `unknown id ${vals[0]}`, 'an id from poems.json', owner);
                throw new ElementError(0, `sequence starts with id ${vals[0]}`, `the poem's own id ${owner} first`, owner);
              }
              const vb = vbuf;
              const cap = vb.length;
              const len = vals.length;
              let w = vn;
              for (let i = 0; i < len; i++) {
                const v = vals[i];
                const k = v - base;
                let r = (v | 0) === v && k >= 0 && k < dlen ? dense[k] : -1;
                if (r < 0) {
                  if (!isId(v)) throw new ElementError(i, `invalid poem id $lexeme`, ID_EXPECTED, owner);
                  r = index.rowOf(v);
                  if (r < 0) throw new ElementError(i, `unknown id ${v}`, 'an id from poems.json', owner);
                }
                vb[w++] = r;
                if (w === cap) {
                  vn = w;
                  flushValues();
                  w = 0;
                }
              }
              vn = w;
            }, role === 'diversity' ? 'a poem id (a number)' : 'a poem id (a number) or an {"id", "similarity"} object');
            if (n > 0 && !form) form = 'ids';
          }
          if (n === 0 && role === 'diversity') src.fail('empty sequence', `the poem's own id ${owner} first`, owner);
          lengths[row] = n;
          total += n;
          if (total > 0xffffffff) src.fail(`more than 2^32 - 1 list entries`, 'fewer entries', owner);
        }
      } else src.skipValue();
    }
    if (!sourceMeta) src.fail('no "metadata" key', `a "metadata" object with "${countKey}"`);
    if (!seenList) src.fail(`no "${listKey}" key`, `a "${listKey}" object`);
    src.end();
    flushValues();
    if (scores) flushScores();
    for (let r = 0; r < rows; r++) {
      if (!have[r]) throw new ConvertError(src.file, `no ${noun} for poem id ${index.ids[r]}`, `one ${noun} per poem of poems.json`, {}, index.ids[r]);
    }
  } finally {
    values.close();
    scores?.close();
  }
  ticker.done(src);
  return { valuesFile: values.path, scoresFile: scores?.path, starts, lengths, total, sourceMeta: sourceMeta!, crc: src.crc, bytes: src.totalBytes };
}
