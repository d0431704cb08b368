// The tang benchmark data set: every poem of the Complete Tang Poems (全唐诗) in the npm package
// chinese-poetry@2.0.1 (dist/quantangshi/poet.tang.*.json: 57,607 poems, real text), in the pipeline's real
// file shapes (scripts/pipeline/) with top-K = 100 lists. Called by
// `node bench/generate.ts --size tang --out DIR [--limit N]`.
//
// Source: fetched on demand with `npm pack chinese-poetry@2.0.1` into DIR/src (85 MB; MIT; deliberately not a
// dependency of this package), checked against the integrity pinned below, the Tang files extracted with tar;
// DIR/src/SOURCE.json records what was used. Offline, it fails saying where to put the tarball instead.
//
// What is written (same bytes on every run, whatever the number of threads):
//   poems.json          dkjson, three categories by form, each a block in file order: jueju (2 couplets),
//                       lushi (4 couplets), gushi (the rest), source order within each; ids restart at 1 per
//                       category with ~1% gaps, filepath "<category>/<id %04d>.txt"; title, content (the
//                       couplets joined with newlines), metadata (author, the source's uuid, tags when present,
//                       counts). A poem is its position (poem_index).
//   embeddings.json     dkjson, by poem_index; 768-d, model-free: signed-hashed TF-IDF of Han-character unigrams
//                       and bigrams of the text (and, as separate features, of the title), projected to 768
//                       dimensions by a sparse random projection (16 signed entries per feature), L2-normalised,
//                       float32, printed as the model server's shortest float32 text. With 57k poems the
//                       projection's noise (~1/sqrt(768) on a cosine) is of the order of most poems' true TF-IDF
//                       similarities, so beyond the first few a list is partly chance: benchmark data.
//   similarity_rankings_cache.json  C layout, 1-based poem_index: the 100 most similar poems per poem, EXACT over
//                       the embeddings as written (all 1.66e9 pairs, float32 dot products in a WebAssembly SIMD
//                       kernel, scripts/pipeline/dot-kernel.ts), most similar first, ties by position.
//   diversity_cache.json  compact dkjson, 0-based positions, keys in hash order: per poem a 100-long sequence:
//                       the poem, then greedily (MMR-like, lambda 0.5) the candidate least similar to the poem and
//                       to everything already chosen; candidates: 256 poems drawn per poem from a fixed pool of
//                       2,048, so the sequences link to those 2,048 poems only (a greedy over all 57k poems per
//                       poem would take hours).
// Cost at 57,607 poems on 2 cores: ~3 minutes (2 of them the exact similarity), ~1 GB peak RSS (the embeddings
// and the per-thread top-100 heaps live in memory; the output is streamed).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { blocked, dotKernel, dotRef } from '../scripts/pipeline/dot-kernel.ts';
import {
  FILES,
  RankingsFile,
  writeDiversityFile,
  writeEmbeddingsFile,
  writePoemsFile,
  type LuaObject,
} from '../scripts/pipeline/files.ts';
import { LuaKeyOrder } from '../scripts/pipeline/format.ts';
import { idsWithGaps, type GenerateResult } from '../scripts/pipeline/generate.ts';
import { prng, subSeed } from '../scripts/pipeline/random.ts';
import { byteLength, wordCount } from '../scripts/pipeline/text.ts';
import {
  DIVERSITY_CHUNK,
  TEXT_CHUNK,
  type DiversityJob,
  type DiversityResult,
  type EmbeddingsJob,
  type Layout,
  type SimilarityJob,
  type SimilarityResult,
} from './lib/tang-worker.ts';

