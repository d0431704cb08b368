// CacheReader: O(1) accessors over a validated cache image. The image is a read-only mmap from the
// native addon (one mapping per thread, one physical copy per machine) or, without the addon, one
// SharedArrayBuffer per process that worker threads receive through worker environment data.
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { getEnvironmentData, isMainThread, setEnvironmentData } from 'node:worker_threads';
import { loadNative } from '../native/index.ts';
import { FieldTag, IDS_DENSE_INDEX, IDS_REPEATED, RAGGED_HAS_SCORES, SectionKind, SectionName } from './layout.ts';
import { CacheFormatError, parseCache, type ParsedCache, type SectionInfo } from './validate.ts';
import { PageKeys, rowDigests } from './digest.ts';
import { readFileInto } from './read-file.ts';

// What opening can throw: a damaged or foreign file (every path), an OS call of the addon that failed.
export { CacheFormatError } from './validate.ts';
export { NativeSystemError } from '../native/index.ts';

export type CacheSource = 'mmap' | 'shm' | 'memory';

interface Ragged {
  starts: Uint32Array;
  lengths: Uint32Array;
  values: Int32Array;
  scores?: Float32Array;
}

interface Strings {
  offsets: Uint32Array;
  bytes: Buffer;
}

const EMPTY_I32 = new Int32Array(0);

/** A poem field's value: what the JSON held (absent = null). */
export type FieldValue = string | number | boolean | null;

/** rowOf(id) for an id that several poems have (the pipeline numbers poems per category). */
export class AmbiguousIdError extends Error {
  readonly id: number;
  readonly rows: number[];
  constructor(source: string, id: number, rows: number[], describe: (row: number) => string) {
    const shown = rows.slice(0, 5).map(describe).join(', ');
    super(
      `${source}: poem id ${id} is not unique: ${rows.length} poems have it ` +
        `(${shown}${rows.length > 5 ? ', …' : ''}); ` +
        'use rowsOf(id), or rowOfIndex(poem_index): a poem is its position in poems.json',
    );
    this.name = 'AmbiguousIdError';
    this.id = id;
    this.rows = rows;
  }
}

export class CacheReader {
  /** Where the image came from: a file path or `shm:<name>`. */
  readonly source: string;
  readonly backing: CacheSource;
  /** Number of poems (rows). */
  readonly count: number;
  /** Embedding dimension (0 when the cache has no embeddings). */
  readonly dim: number;
  readonly sections: readonly SectionInfo[];
  readonly format: { major: number; minor: number };
  /** The whole image (a view, never a copy). */
  readonly bytes: Uint8Array;
  private readonly ids: Int32Array;
  private readonly denseBase: number;
  private readonly denseIndex?: Int32Array;
  private readonly sortedIndex?: Uint32Array;
  /** Some id names several rows. */
  readonly idsRepeat: boolean;
  private fieldColumns?: Map<string, Strings>;
  private readonly embeddings?: Float32Array;
  private readonly ragged = new Map<string, Ragged>();
  private readonly strings = new Map<string, Strings>();
  private metadataValue: unknown;
  private pageKeys?: PageKeys;
  private readonly titles: (string | undefined)[];
  private readonly categories: (string | undefined)[];

