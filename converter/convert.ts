// One conversion: poems.json first (it defines the poems), then the inputs that refer to poems in parallel
// (piscina threads), then one cache written through CacheWriter (temp file, fsync, rename).
import { readdir, stat, unlink } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url'; // worker file: .ts in this repository, .js installed
import { randomBytes } from 'node:crypto';
import { Piscina } from 'piscina';
import { CacheWriter, encodeIds, encodeJson, type EncodedSection } from '../cache/writer.ts';
import { FIELD_PREFIX, RAGGED_HAS_SCORES, SectionKind, SectionName } from '../cache/layout.ts';
import { AbortError, ConvertError } from './errors.ts';
import { fieldList } from './fields.ts';
import { PoemIndex, type KeyMode, type KeyReading } from './identity.ts';
import { checkInputResult, checkPoemCount, resolveLimits } from './limits.ts';
import { openSource, type ParserChoice } from './open-source.ts';
import { readPoems, type PoemsResult } from './poems.ts';
import { INPUT_ROLES, KEYED_ROLES, type InputRole, type KeyedRole } from './roles.ts';
import { mappedInts, spoolName } from './spool.ts';
import { Ticker } from './ticker.ts';
import { reviveError, runInput, type InputResult, type InputTask, type SerializedError } from './worker.ts';
import type { ReliabilityOptions } from './guard.ts';

export const CONVERTER_VERSION = '2.0.0';
const CONVERTER_NAME = 'astro-poem-cache/converter';

export interface ConvertOptions extends ReliabilityOptions {
  poems: string; // required
  embeddings?: string;
  similarity?: string;
  diversity?: string; // each optional: absent -> no section
  out: string;
  /** How each input names poems: 'auto' (default: read from the data), 'id', 'index' (1-based), 'index0'. */
  keys?: Partial<Record<KeyedRole, KeyMode>>;
  /** Poem fields to store beyond the defaults (DEFAULT_FIELDS), as dotted paths ("metadata.author"). */
  fields?: string[];
  force?: boolean; // convert even when the fingerprint says inputs are unchanged
  parser?: ParserChoice; // 'stream-json' forces the stream-json path
  workers?: number; // piscina threads for independent inputs; 0 = all in this thread; default min(3, cores)
  onProgress?: (p: {
    file: string;
    bytesRead: number;
    totalBytes: number;
    bytesPerSecond: number;
    etaSeconds: number;
  }) => void;
  signal?: AbortSignal;
  /** Testing knob: read buffer size in bytes (default 2 MiB); small values exercise chunk boundaries. */
  chunkSize?: number;
  /** Testing knob: embedding matrices up to this many bytes are gathered in memory (default 8 MiB). */
  matrixInMemory?: number;
}

export interface ConvertResult {
  out: string;
  skipped: boolean;
  size: number;
  rows: number;
  sections: string[];
  seconds: number;
  inputs: {
    role: InputRole;
    file: string;
    bytes: number;
    seconds: number;
    mbPerSecond: number;
    reading?: KeyReading;
  }[];
}

export interface Fingerprint {
  file: string;
  size: number;
  mtimeMs: number;
  crc32: number;
}

/** The roles given, with absolute paths (poems first). */
export function inputsOf(o: Pick<ConvertOptions, InputRole>): { role: InputRole; file: string }[] {
  return INPUT_ROLES.filter((r) => o[r] !== undefined && o[r] !== '').map((role) => ({
    role,
    file: resolve(o[role]!),
  }));
}

/** What a conversion stores besides the inputs themselves: part of a cache's freshness. */
export function conversionSettings(o: Pick<ConvertOptions, 'keys' | 'fields'>): {
  fields: string[];
  keys: Record<KeyedRole, KeyMode>;
} {
  return {
    fields: fieldList(o.fields),
    keys: Object.fromEntries(KEYED_ROLES.map((r) => [r, o.keys?.[r] ?? 'auto'])) as Record<KeyedRole, KeyMode>,
  };
}

/**
 * Progress: every reader writes its bytesRead into a shared slot; a timer reports at most 4 times a second, and
 * each input is reported as it ends (an input read in less than 250 ms still reports its end on time).
 */