export const TANG = {
  package: 'chinese-poetry',
  version: '2.0.1',
  /** npm's dist.integrity of chinese-poetry@2.0.1 (sha512 of the .tgz). */
  integrity: 'sha512-KtYARvV7CWNtax0na9+Jn6PlhGgSoid7PWyDzXI4KsCEm2odZcqEQyval5koaLygZnM/EQ3lfJ//25K8p3uHNg==',
  files: 'package/dist/quantangshi/poet.tang.*.json',
  dim: 768,
  k: 100,
  seed: 0x7a4e0618,
  /** Diversity: candidates per poem, drawn from a fixed pool of this many poems. */
  candidates: 256,
  pool: 2048,
  lambda: 0.5,
  /** Sparse projection: signed entries per feature. */
  projection: 16,
} as const;
const TARBALL = `${TANG.package}-${TANG.version}.tgz`;
const MODEL = `tfidf-hashed-${TANG.dim} (Han character unigrams + bigrams of text and title, sparse random projection)`;
const SOURCE = `${TANG.package}@${TANG.version} dist/quantangshi (全唐诗)`;
/** The files' timestamps: fixed, so every run writes the same bytes. */
const GENERATED = '2025-12-14 20:03:26';

export interface TangOptions {
  limit?: number;
  threads?: number;
  log?: (line: string) => void;
}

// ---------------------------------------------------------------- source

/** npm's two digests of a tarball: integrity (sha512, base64) and shasum (sha1, hex). */
function digests(file: string): { integrity: string; sha1: string } {
  const bytes = readFileSync(file);
  return {
    integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
    sha1: createHash('sha1').update(bytes).digest('hex'),
  };
}