  constructor(bytes: Uint8Array, parsed: ParsedCache, source: string, backing: CacheSource) {
    this.source = source;
    this.backing = backing;
    this.bytes = bytes;
    this.sections = parsed.sections;
    this.format = { major: parsed.header.major, minor: parsed.header.minor };
    const buf = bytes.buffer;
    const at = (s: SectionInfo, part: string) => bytes.byteOffset + s.parts[part].offset;
    const len = (s: SectionInfo, part: string) => s.parts[part].length;
    const byName = new Map(parsed.sections.filter((s) => s.known).map((s) => [s.name, s]));
    const need = (name: string, kind: number): SectionInfo | undefined => {
      const s = byName.get(name);
      if (s && s.kind !== kind) {
        throw new CacheFormatError(source, s.offset, `section "${name}" of kind ${kind}`, `kind ${s.kind}`);
      }
      return s;
    };

    const ids = need(SectionName.ids, SectionKind.ids);
    if (!ids) throw new CacheFormatError(source, 0, `an "${SectionName.ids}" section (row <-> poem id table)`);
    this.count = ids.count;
    // Sized up front so V8 keeps them as fast holey arrays when rows are filled in any order.
    this.titles = new Array(this.count);
    this.categories = new Array(this.count);
    this.ids = new Int32Array(buf, at(ids, 'ids'), ids.count);
    this.denseBase = ids.param;
    if (ids.flags & IDS_DENSE_INDEX) this.denseIndex = new Int32Array(buf, at(ids, 'index'), len(ids, 'index'));
    else this.sortedIndex = new Uint32Array(buf, at(ids, 'index'), len(ids, 'index'));
    this.idsRepeat = (ids.flags & IDS_REPEATED) !== 0 && !this.denseIndex;

    const rowsOf = (s: SectionInfo) => {
      if (s.count !== this.count) {
        throw new CacheFormatError(
          source,
          s.offset,
          `section "${s.name}" to have ${this.count} rows like "${SectionName.ids}"`,
          String(s.count),
        );
      }
    };
    const emb = need(SectionName.embeddings, SectionKind.matrix);
    if (emb) {
      rowsOf(emb);
      this.embeddings = new Float32Array(buf, at(emb, 'values'), len(emb, 'values'));
    }
    this.dim = emb ? emb.param : 0;
    for (const s of parsed.sections) {
      if (!s.known) continue;
      if (s.kind === SectionKind.ragged) {
        rowsOf(s);
        this.ragged.set(s.name, {
          starts: new Uint32Array(buf, at(s, 'starts'), s.count),
          lengths: new Uint32Array(buf, at(s, 'lengths'), s.count),
          values: new Int32Array(buf, at(s, 'values'), s.param),
          scores: s.flags & RAGGED_HAS_SCORES ? new Float32Array(buf, at(s, 'scores'), s.param) : undefined,
        });
      } else if (s.kind === SectionKind.strings) {
        rowsOf(s);
        // Buffer decodes UTF-8 from SharedArrayBuffer-backed memory too (TextDecoder refuses shared views).
        this.strings.set(s.name, {
          offsets: new Uint32Array(buf, at(s, 'offsets'), s.count + 1),
          bytes: Buffer.from(buf, at(s, 'bytes'), s.param),
        });
      }
    }
    this.metadataValue = undefined;
  }

  /** True when the cache has a section of this name (e.g. "similar", "diversity", "embeddings"). */
  has(name: string): boolean {
    return this.sections.some((s) => s.name === name && s.known);
  }

