// A seeded, deterministic model of the poetry pipeline's data (gabrilend/ai-stuff neocities-modernization, as
// described in issue #10), written in its real shapes by ./files.ts:
//   poems (./poems.ts): four categories, ids per category, per-category keys, content warnings, golden, empty
//     and " " posts, mojibake, escaped characters; no title. A poem is its position (poem_index).
//   embeddings: by poem_index, float32 unit vectors printed as the model server's shortest float32 text;
//     empty poems get a random unit vector seeded by their (per-category) id, printed to 14 digits, is_random.
//   rankings: exact, all N - 1 (or top_k) by descending cosine; diversity: full walks (or top_k) from each poem
//     (./rank.ts).
// Same options, same bytes. `run` changes only the key order (Lua's pairs() order differs between runs).
import { statSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LuaKeyOrder, RawJson, dkNumbers, f32Text, g14, type RankingsMeta } from './format.ts';
import {
  FILES,
  RankingsFile,
  writeDiversityFile,
  writeEmbeddingsFile,
  writePoemsFile,
  type LuaObject,
} from './files.ts';
import { EXTRACTED, T, iso, makePoems, type Category, type PipelinePoem } from './poems.ts';
import { prng, subSeed } from './random.ts';
import { Neighbours, kernelScores } from './rank.ts';
import { byteLength } from './text.ts';

export { FILES } from './files.ts';
export {
  CATEGORIES,
  REAL_COUNTS,
  categoryCounts,
  idsWithGaps,
  makePoems,
  type Category,
  type PipelinePoem,
} from './poems.ts';

export interface PipelineOptions {
  /** A total (split like the real file, every category at least 1 from 4 poems on) or counts per category. */
  poems?: number | Partial<Record<Category, number>>;
  /** Embedding dimension, a multiple of 4 (default 768). */
  dim?: number;
  /** Everything but the key order (default 1). */
  seed?: number;
  /** The key order of every object (default: the seed). */
  run?: number;
  /** Rankings length: 0 = all N - 1 (default). */
  similarityTopK?: number;
  /** Diversity sequence length including the poem itself: 0 = all N (default). */
  diversityTopK?: number;
}

/** The benchmark's data sets (bench/generate.ts --size): small covers every feature, seed is the real size. */
export const SIZES = {
  small: { poems: 300, dim: 768, seed: 0x5eed0001 },
  seed: { poems: 7790, dim: 768, seed: 0x5eed7800 },
} as const satisfies Record<string, PipelineOptions>;

export interface PipelineEmbeddings {
  dim: number;
  /** n x dim float32, row = position. */
  values: Float32Array;
  /** Rows of empty poems: the random unit vector as Lua holds it (doubles), printed to 14 digits. */
  random: Map<number, Float64Array>;
  /** Bytes of the text each embedding was made from (0 for random ones). */
  contentLength: Int32Array;
}

/** What the embedding stage reads of a poem: its content without surrounding whitespace. */
const embeddedText = (p: PipelinePoem) => p.content.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');

/** Lua's generate_random_embedding(id, dim): seeded by the per-category id, so equal ids get equal vectors. */
export function randomUnitVector(id: number, dim: number): Float64Array {
  const rand = prng(subSeed(id, 'random-embedding'));
  const v = Float64Array.from({ length: dim }, () => rand() * 2 - 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

export function makeEmbeddings(poems: readonly PipelinePoem[], o: PipelineOptions = {}): PipelineEmbeddings {
  const dim = o.dim ?? 768;
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) {
    throw new Error(`dim must be a positive multiple of 4, got ${dim}`);
  }
  const rand = prng(subSeed(o.seed ?? 1, 'embeddings'));
  const n = poems.length;
  const values = new Float32Array(n * dim);
  const random = new Map<number, Float64Array>();
  const contentLength = new Int32Array(n);
  const v = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    const text = embeddedText(poems[r]);
    if (text === '') {
      const u = randomUnitVector(poems[r].id, dim);
      random.set(r, u);
      for (let d = 0; d < dim; d++) values[r * dim + d] = Math.fround(u[d]);
      continue;
    }
    contentLength[r] = byteLength(text);
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      // a sum of uniforms is roughly normal; a few tiny values give the exponent form (-4.797619e-05)
      let x = rand() + rand() + rand() - 1.5;
      if (rand() < 0.004) x *= 1e-4;
      v[d] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    for (let d = 0; d < dim; d++) values[r * dim + d] = Math.fround(v[d] / norm);
  }
  return { dim, values, random, contentLength };
}

export interface GenerateResult {
  dir: string;
  files: { file: string; bytes: number; seconds: number }[];
  seconds: number;
}