/** Fetches (or reuses) the verified tarball in srcDir and extracts the Tang files (returned in numeric order). */
export function fetchSource(srcDir: string, log: (s: string) => void): { files: string[]; sha1: string } {
  mkdirSync(srcDir, { recursive: true });
  const tgz = join(srcDir, TARBALL);
  const manual =
    `put ${TARBALL} (npm's ${TANG.package}@${TANG.version}, integrity ${TANG.integrity}) ` +
    `into ${srcDir} and run again`;
  let got = existsSync(tgz) ? digests(tgz) : undefined;
  if (got?.integrity !== TANG.integrity) {
    rmSync(tgz, { force: true });
    log(`fetching ${TANG.package}@${TANG.version} (85 MB) with npm pack into ${srcDir}`);
    const r = spawnSync('npm', ['pack', `${TANG.package}@${TANG.version}`, '--json', '--pack-destination', srcDir], {
      cwd: srcDir,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (r.error || r.status !== 0 || !existsSync(tgz)) {
      // npm's own words: "npm error code ECONNREFUSED" and the first line that says what failed
      const said = (r.stderr ?? '')
        .split('\n')
        .filter((l) => l.startsWith('npm error '))
        .map((l) => l.slice(10).trim());
      const what = [
        said.find((l) => l.startsWith('code ')),
        said.find((l) => l && !/^(code |syscall |errno |at |[{}]|[a-z]+: )/.test(l)),
      ];
      const why = r.error ? r.error.message : what.filter(Boolean).join(': ') || `npm pack exited with ${r.status}`;
      throw new Error(
        `cannot download ${TANG.package}@${TANG.version} with "npm pack" (offline, or no npm registry?): ${why}\n` +
          `The tang data set is built from that package's Complete Tang Poems; ` +
          `it is not a dependency of astro-poem-cache. Go online, or ${manual}.`,
      );
    }
    got = digests(tgz);
    if (got.integrity !== TANG.integrity)
      throw new Error(`${tgz}: integrity ${got.integrity}, expected ${TANG.integrity}; remove it, or ${manual}`);
  }
  const pkgDir = join(srcDir, 'package');
  rmSync(pkgDir, { recursive: true, force: true });
  const x = spawnSync(
    'tar',
    ['-xzf', tgz, '-C', srcDir, '--wildcards', TANG.files, 'package/LICENSE', 'package/package.json'],
    { encoding: 'utf8' },
  );
  if (x.error || x.status !== 0)
    throw new Error(`tar could not extract ${TANG.files} from ${tgz}: ${x.error?.message ?? x.stderr.trim()}`);
  const dir = join(pkgDir, 'dist', 'quantangshi');
  const files = readdirSync(dir)
    .filter((f) => /^poet\.tang\.\d+\.json$/.test(f))
    .sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
  if (files.length === 0) throw new Error(`${tgz}: no ${TANG.files}`);
  return { files: files.map((f) => join(dir, f)), sha1: got.sha1 };
}

interface SourcePoem {
  author: string;
  title: string;
  paragraphs: string[];
  id: string;
  tags?: string[];
}

// ---------------------------------------------------------------- features and embeddings

const isHan = (c: number) =>
  (c >= 0x3400 && c <= 0x4dbf) ||
  (c >= 0x4e00 && c <= 0x9fff) ||
  (c >= 0xf900 && c <= 0xfaff) ||
  (c >= 0x20000 && c <= 0x3134f);

/** FNV-1a over the bytes of three 32-bit words: a feature's hash (kind, first code point, second code point). */
function featureHash(kind: number, a: number, b: number): number {
  let h = 0x811c9dc5;
  for (const v of [kind, a, b]) {
    for (let s = 0; s < 32; s += 8) {
      h ^= (v >>> s) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}

/** Kinds: 1/2 text unigram/bigram, 3/4 title unigram/bigram; bigrams never cross punctuation or a line break. */
function addFeatures(text: string, uni: number, bi: number, tf: Map<number, number>): void {
  let prev = -1;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (!isHan(c)) {
      prev = -1;
      continue;
    }
    const u = featureHash(uni, c, 0);
    tf.set(u, (tf.get(u) ?? 0) + 1);
    if (prev >= 0) {
      const g = featureHash(bi, prev, c);
      tf.set(g, (tf.get(g) ?? 0) + 1);
    }
    prev = c;
  }
}

/** Fills `emb` (n x dim float32) with normalised TF-IDF projections of the poems. */
function embed(poems: SourcePoem[], dim: number, emb: Float32Array): void {
  const n = poems.length;
  const keys: Uint32Array[] = new Array(n);
  const counts: Float64Array[] = new Array(n);
  const df = new Map<number, number>();
  for (let r = 0; r < n; r++) {
    const tf = new Map<number, number>();
    addFeatures(poems[r].paragraphs.join('\n'), 1, 2, tf);
    addFeatures(poems[r].title, 3, 4, tf);
    if (tf.size === 0) tf.set(featureHash(5, r + 1, 0), 1); // no Han character at all: a feature of its own
    const k = Uint32Array.from(tf.keys()).sort();
    keys[r] = k;
    counts[r] = Float64Array.from(k, (f) => tf.get(f)!);
    for (const f of k) df.set(f, (df.get(f) ?? 0) + 1);
  }
  const v = new Float64Array(dim);
  const S = TANG.projection;
  const scale = 1 / Math.sqrt(S);
  for (let r = 0; r < n; r++) {
    v.fill(0);
    const k = keys[r];
    const c = counts[r];
    for (let f = 0; f < k.length; f++) {
      const w = (1 + Math.log(c[f])) * (Math.log((1 + n) / (1 + df.get(k[f])!)) + 1) * scale;
      let x = k[f] | 1; // xorshift32 from the feature's hash: its S (dimension, sign) entries
      for (let s = 0; s < S; s++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const u = x >>> 0;
        v[u % dim] += u & 0x80000000 ? -w : w;
      }
    }
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += v[d] * v[d];
    norm = Math.sqrt(norm);
    for (let d = 0; d < dim; d++) emb[r * dim + d] = Math.fround(v[d] / norm);
  }
}

// ---------------------------------------------------------------- writers

const FORMS = ['jueju', 'lushi', 'gushi'] as const;
/** The form of a poem by its number of couplets (the source's "paragraphs"): 2 jueju, 4 lushi, else gushi. */
const formOf = (p: SourcePoem) => (p.paragraphs.length === 2 ? 'jueju' : p.paragraphs.length === 4 ? 'lushi' : 'gushi');

/** The poems as poems.json holds them, in file order (category blocks, source order within each). */
function tangPoems(source: SourcePoem[]): { poems: SourcePoem[]; entries: LuaObject[] } {
  const poems: SourcePoem[] = [];
  const entries: LuaObject[] = [];
  for (const form of FORMS) {
    const members = source.filter((p) => formOf(p) === form);
    const ids = idsWithGaps(members.length, prng(subSeed(TANG.seed, form)));
    members.forEach((p, i) => {
      const content = p.paragraphs.join('\n');
      poems.push(p);
      entries.push({
        title: p.title,
        content,
        category: form,
        id: ids[i],
        filepath: `${form}/${String(ids[i]).padStart(4, '0')}.txt`,
        creation_date: '618–907',
        length: byteLength(content),
        metadata: {
          author: p.author,
          source_id: p.id,
          tags: p.tags?.length ? p.tags : undefined,
          has_content_warning: false,
          character_count: byteLength(content),
          word_count: wordCount(content),
        },
      });
    });
  }
  return { poems, entries };
}

/** embeddings.json's entries as text, chunk by chunk from the threads, in order. */
async function* embeddingChunks(
  n: number,
  job: Omit<EmbeddingsJob, 'index' | 'threads' | 'written' | 'window'>,
  threads: number,
): AsyncGenerator<{ text: Uint8Array; count: number }> {
  const chunks = Math.ceil(n / TEXT_CHUNK);
  const written = new SharedArrayBuffer(4);
  const count = new Int32Array(written);
  const ready = new Map<number, Uint8Array>();
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const pool = Array.from({ length: threads }, (_, index) => {
    const w = new Worker(WORKER, {
      workerData: { ...job, index, threads, written, window: 2 * threads + 2 } satisfies EmbeddingsJob,
    });
    let done = false;
    w.on('message', (m: { chunk?: number; bytes?: Uint8Array; done?: boolean }) => {
      if (m.done) done = true;
      else ready.set(m.chunk!, m.bytes!);
      wake?.();
    });
    w.on('error', (e) => {
      failed = e;
      wake?.();
    });
    w.on('exit', (code) => {
      if (!done)
        failed ??= new Error(`${WORKER.pathname}: embeddings thread ${index} exited (${code}) before its last chunk`);
      wake?.();
    });
    return w;
  });
  try {
    for (let c = 0; c < chunks; c++) {
      while (!ready.has(c)) {
        if (failed) throw failed;
        await new Promise<void>((r) => (wake = r));
      }
      yield { text: ready.get(c)!, count: Math.min(TEXT_CHUNK, n - c * TEXT_CHUNK) };
      ready.delete(c);
      Atomics.store(count, 0, c + 1);
      Atomics.notify(count, 0);
    }
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------- threads

const WORKER = new URL('./lib/tang-worker.ts', import.meta.url);

function runJobs<T>(jobs: (SimilarityJob | DiversityJob)[]): Promise<T[]> {
  return Promise.all(
    jobs.map(async (job) => {
      const w = new Worker(WORKER, { workerData: job });
      const [msg] = await Promise.race([
        once(w, 'message'),
        once(w, 'error').then(([e]) => {
          throw e;
        }),
        once(w, 'exit').then(([code]) => {
          throw new Error(`${WORKER.pathname}: ${job.kind} thread ${job.index} exited (${code}) without a result`);
        }),
      ]);
      await w.terminate();
      return msg as T;
    }),
  );
}

/** Merges the threads' top-k lists per row: best k by (score desc, row asc). */
function mergeTop(parts: SimilarityResult[], n: number, k: number): { rows: Int32Array; lengths: Int32Array } {
  const rows = new Int32Array(n * k);
  const lengths = new Int32Array(n);
  const s: number[] = [];
  const j: number[] = [];
  const order: number[] = [];
  for (let r = 0; r < n; r++) {
    s.length = j.length = order.length = 0;
    for (const p of parts) {
      for (let q = 0, c = p.counts[r]; q < c; q++) {
        order.push(s.length);
        s.push(p.scores[r * k + q]);
        j.push(p.rows[r * k + q]);
      }
    }
    order.sort((a, b) => s[b] - s[a] || j[a] - j[b]);
    const len = Math.min(k, order.length);
    for (let q = 0; q < len; q++) rows[r * k + q] = j[order[q]];
    lengths[r] = len;
  }
  return { rows, lengths };
}

// ---------------------------------------------------------------- generate

const PAGE = 65536;
const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;

export async function generateTang(dir: string, o: TangOptions = {}): Promise<GenerateResult> {
  const log = o.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const started = performance.now();
  const files: GenerateResult['files'] = [];
  let t = performance.now();
  const lap = (what: string) => {
    const now = performance.now();
    log(`  ${what} (${((now - t) / 1000).toFixed(1)} s)`);
    t = now;
  };

  const srcDir = join(abs, 'src');
  const { files: sources, sha1 } = fetchSource(srcDir, log);
  let poems: SourcePoem[] = [];
  for (const f of sources) poems.push(...(JSON.parse(readFileSync(f, 'utf8')) as SourcePoem[]));
  const total = poems.length;
  writeFileSync(
    join(srcDir, 'SOURCE.json'),
    `${JSON.stringify(
      {
        package: TANG.package,
        version: TANG.version,
        integrity: TANG.integrity,
        sha1,
        tarball: TARBALL,
        extracted: TANG.files,
        files: sources.length,
        poems: total,
      },
      null,
      2,
    )}\n`,
  );
  lap(`source: ${total} poems in ${sources.length} files of ${SOURCE}, integrity verified`);
  if (o.limit !== undefined) {
    if (!(Number.isInteger(o.limit) && o.limit >= 2))
      throw new Error(`--limit must be a whole number >= 2, got ${o.limit}`);
    poems = poems.slice(0, o.limit);
  }
  const tang = tangPoems(poems);
  poems = tang.poems;
  const n = poems.length;
  const ids = Int32Array.from(tang.entries, (e) => e.id as number);
  const { dim } = TANG;
  const k = Math.min(TANG.k, n - 1);
  const kd = Math.min(TANG.k, n);
  const threads = Math.max(1, o.threads ?? availableParallelism());
  const order = (file: string) => new LuaKeyOrder(subSeed(TANG.seed, file));

  // Each file is written under a temporary name and renamed when complete: an interrupted run leaves no file
  // that looks finished (bench/run.ts regenerates when one of the four is missing).
  for (const name of Object.values(FILES)) rmSync(join(abs, name), { force: true });
  const step = async (name: string, fn: (path: string) => Promise<void>) => {
    const t0 = performance.now();
    const path = join(abs, name);
    await fn(path);
    files.push({ file: path, bytes: statSync(path).size, seconds: (performance.now() - t0) / 1000 });
    lap(`wrote ${name}`);
  };
  await step(FILES.poems, (p) =>
    writePoemsFile(
      p,
      {
        source_path: SOURCE,
        source_mode: 'json',
        extracted_at: GENERATED,
        extraction_version: '2.0',
        total_poems: n,
        integrity: TANG.integrity,
        license: 'MIT',
      },
      n,
      (i) => tang.entries[i],
      order(FILES.poems),
    ),
  );

  // The shared memory: embeddings (padded with zero rows), the diversity pool, per-thread scratch.
  const block = 256;
  const npad = roundUp(n, Math.max(block, DIVERSITY_CHUNK));
  const stride = dim * 4;
  const poolCount = Math.min(TANG.pool, n);
  const ppad = roundUp(poolCount, 4);
  const scratchBytes = roundUp(Math.max(block * block, DIVERSITY_CHUNK * ppad, 8 * 8) * 4, 16);
  const lay: Omit<Layout, 'pages'> = {
    dim,
    n,
    npad,
    block,
    pool: npad * stride,
    poolCount,
    ppad,
    poolScores: npad * stride + ppad * stride,
    scratch: npad * stride + ppad * stride + ppad * ppad * 4,
    scratchBytes,
  };
  const pages = Math.ceil((lay.scratch + (threads + 1) * scratchBytes) / PAGE);
  const layout: Layout = { ...lay, pages };
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const emb = new Float32Array(memory.buffer, 0, n * dim);
  embed(poems, dim, emb);
  poems = [];
  lap(`embeddings computed (${n} x ${dim})`);
  const contentLength = Int32Array.from(tang.entries, (e) => e.length as number);
  await step(FILES.embeddings, (p) =>
    writeEmbeddingsFile(
      p,
      {
        total_poems: n,
        embedding_model: MODEL,
        embedding_dimension: dim,
        generated_at: GENERATED,
        endpoint: 'none (model-free)',
        incremental_update: false,
      },
      order(FILES.embeddings),
      {
        chunks: embeddingChunks(
          n,
          {
            kind: 'embeddings',
            memory,
            layout,
            ids,
            contentLength,
            generatedAt: GENERATED,
            orderRun: subSeed(TANG.seed, FILES.embeddings),
          },
          threads,
        ),
      },
    ),
  );

  // The kernel must agree with its JS twin (same bits) before its results are trusted.
  const kernel = dotKernel(memory, dim, pages);
  const probe = layout.scratch + threads * scratchBytes;
  kernel(0, 2, 0, 4, probe, 4);
  const got = new Float32Array(memory.buffer, probe, 8);
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 4; b++) {
      const want = dotRef(emb, a % n, emb, b % n, dim);
      if (a < n && b < n && got[a * 4 + b] !== want)
        throw new Error(`dot kernel self-check: row ${a} x ${b} gave ${got[a * 4 + b]}, expected ${want}`);
    }
  }

  const sims = await runJobs<SimilarityResult>(
    Array.from({ length: threads }, (_, index) => ({ kind: 'similarity', memory, layout, k, index, threads })),
  );
  const top = mergeTop(sims, n, k);
  sims.length = 0;
  lap(`top-${k} similar per poem, exact over ${((n * (n - 1)) / 2 / 1e9).toFixed(2)} G pairs, ${threads} thread(s)`);
  await step(FILES.similarity, async (p) => {
    // sort_threads fixed: the bytes must not depend on --threads
    const file = RankingsFile.open(p, { total_poems: n, sort_threads: 8, top_k: k });
    try {
      for (let r = 0; r < n; r++) await file.line(r, top.rows.subarray(r * k, r * k + top.lengths[r]));
      await file.close();
    } catch (err) {
      await file.abort();
      throw err;
    }
  });

  // Diversity: a fixed pool of rows (seeded draw, in row order), its embeddings side by side, pool x pool scores.
  const rand = prng(TANG.seed + 1);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < poolCount; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const poolRows = perm.slice(0, poolCount).sort();
  const bytes = new Uint8Array(memory.buffer);
  for (let p = 0; p < poolCount; p++)
    bytes.copyWithin(layout.pool + p * stride, poolRows[p] * stride, (poolRows[p] + 1) * stride);
  blocked(kernel, dim, layout.pool, ppad, layout.pool, ppad, layout.poolScores);
  const divs = await runJobs<DiversityResult>(
    Array.from({ length: threads }, (_, index) => ({
      kind: 'diversity',
      memory,
      layout,
      k: kd,
      index,
      threads,
      poolRows,
      candidates: TANG.candidates,
      lambda: TANG.lambda,
      seed: TANG.seed,
    })),
  );
  const seq = new Int32Array(n * kd);
  const seqLen = new Int32Array(n);
  divs.forEach((d, index) => {
    for (let c = index, r0 = c * DIVERSITY_CHUNK; r0 < n; c += threads, r0 = c * DIVERSITY_CHUNK) {
      const end = Math.min(n, r0 + DIVERSITY_CHUNK);
      seq.set(d.rows.subarray(r0 * kd, end * kd), r0 * kd);
      seqLen.set(d.lengths.subarray(r0, end), r0);
    }
  });
  lap(
    `diversity sequences of ${kd} ` +
      `(candidates: ${Math.min(TANG.candidates, poolCount)} per poem from a pool of ${poolCount})`,
  );
  await step(FILES.diversity, (p) =>
    writeDiversityFile(
      p,
      {
        model: MODEL,
        num_poems: n,
        embedding_dimension: dim,
        algorithm: 'mmr_pool',
        generated_at: GENERATED,
        embeddings_file_size: statSync(join(abs, FILES.embeddings)).size,
        total_sequences: n,
        top_k: kd,
        lambda: TANG.lambda,
        candidates: Math.min(TANG.candidates, poolCount),
        pool: poolCount,
      },
      n,
      (r) => seq.subarray(r * kd, r * kd + seqLen[r]),
      order(FILES.diversity),
    ),
  );
  return { dir: abs, files, seconds: (performance.now() - started) / 1000 };
}
