// The converter library: poems.json (+ embeddings, similarity rankings, diversity sequences) -> one cache
// file written through CacheWriter (temp file, fsync, rename). See README notes in the report / docs.
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url'; // worker file: .ts in this repository, .js installed
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Piscina } from 'piscina';
import { CacheWriter, encodeIds, encodeJson } from '../cache/writer.ts';
import { RAGGED_HAS_SCORES, SectionKind, SectionName } from '../cache/layout.ts';
import { CacheFormatError, readCacheLayout, readSectionChecked } from '../cache/validate.ts';
import { AbortError, ConvertError } from './errors.ts';
import { openSource, readPoems, Ticker, type ParserChoice, type PoemsResult } from './inputs.ts';
import { reviveError, runInput, spoolName, type InputResult, type InputTask, type SerializedError } from './worker.ts';
import { runGuarded, type ReliabilityOptions } from './guard.ts';
import { checkInputResult, checkPoemCount, resolveLimits } from './limits.ts';

export { ConvertError, AbortError } from './errors.ts';

export const CONVERTER_VERSION = '1.0.0';
const CONVERTER_NAME = 'astro-poem-cache/converter';

export type InputRole = 'poems' | 'embeddings' | 'similarity' | 'diversity';

export interface ConvertOptions extends ReliabilityOptions {
  poems: string; // required
  embeddings?: string;
  similarity?: string;
  diversity?: string; // each optional: absent -> no section
  out: string;
  force?: boolean; // convert even when the fingerprint says inputs are unchanged
  parser?: 'auto' | 'stream-json'; // 'stream-json' forces the stream-json path
  workers?: number; // piscina threads for independent inputs; 0 = all in this thread; default min(3, cores)
  onProgress?: (p: { file: string; bytesRead: number; totalBytes: number; bytesPerSecond: number; etaSeconds: number }) => void;
  signal?: AbortSignal;
  /** Testing knob: read buffer size in bytes (default 4 MiB); small values exercise chunk boundaries. */
  chunkSize?: number;
}

export interface ConvertResult {
  out: string;
  skipped: boolean;
  size: number;
  rows: number;
  sections: string[];
  seconds: number;
  inputs: { role: InputRole; file: string; bytes: number; seconds: number; mbPerSecond: number }[];
}

type Paths = Pick<ConvertOptions, 'poems' | 'embeddings' | 'similarity' | 'diversity' | 'out'>;

const ROLES: InputRole[] = ['poems', 'embeddings', 'similarity', 'diversity'];

interface Fingerprint {
  file: string;
  size: number;
  mtimeMs: number;
  crc32: number;
}

/** The roles given, with absolute paths. */
function inputsOf(o: Paths): { role: InputRole; file: string }[] {
  return ROLES.filter((r) => o[r] !== undefined && o[r] !== '').map((role) => ({ role, file: resolve(o[role]!) }));
}

// ---------------------------------------------------------------- freshness

/**
 * Reads the "meta" JSON section (and the section names) of an existing cache without reading the rest: the
 * header and the section table, validated by cache/validate.ts, then the meta section, checked against its
 * checksum. Undefined when there is no readable cache there (missing, damaged, not ours, no meta object).
 */
export async function readCacheMeta(path: string): Promise<{ meta: Record<string, unknown>; sections: string[]; rows: number; size: number } | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const { header, sections } = await readCacheLayout(fh, path);
    const known = (name: string, kind: number) => sections.find((s) => s.name === name && s.known && s.kind === kind);
    const metaSection = known(SectionName.meta, SectionKind.json);
    if (!metaSection) return undefined;
    const meta: unknown = JSON.parse(new TextDecoder().decode(await readSectionChecked(fh, path, metaSection)));
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return undefined;
    const rows = known(SectionName.ids, SectionKind.ids)?.count ?? 0;
    const names = sections.map((s) => s.name);
    return { meta: meta as Record<string, unknown>, sections: names, rows, size: header.fileSize };
  } catch (e) {
    // Not a cache this converter can trust: convert again. OS errors (EISDIR, EIO) say the same; bugs do not.
    const osError = typeof (e as { code?: unknown }).code === 'string';
    if (e instanceof CacheFormatError || e instanceof SyntaxError || osError) return undefined;
    throw e;
  } finally {
    await fh.close();
  }
}

async function crcOfFile(file: string): Promise<number> {
  let c = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) c = crc32(chunk as Buffer, c);
  return c;
}

/**
 * True when `out` is a cache written by this converter version from exactly these inputs: the same set of
 * roles, and per input the same size and the same CRC-32 of the whole file (hashed here, streamed; mtime is
 * recorded but not compared, so a touch or a fresh checkout does not force a conversion).
 */