  /** The "meta" JSON section (source metadata, input fingerprints), parsed once on first use. */
  get metadata(): Record<string, unknown> {
    if (this.metadataValue === undefined) {
      const s = this.sections.find((x) => x.name === SectionName.meta && x.kind === SectionKind.json);
      let value: unknown = {};
      if (s) {
        const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + s.parts.bytes.offset, s.count).toString(
          'utf8',
        );
        try {
          value = JSON.parse(text);
        } catch (err) {
          throw new CacheFormatError(
            this.source,
            s.offset,
            `section "${SectionName.meta}" to hold valid JSON`,
            (err as Error).message,
          );
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          throw new CacheFormatError(
            this.source,
            s.offset,
            `section "${SectionName.meta}" to hold a JSON object`,
            value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value,
          );
        }
      }
      this.metadataValue = value;
    }
    return this.metadataValue as Record<string, unknown>;
  }

  /** The poem_index of a row: its 1-based position in poems.json, the number the pipeline's files use. */
  index(row: number): number {
    this.checkRow(row);
    return row + 1;
  }

  /** The row of a poem_index (1-based position in poems.json), or -1 when out of range. */
  rowOfIndex(poemIndex: number): number {
    return Number.isInteger(poemIndex) && poemIndex >= 1 && poemIndex <= this.count ? poemIndex - 1 : -1;
  }

  /** The poem id of a row (ids may repeat across categories: a poem is its row). */
  idOf(row: number): number {
    this.checkRow(row);
    return this.ids[row];
  }

  /**
   * The row of a poem id, or -1 when no poem has it. Throws AmbiguousIdError when several poems have it (the
   * pipeline numbers poems per category): use rowsOf(id) or rowOfIndex() there.
   */
  rowOf(id: number): number {
    const k = this.firstSorted(id);
    if (k < 0) return -1;
    if (this.denseIndex) return k;
    const perm = this.sortedIndex!;
    if (this.idsRepeat && k + 1 < perm.length && this.ids[perm[k + 1]] === id) {
      throw new AmbiguousIdError(this.source, id, this.rowsOf(id), (r) => this.describe(r));
    }
    return perm[k];
  }

  /** Every row with this poem id, in poems.json order (empty when none). */
  rowsOf(id: number): number[] {
    const k = this.firstSorted(id);
    if (k < 0) return [];
    if (this.denseIndex) return [k];
    const perm = this.sortedIndex!;
    const rows: number[] = [];
    for (let j = k; j < perm.length && this.ids[perm[j]] === id; j++) rows.push(perm[j]);
    return rows;
  }

  /** Dense index: the row of `id`; sorted index: the first position of `id` in it; -1 when absent. */
  private firstSorted(id: number): number {
    if (!Number.isInteger(id)) return -1;
    if (this.denseIndex) {
      const k = id - this.denseBase;
      return k >= 0 && k < this.denseIndex.length ? this.denseIndex[k] : -1;
    }
    const perm = this.sortedIndex!;
    let lo = 0;
    let hi = perm.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[perm[mid]] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo < perm.length && this.ids[perm[lo]] === id ? lo : -1;
  }

  /** "poem_index 57 (fediverse/0058.txt)" for messages. */
  describe(row: number): string {
    const path = this.fieldNames.includes('filepath') ? this.field('filepath', row) : null;
    const cat = this.has(SectionName.category) ? this.category(row) : '';
    const name = typeof path === 'string' && path ? path : `${cat ? `${cat} ` : ''}id ${this.ids[row]}`;
    return `poem_index ${row + 1} (${name})`;
  }

  /** The poem fields this cache holds (dotted paths, as given to the converter's `fields`). */
  get fieldNames(): readonly string[] {
    return [...this.fieldMap().keys()];
  }

  /** A poem field: the JSON scalar at that path of the poem object (null when absent or null). */
  field(name: string, row: number): FieldValue {
    this.checkRow(row);
    const s = this.fieldMap().get(name);
    if (!s) {
      const known = this.fieldNames;
      throw new Error(
        `${this.source}: no field "${name}" in this cache (its fields: ${known.length ? known.join(', ') : 'none'}); ` +
          'add it to the fields option (converter --fields) and convert again',
      );
    }
    const a = s.offsets[row];
    const b = s.offsets[row + 1];
    if (a === b) return null;
    const tag = s.bytes[a];
    if (tag === FieldTag.string) return s.bytes.toString('utf8', a + 1, b);
    if (tag === FieldTag.true) return true;
    if (tag === FieldTag.false) return false;
    if (tag === FieldTag.number) return Number(s.bytes.toString('latin1', a + 1, b));
    throw new CacheFormatError(
      this.source,
      a,
      `a field tag (s, n, t or f) in row ${row} of field "${name}"`,
      `byte ${tag}`,
    );
  }

  /**
   * A key for Astro's incremental builds (a getStaticPaths entry's `cacheKey`): the same string as long as
   * everything the cache holds for these rows' poems is the same — in this order — and `extra` is the same.
   * Covers each row's poem_index, id and every per-row string section (title, text, category, date, every
   * field column `field.N`, any unknown per-row strings section too); not lists or embeddings (a page passes
   * the rows it shows, so a list's order is in `rows`). Also covers which field path each field column holds;
   * never the file's path, mtime or backing. 32 hex characters; the first call digests every row once (one
   * pass over the raw bytes), later calls cost a hash of 16 bytes per row. Invalid rows throw like idOf().
   */
  pageKey(rows: ArrayLike<number>, ...extra: (string | number)[]): string {
    for (let i = 0; i < rows.length; i++) this.checkRow(rows[i]);
    for (const x of extra) {
      if (typeof x !== 'string' && typeof x !== 'number') {
        throw new TypeError(`${this.source}: pageKey extra values must be strings or numbers, got ${typeof x}`);
      }
    }
    if (!this.pageKeys) {
      const columns = [...this.strings].map(([name, s]) => ({ name, offsets: s.offsets, bytes: s.bytes }));
      // Which field path each field section holds (from "meta"): part of what a page shows.
      const fields = [...this.fieldMap()].map(([path, s]) => [
        path,
        columns.find((c) => c.offsets === s.offsets)?.name,
      ]);
      this.pageKeys = new PageKeys(rowDigests(this.ids, columns), JSON.stringify(fields));
    }
    return this.pageKeys.key(rows, extra);
  }

  private fieldMap(): Map<string, Strings> {
    if (this.fieldColumns) return this.fieldColumns;
    const map = new Map<string, Strings>();
    const list = (this.metadata as { fields?: unknown }).fields;
    if (Array.isArray(list)) {
      for (const f of list as { path?: unknown; section?: unknown }[]) {
        const s = typeof f?.section === 'string' ? this.strings.get(f.section) : undefined;
        if (typeof f?.path === 'string' && s) map.set(f.path, s);
      }
    }
    return (this.fieldColumns = map);
  }

  /** The embedding of a row: a view into the cache, not a copy. */
  embedding(row: number): Float32Array {
    this.checkRow(row);
    if (!this.embeddings) throw this.missing(SectionName.embeddings);
    return this.embeddings.subarray(row * this.dim, (row + 1) * this.dim);
  }

  /** Rows most similar to `row`, most similar first (a view). */
  similar(row: number): Int32Array {
    return this.list(SectionName.similar, row);
  }

  /** Similarity scores parallel to similar(row), when the source had them (a view). */
  similarScores(row: number): Float32Array | undefined {
    return this.listScores(SectionName.similar, row);
  }

  /** The diversity sequence of `row`: the row itself first, then ever more different poems (a view). */
  diversity(row: number): Int32Array {
    return this.list(SectionName.diversity, row);
  }

  /** Decoded once per thread and remembered: pages list the same neighbours' titles over and over. */
  title(row: number): string {
    return this.remembered(this.titles, SectionName.title, row);
  }

  text(row: number): string {
    return this.string(SectionName.text, row);
  }

  /** Decoded once per thread and remembered, like title(). */
  category(row: number): string {
    return this.remembered(this.categories, SectionName.category, row);
  }

  date(row: number): string {
    return this.string(SectionName.date, row);
  }

  /** Any ragged section by name, as a view. */
  list(name: string, row: number): Int32Array {
    this.checkRow(row);
    const r = this.ragged.get(name);
    if (!r) throw this.missing(name);
    const start = r.starts[row];
    return r.lengths[row] === 0 ? EMPTY_I32 : r.values.subarray(start, start + r.lengths[row]);
  }

  listScores(name: string, row: number): Float32Array | undefined {
    this.checkRow(row);
    const r = this.ragged.get(name);
    if (!r) throw this.missing(name);
    if (!r.scores) return undefined;
    const start = r.starts[row];
    return r.scores.subarray(start, start + r.lengths[row]);
  }

  /** Any strings section by name. */
  string(name: string, row: number): string {
    this.checkRow(row);
    const s = this.strings.get(name);
    if (!s) throw this.missing(name);
    return s.bytes.toString('utf8', s.offsets[row], s.offsets[row + 1]);
  }

  // Short, much-repeated strings only (titles, categories): texts are decoded per call, since keeping them
  // would copy the poems into every thread's heap.
  private remembered(memo: (string | undefined)[], name: string, row: number): string {
    const hit = memo[row];
    if (hit !== undefined) return hit;
    return (memo[row] = this.string(name, row));
  }

  private checkRow(row: number): void {
    if (!(row >= 0 && row < this.count && Number.isInteger(row))) {
      throw new RangeError(`${this.source}: row ${row} is outside 0..${this.count - 1}`);
    }
  }

  private missing(name: string): Error {
    return new Error(`${this.source}: the cache has no "${name}" section (its input was not converted)`);
  }
}