const MODEL = 'EmbeddingGemma:latest';
const stamp = (ms: number) => iso(ms).replace('T', ' ');

/** Writes the four files into `dir`; the same options give the same bytes. */
export async function writePipeline(
  dir: string,
  o: PipelineOptions = {},
  log: (line: string) => void = () => {},
): Promise<GenerateResult> {
  const seed = o.seed ?? 1;
  const run = o.run ?? seed;
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const started = performance.now();
  const files: GenerateResult['files'] = [];
  const step = async (name: string, write: (path: string) => Promise<void>) => {
    const t = performance.now();
    const path = join(abs, name);
    await write(path);
    files.push({ file: path, bytes: statSync(path).size, seconds: (performance.now() - t) / 1000 });
    log(`  wrote ${name} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  };
  const order = (file: string) => new LuaKeyOrder(subSeed(run, file));

  const poems = makePoems(o);
  const n = poems.length;
  if (n < 2) throw new Error(`at least 2 poems, got ${n}`);
  await step(FILES.poems, (path) =>
    writePoemsFile(
      path,
      {
        source_path: '/home/poet/neocities-modernization/input',
        source_mode: 'json',
        extracted_at: stamp(EXTRACTED + 5000),
        extraction_version: '2.0',
        total_poems: n,
      },
      n,
      (i) => poems[i] as unknown as LuaObject,
      order(FILES.poems),
    ),
  );

  const emb = makeEmbeddings(poems, o);
  const { dim } = emb;
  // An incremental run: the first `previous` embeddings were made by an earlier run (no updated_at).
  const previous = Math.floor(n * 0.85);
  const earlier = T('2025-11-02T13:42:32');
  const later = T('2025-12-14T21:10:05');
  const madeAt = (i: number) => stamp(i < previous ? earlier + i * 1000 : later + (i - previous) * 1000);
  const row = new Float32Array(dim);
  await step(FILES.embeddings, (path) =>
    writeEmbeddingsFile(
      path,
      {
        total_poems: n,
        embedding_model: MODEL,
        embedding_dimension: dim,
        generated_at: stamp(later + (n - previous) * 1000),
        endpoint: 'http://localhost:11434',
        incremental_update: true,
        original_generated_at: stamp(earlier),
        previous_total: previous,
      },
      order(FILES.embeddings),
      {
        count: n,
        entry: (i) => {
          const random = emb.random.get(i);
          row.set(emb.values.subarray(i * dim, (i + 1) * dim));
          return {
            poem_index: i + 1,
            id: poems[i].id,
            embedding: new RawJson(random ? dkNumbers(random, g14) : dkNumbers(row, f32Text)),
            content_length: emb.contentLength[i],
            generated_at: madeAt(i),
            updated_at: i < previous ? undefined : madeAt(i),
            is_random: random ? true : undefined,
          };
        },
      },
    ),
  );

  const simK = o.similarityTopK ? Math.min(o.similarityTopK, n - 1) : n - 1;
  const divK = o.diversityTopK ? Math.min(o.diversityTopK, n) : n;
  let t = performance.now();
  const meta: RankingsMeta = { total_poems: n, sort_threads: 8, top_k: o.similarityTopK ? simK : 0 };
  const rankings = RankingsFile.open(join(abs, `${FILES.similarity}`), meta);
  let nb: Neighbours;
  try {
    const scores = kernelScores(emb.values, n, dim);
    nb = await Neighbours.build(scores, (i, ranking) => rankings.line(i, ranking.subarray(0, simK)));
    await rankings.close();
  } catch (err) {
    await rankings.abort();
    throw err;
  }
  const simPath = join(abs, FILES.similarity);
  files.push({ file: simPath, bytes: statSync(simPath).size, seconds: (performance.now() - t) / 1000 });
  log(`  wrote ${FILES.similarity}: exact over ${n} x ${n} (${((performance.now() - t) / 1000).toFixed(1)} s)`);

  t = performance.now();
  const seq = new Int32Array(divK);
  await step(FILES.diversity, (path) =>
    writeDiversityFile(
      path,
      {
        model: MODEL,
        num_poems: n,
        embedding_dimension: dim,
        algorithm: 'gpu_vulkan_batch',
        batch_size: 64,
        generated_at: stamp(later + 3_600_000),
        generation_time_seconds: 41,
        embeddings_file_size: statSync(join(abs, FILES.embeddings)).size,
        total_sequences: n,
        top_k: divK,
      },
      n,
      (k) => {
        nb.walk(k, divK, seq);
        return seq;
      },
      order(FILES.diversity),
    ),
  );
  return { dir: abs, files, seconds: (performance.now() - started) / 1000 };
}