export async function isFresh(o: Paths): Promise<boolean> {
  const existing = await readCacheMeta(resolve(o.out));
  if (!existing) return false;
  const meta = existing.meta as { converter?: { version?: string }; inputs?: Record<string, Fingerprint> };
  if (meta.converter?.version !== CONVERTER_VERSION || !meta.inputs) return false;
  const given = inputsOf(o);
  if (Object.keys(meta.inputs).sort().join() !== given.map((g) => g.role).sort().join()) return false;
  for (const { role, file } of given) {
    const fp = meta.inputs[role];
    try {
      const st = await stat(file);
      if (st.size !== fp.size) return false;
      if ((await crcOfFile(file)) !== fp.crc32) return false;
    } catch {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- conversion

/** Converts under the output's lock, after removing dead converters' leftovers (converter/guard.ts). */
export async function convertCaches(o: ConvertOptions): Promise<ConvertResult> {
  return runGuarded(o, convertUnguarded);
}

async function convertUnguarded(o: ConvertOptions): Promise<ConvertResult> {
  const t0 = performance.now();
  if (!o.poems) throw new Error('convertCaches: "poems" is required');
  if (!o.out) throw new Error('convertCaches: "out" is required');
  const out = resolve(o.out);
  const signal = o.signal;
  const checkAbort = () => {
    if (signal?.aborted) throw new AbortError(signal.reason);
  };
  checkAbort();
  const given = inputsOf(o);
  if (!o.force && (await isFresh(o))) {
    const m = (await readCacheMeta(out))!;
    return { out, skipped: true, size: m.size, rows: m.rows, sections: m.sections, seconds: (performance.now() - t0) / 1000, inputs: [] };
  }
  const parser: ParserChoice = o.parser ?? 'auto';
  const dir = dirname(out);
  const spoolPrefix = `${basename(out)}.spool-${process.pid}-${randomBytes(6).toString('hex')}`;
  const spoolBase = join(dir, spoolPrefix);
  const stats = new Map<InputRole, { size: number; mtimeMs: number }>();
  for (const g of given) {
    const st = await stat(g.file).catch((err: NodeJS.ErrnoException) => {
      throw new ConvertError(g.file, `cannot read the file (${err.code ?? err.message})`, 'an existing JSON file');
    });
    stats.set(g.role, { size: st.size, mtimeMs: st.mtimeMs });
  }

  // progress: every reader writes its bytesRead into a shared slot; a timer reports at most 4 times a second
  const progressBuf = new SharedArrayBuffer(8 * given.length);
  const progress = new Float64Array(progressBuf);
  const startedAt = new Float64Array(given.length);
  const reported = new Float64Array(given.length).fill(-1);
  const report = () => {
    if (!o.onProgress) return;
    const now = performance.now();
    given.forEach((g, i) => {
      const bytesRead = progress[i];
      if (bytesRead === reported[i] || bytesRead === 0) return;
      reported[i] = bytesRead;
      if (!startedAt[i]) startedAt[i] = now;
      const totalBytes = stats.get(g.role)!.size;
      const secs = Math.max(1e-3, (now - (startedAt[i] || now)) / 1000);
      const bytesPerSecond = bytesRead / secs;
      o.onProgress!({ file: g.file, bytesRead, totalBytes, bytesPerSecond, etaSeconds: bytesPerSecond > 0 ? (totalBytes - bytesRead) / bytesPerSecond : 0 });
    });
  };
  const timer = o.onProgress ? setInterval(report, 250) : undefined;
  const threads = o.workers ?? Math.min(3, availableParallelism());
  let pool: Piscina | undefined;
  let writer: CacheWriter | undefined;
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // 1. poems.json first: its ids map every other input's ids to rows
    const tp = performance.now();
    startedAt[0] = tp;
    const src = openSource(given[0].file, parser, o.chunkSize);
    let poems: PoemsResult;
    try {
      poems = await readPoems(src, (what) => spoolName(spoolBase, what), new Ticker(progress, 0, signal));
    } finally {
      src.close();
    }
    const poemSeconds = (performance.now() - tp) / 1000;
    checkPoemCount(given[0].file, poems.ids.length, resolveLimits(o.limits));
    checkAbort();

    // 2. independent inputs, in parallel
    const tasks: InputTask[] = given.slice(1).map((g, k) => ({
      role: g.role as InputTask['role'], file: g.file, ids: poems.ids, spoolBase, parser, chunkSize: o.chunkSize, progress: progressBuf, slot: k + 1,
    }));
    tasks.forEach((t) => (startedAt[t.slot] = performance.now()));
    let results: InputResult[];
    if (threads > 0 && tasks.length > 0) {
      const n = Math.min(threads, tasks.length);
      pool = new Piscina({ filename: new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href, minThreads: n, maxThreads: n, idleTimeout: 60_000,
        // a small young generation per worker isolate keeps peak RSS low (JSON.parse garbage is short-lived)
        resourceLimits: { maxYoungGenerationSizeMb: 8 } });
      // A task that finished just as it was aborted makes piscina emit 'error' ("Unexpected message from
      // Worker"): benign here, its spool files are removed below with the rest.
      pool.on('error', () => {});
      const settled = await Promise.allSettled(tasks.map(async (t) => {
        try {
          const r = (await pool!.run(t, { signal: inner.signal })) as InputResult | { error: SerializedError };
          if ('error' in r) throw reviveError(r.error);
          return r;
        } catch (err) {
          inner.abort(err); // one failed input stops the others
          throw err;
        }
      }));
      checkAbort();
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !isAbortLike(s.reason));
      if (failed) throw failed.reason;
      const anyFailed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (anyFailed) throw anyFailed.reason;
      results = settled.map((s) => (s as PromiseFulfilledResult<InputResult>).value);
    } else {
      results = [];
      for (const t of tasks) results.push(await runInput(t, signal));
    }
    checkAbort();
    for (const r of results) checkInputResult(r, given.find((g) => g.role === r.role)!.file, resolveLimits(o.limits), poems.ids);

    // 3. one cache through CacheWriter: temp file, fsync, rename
    const rows = poems.ids.length;
    writer = await CacheWriter.create(out, { maxSections: 16 });
    const sections: string[] = [];
    const add = async (s: Parameters<CacheWriter['addSection']>[0]) => {
      checkAbort();
      await writer!.addSection(s);
      sections.push(s.name);
    };
    await add(encodeIds(poems.ids));
    for (const name of ['title', 'text', 'category', 'date'] as const) {
      const col = poems.strings[name];
      await add({ name: SectionName[name], kind: SectionKind.strings, count: rows, param: col.bytes, parts: [col.offsets, { file: col.file }] });
    }
    const byRole = new Map(results.map((r) => [r.role, r]));
    const emb = byRole.get('embeddings');
    if (emb) await add({ name: SectionName.embeddings, kind: SectionKind.matrix, count: rows, param: emb.matrix!.dim, parts: [{ file: emb.matrix!.file }] });
    for (const [role, name] of [['similarity', SectionName.similar], ['diversity', SectionName.diversity]] as const) {
      const r = byRole.get(role)?.ragged;
      if (!r) continue;
      await add({
        name, kind: SectionKind.ragged, flags: r.scoresFile ? RAGGED_HAS_SCORES : 0, count: rows, param: r.total,
        parts: r.scoresFile ? [r.starts, r.lengths, { file: r.valuesFile }, { file: r.scoresFile }] : [r.starts, r.lengths, { file: r.valuesFile }],
      });
    }
    const crcs: Record<string, number> = { poems: poems.crc, ...Object.fromEntries(results.map((r) => [r.role, r.crc])) };
    const fingerprints: Record<string, Fingerprint> = {};
    const sources: Record<string, unknown> = {};
    for (const g of given) {
      const st = stats.get(g.role)!;
      fingerprints[g.role] = { file: basename(g.file), size: st.size, mtimeMs: st.mtimeMs, crc32: crcs[g.role] };
      sources[g.role] = g.role === 'poems' ? poems.sourceMeta : byRole.get(g.role)!.sourceMeta;
    }
    await add(encodeJson(SectionName.meta, { converter: { name: CONVERTER_NAME, version: CONVERTER_VERSION }, rows, inputs: fingerprints, sources }));
    checkAbort();
    const { size } = await writer.finish();
    writer = undefined;
    report();
    const seconds = (performance.now() - t0) / 1000;
    const inputs: ConvertResult['inputs'] = [
      { role: 'poems', file: given[0].file, bytes: poems.bytes, seconds: poemSeconds, mbPerSecond: poems.bytes / 1e6 / Math.max(poemSeconds, 1e-6) },
      ...results.map((r) => ({ role: r.role, file: given.find((g) => g.role === r.role)!.file, bytes: r.bytes, seconds: r.seconds, mbPerSecond: r.bytes / 1e6 / Math.max(r.seconds, 1e-6) })),
    ];
    return { out, skipped: false, size, rows, sections, seconds, inputs };
  } catch (err) {
    if (signal?.aborted && !(err instanceof AbortError) && !(err instanceof ConvertError)) throw new AbortError(signal.reason);
    if (signal?.aborted && isAbortLike(err)) throw new AbortError(signal.reason);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (timer) clearInterval(timer);
    if (writer) await writer.abort();
    if (pool) await pool.destroy();
    await removeSpools(dir, spoolPrefix);
  }
}

function isAbortLike(err: unknown): boolean {
  return err instanceof AbortError || (err instanceof Error && (err.name === 'AbortError' || /abort/i.test(err.message)));
}

async function removeSpools(dir: string, prefix: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => unlink(join(dir, n)).catch(() => {})));
}