export interface OpenOptions {
  /** Use the pure-JS path even when the addon is available (also: env POEM_CACHE_NO_NATIVE=1). */
  fallback?: boolean;
}

// One reader per thread per file version: modules are per thread, so this map is too.
const opened = new Map<string, { key: string; reader: CacheReader }>();
const ENV_PREFIX = 'astro-poem-cache:image:';

/**
 * Opens a cache file: idempotent per thread (keyed by path, inode, size and mtime). Maps it with the native
 * addon, reads it once per process without it (later threads reuse that memory); either way parseCache then
 * checks header, table and per-row indexes (O(rows), no section data is read) before any view is made.
 */
export function openCache(path: string, options: OpenOptions = {}): CacheReader {
  const abs = resolve(path);
  const st = statSync(abs);
  const key = `${abs}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = opened.get(abs);
  if (hit && hit.key === key) return hit.reader;
  if (hit) releaseSharedImage(hit.key); // an older version of this file: let its memory go
  const native = options.fallback ? undefined : loadNative();
  // Either way the image is validated here, in full, before the reader makes any view of it.
  const bytes = native ? new Uint8Array(native.mapFile(abs)) : sharedImage(abs, key);
  const reader = new CacheReader(bytes, parseCache(bytes, abs), abs, native ? 'mmap' : 'memory');
  opened.set(abs, { key, reader });
  return reader;
}

/** Opens a cache that lives in a POSIX shared-memory segment (needs the native addon). */
export function openShm(name: string): CacheReader {
  const label = `shm:${name}`;
  const hit = opened.get(label);
  if (hit) return hit.reader;
  const native = loadNative();
  if (!native) throw new Error(`${label}: opening shared memory needs the native addon, which is not available`);
  const bytes = new Uint8Array(native.shmOpen(name));
  const reader = new CacheReader(bytes, parseCache(bytes, label), label, 'shm');
  opened.set(label, { key: label, reader });
  return reader;
}

/** A reader over an image already in memory (e.g. a SharedArrayBuffer handed to a worker). */
export function readerFromBytes(bytes: Uint8Array, label = 'memory'): CacheReader {
  return new CacheReader(bytes, parseCache(bytes, label), label, 'memory');
}

/** Drops this thread's reader for a path; the mapping goes when the last view is collected. */
export function forgetCache(path: string): void {
  const abs = resolve(path);
  const hit = opened.get(abs);
  if (hit) releaseSharedImage(hit.key);
  opened.delete(abs);
}

// Threads created from now on no longer inherit this image; the memory goes once no view refers to it.
function releaseSharedImage(key: string): void {
  if (isMainThread && getEnvironmentData(ENV_PREFIX + key) !== undefined)
    setEnvironmentData(ENV_PREFIX + key, undefined);
}

// Fallback: read the file once per process into a SharedArrayBuffer. Threads created after the first
// open inherit it through worker environment data, so every thread reads one copy.
function sharedImage(abs: string, key: string): Uint8Array {
  const envKey = ENV_PREFIX + key;
  const inherited = getEnvironmentData(envKey);
  if (inherited instanceof SharedArrayBuffer) return new Uint8Array(inherited);
  const fd = openSync(abs, 'r');
  try {
    const size = fstatSync(fd).size;
    const image = new Uint8Array(new SharedArrayBuffer(size));
    const got = readFileInto(fd, image);
    if (got < size) throw new CacheFormatError(abs, got, `${size} bytes (the file shrank while being read)`);
    if (isMainThread) setEnvironmentData(envKey, image.buffer as SharedArrayBuffer);
    return image;
  } finally {
    closeSync(fd);
  }
}