function progressReporter(o: ConvertOptions, given: { file: string }[], sizes: number[]) {
  const buffer = new SharedArrayBuffer(8 * given.length);
  const progress = new Float64Array(buffer);
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
      const secs = Math.max(1e-3, (now - (startedAt[i] || now)) / 1000);
      const bytesPerSecond = bytesRead / secs;
      o.onProgress!({
        file: g.file,
        bytesRead,
        totalBytes: sizes[i],
        bytesPerSecond,
        etaSeconds: bytesPerSecond > 0 ? (sizes[i] - bytesRead) / bytesPerSecond : 0,
      });
    });
  };
  const timer = o.onProgress ? setInterval(report, 250) : undefined;
  return {
    buffer,
    progress,
    report,
    start: (slot: number) => (startedAt[slot] = performance.now()),
    stop: () => timer && clearInterval(timer),
  };
}

export async function convertUnguarded(
  o: ConvertOptions,
  isFresh: (o: ConvertOptions) => Promise<{ size: number; rows: number; sections: string[] } | undefined>,
): Promise<ConvertResult> {
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
  const settings = conversionSettings(o);
  if (!o.force) {
    const fresh = await isFresh(o);
    if (fresh) return { out, skipped: true, ...fresh, seconds: (performance.now() - t0) / 1000, inputs: [] };
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
  const progress = progressReporter(
    o,
    given,
    given.map((g) => stats.get(g.role)!.size),
  );
  const threads = o.workers ?? Math.min(3, availableParallelism());
  let pool: Piscina | undefined;
  let writer: CacheWriter | undefined;
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // 1. poems.json first: it defines the poems every other input names
    const tp = progress.start(0);
    const src = openSource(given[0].file, parser, o.chunkSize);
    let poems: PoemsResult;
    try {
      poems = await readPoems(
        src,
        settings.fields,
        (what) => spoolName(spoolBase, what),
        new Ticker(progress.progress, 0, signal),
      );
    } finally {
      src.close();
    }
    const poemSeconds = (performance.now() - tp) / 1000;
    progress.report();
    checkPoemCount(given[0].file, poems.ids.length, resolveLimits(o.limits));
    checkAbort();

    // 2. the inputs that name poems, in parallel
    const tasks: InputTask[] = given.slice(1).map((g, k) => ({
      role: g.role as KeyedRole,
      file: g.file,
      poems: { ids: poems.ids, labels: poems.labels },
      keys: settings.keys[g.role as KeyedRole],
      spoolBase,
      parser,
      chunkSize: o.chunkSize,
      matrixInMemory: o.matrixInMemory,
      progress: progress.buffer,
      slot: k + 1,
    }));
    for (const t of tasks) progress.start(t.slot);
    let results: InputResult[];
    if (threads > 0 && tasks.length > 0) {
      const n = Math.min(threads, tasks.length);
      pool = new Piscina({
        filename: new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href,
        minThreads: n,
        maxThreads: n,
        idleTimeout: 60_000,
        // a small young generation per worker isolate keeps peak RSS low (JSON.parse garbage is short-lived)
        resourceLimits: { maxYoungGenerationSizeMb: 8 },
      });
      // A task that finished just as it was aborted makes piscina emit 'error' ("Unexpected message from
      // Worker"): benign here, its spool files are removed below with the rest.
      pool.on('error', () => {});
      const settled = await Promise.allSettled(
        tasks.map(async (t) => {
          try {
            const r = (await pool!.run(t, { signal: inner.signal })) as InputResult | { error: SerializedError };
            if ('error' in r) throw reviveError(r.error);
            progress.report();
            return r;
          } catch (err) {
            inner.abort(err); // one failed input stops the others
            throw err;
          }
        }),
      );
      checkAbort();
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && !isAbortLike(s.reason));
      if (failed) throw failed.reason;
      const anyFailed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (anyFailed) throw anyFailed.reason;
      results = settled.map((s) => (s as PromiseFulfilledResult<InputResult>).value);
    } else {
      results = [];
      for (const t of tasks) {
        results.push(await runInput(t, signal));
        progress.report();
      }
    }
    checkAbort();
    const index = new PoemIndex(poems);
    for (const r of results)
      checkInputResult(r, given.find((g) => g.role === r.role)!.file, resolveLimits(o.limits), index);

    // 3. one cache through CacheWriter: temp file, fsync, rename
    const rows = poems.ids.length;
    writer = await CacheWriter.create(out, { maxSections: 16 + poems.fields.length });
    const sections: string[] = [];
    const add = async (s: EncodedSection) => {
      checkAbort();
      await writer!.addSection(s);
      sections.push(s.name);
    };
    await add(encodeIds(poems.ids));
    for (const name of ['title', 'text', 'category', 'date'] as const) {
      const col = poems.strings[name];
      await add({
        name: SectionName[name],
        kind: SectionKind.strings,
        count: rows,
        param: col.bytes,
        parts: [col.offsets, { file: col.file }],
      });
    }
    const fields = poems.fields.map((f, i) => ({ path: f.path, section: `${FIELD_PREFIX}${i}`, types: f.types }));
    for (const [i, f] of poems.fields.entries()) {
      await add({
        name: fields[i].section,
        kind: SectionKind.strings,
        count: rows,
        param: f.column.bytes,
        parts: [f.column.offsets, { file: f.column.file }],
      });
    }
    const byRole = new Map(results.map((r) => [r.role, r]));
    const emb = byRole.get('embeddings');
    if (emb)
      await add({
        name: SectionName.embeddings,
        kind: SectionKind.matrix,
        count: rows,
        param: emb.matrix!.dim,
        parts: [{ file: emb.matrix!.file }],
      });
    for (const [role, name] of [
      ['similarity', SectionName.similar],
      ['diversity', SectionName.diversity],
    ] as const) {
      const result = byRole.get(role);
      const r = result?.ragged;
      if (!r) continue;
      // the numbers as the file had them, turned into rows under the file's reading on the way into the cache
      const values = mappedInts(r.valuesFile, (v) => index.toRows(result.reading, v));
      await add({
        name,
        kind: SectionKind.ragged,
        flags: r.scoresFile ? RAGGED_HAS_SCORES : 0,
        count: rows,
        param: r.total,
        parts: r.scoresFile ? [r.starts, r.lengths, values, { file: r.scoresFile }] : [r.starts, r.lengths, values],
      });
    }
    const crcs: Record<string, number> = {
      poems: poems.crc,
      ...Object.fromEntries(results.map((r) => [r.role, r.crc])),
    };
    const inputs: Record<string, Fingerprint> = {};
    const sources: Record<string, unknown> = {};
    for (const g of given) {
      const st = stats.get(g.role)!;
      inputs[g.role] = { file: basename(g.file), size: st.size, mtimeMs: st.mtimeMs, crc32: crcs[g.role] };
      sources[g.role] = g.role === 'poems' ? poems.sourceMeta : byRole.get(g.role as KeyedRole)!.sourceMeta;
    }
    const readings = Object.fromEntries(results.map((r) => [r.role, r.reading]));
    await add(
      encodeJson(SectionName.meta, {
        converter: { name: CONVERTER_NAME, version: CONVERTER_VERSION },
        rows,
        inputs,
        sources,
        settings,
        readings,
        fields,
        idsRepeat: index.repeatedIds > 0,
      }),
    );
    checkAbort();
    const { size } = await writer.finish();
    writer = undefined;
    progress.report();
    const seconds = (performance.now() - t0) / 1000;
    return {
      out,
      skipped: false,
      size,
      rows,
      sections,
      seconds,
      inputs: [
        {
          role: 'poems',
          file: given[0].file,
          bytes: poems.bytes,
          seconds: poemSeconds,
          mbPerSecond: poems.bytes / 1e6 / Math.max(poemSeconds, 1e-6),
        },
        ...results.map((r) => ({
          role: r.role,
          file: given.find((g) => g.role === r.role)!.file,
          bytes: r.bytes,
          seconds: r.seconds,
          mbPerSecond: r.bytes / 1e6 / Math.max(r.seconds, 1e-6),
          reading: r.reading,
        })),
      ],
    };
  } catch (err) {
    if (signal?.aborted && !(err instanceof AbortError) && !(err instanceof ConvertError))
      throw new AbortError(signal.reason);
    if (signal?.aborted && isAbortLike(err)) throw new AbortError(signal.reason);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    progress.stop();
    if (writer) await writer.abort();
    if (pool) await pool.destroy();
    await removeSpools(dir, spoolPrefix);
  }
}

function isAbortLike(err: unknown): boolean {
  return (
    err instanceof AbortError || (err instanceof Error && (err.name === 'AbortError' || /abort/i.test(err.message)))
  );
}

async function removeSpools(dir: string, prefix: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => unlink(join(dir, n)).catch(() => {})));
}
