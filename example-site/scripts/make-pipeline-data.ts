// Deterministic generator of the example site's pipeline caches.
//
// Reads the committed real poems in example-site/data/sources/ and writes the four files the poetry
// pipeline (issue #10: gabrilend/ai-stuff neocities-modernization) writes, in its real shapes, through the
// same writers as the benchmark data (scripts/pipeline/):
//   poems.json                      dkjson: two categories (tang300, psalms), ids per category, filepath, title,
//                                   metadata; a poem is its position (poem_index)
//   embeddings.json                 dkjson: by poem_index, 768 float32 values each
//   similarity_rankings_cache.json  C layout: keys and values 1-based poem_index, all N - 1 others
//   diversity_cache.json            compact dkjson: keys and values 0-based positions, full walks
// Embeddings are honest but model-free: signed-hashed TF-IDF (Chinese: character unigrams + bigrams;
// English: lowercase words minus stopwords + word bigrams), embedded exactly into 768 dimensions (see
// "embedding" below), L2-normalised, rounded to float32. Same input → same bytes.
//
// Usage (repo root): node example-site/scripts/make-pipeline-data.ts [--out DIR]
// Default DIR: example-site/data/pipeline/
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LuaKeyOrder, RawJson, dkNumbers, f32Text } from '../../scripts/pipeline/format.ts';
import {
  FILES as FILE_NAMES,
  RankingsFile,
  writeDiversityFile,
  writeEmbeddingsFile,
  writePoemsFile,
  type LuaObject,
} from '../../scripts/pipeline/files.ts';
import { subSeed } from '../../scripts/pipeline/random.ts';
import { Neighbours, matrixScores } from '../../scripts/pipeline/rank.ts';

export interface SourcePoem {
  title: string;
  author: string;
  text: string;
  category: string;
}
export type Collection = 'tang300' | 'psalms';
export interface Poem {
  title: string;
  content: string;
  content_warning?: string;
  creation_date: string;
  filepath: string;
  length: number;
  category: Collection;
  id: number;
  metadata: {
    creation_date: string;
    author: string;
    collection: Collection;
    form?: string;
    section?: string;
    lang: 'zh' | 'en';
    has_content_warning: boolean;
    is_golden_poem: boolean;
    word_count: number;
    character_count: number;
  };
}

export const DIM = 768;
export const MODEL = 'tfidf-hashed-768';
export const FILES = [FILE_NAMES.poems, FILE_NAMES.embeddings, FILE_NAMES.similarity, FILE_NAMES.diversity] as const;
/** Seed of the files' key order (Lua's pairs() order in the real pipeline). */
const RUN = 0x470;
/** Fixed timestamps: the same bytes on every run. */
const EXTRACTED = '2025-12-14 20:03:26';

const here = dirname(fileURLToPath(import.meta.url));
export const SOURCES_DIR = join(here, '..', 'data', 'sources');
export const DEFAULT_OUT = join(here, '..', 'data', 'pipeline');

// ------------------------------------------------------------------ ids & poems
/** Content warnings as a reader of the text would give them. */
export const CONTENT_WARNINGS: Readonly<Record<string, string>> = {
  'psalms/58': 'violence',
  'psalms/88': 'despair, death',
  'psalms/109': 'curses',
  'psalms/137': 'violence against children',
  'tang300/兵車行': 'war',
  'tang300/長恨歌': 'death',
};
/** Golden poems: marked by hand (the pipeline marks posts of exactly 1,024 bytes; none of these is). */
export const GOLDEN = new Set([
  'psalms/1',
  'psalms/23',
  'psalms/121',
  'tang300/靜夜思',
  'tang300/春曉',
  'tang300/登鸛雀樓',
]);

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const words = (s: string) => s.match(/[^ \t\n\v\f\r]+/g)?.length ?? 0;
const PSALM_BOOKS: [number, string][] = [
  [41, 'Book I'],
  [72, 'Book II'],
  [89, 'Book III'],
  [106, 'Book IV'],
  [150, 'Book V'],
];

/** Tang poems first (ids 1, 2, 3, … in source order, skipping every multiple of 50: pipelines have holes),
 *  then the Psalms (Psalm n has id n): ids restart per category, as the pipeline's do. */
export function buildPoems(tang: SourcePoem[], psalms: SourcePoem[]): Poem[] {
  const poems: Poem[] = [];
  const add = (p: SourcePoem, collection: Collection, id: number, key: string, extra: Partial<Poem['metadata']>) => {
    const cw = CONTENT_WARNINGS[key];
    const date = collection === 'tang300' ? '618–907' : '';
    poems.push({
      title: p.title,
      content: p.text,
      content_warning: cw,
      creation_date: date,
      filepath: `${collection}/${String(id).padStart(4, '0')}.txt`,
      length: bytes(p.text),
      category: collection,
      id,
      metadata: {
        creation_date: date,
        author: p.author,
        collection,
        ...extra,
        lang: collection === 'tang300' ? 'zh' : 'en',
        has_content_warning: cw !== undefined,
        is_golden_poem: GOLDEN.has(key),
        word_count: words(p.text),
        character_count: bytes(p.text),
      },
    });
  };
  let id = 0;
  for (const p of tang) {
    id++;
    if (id % 50 === 0) id++;
    add(p, 'tang300', id, `tang300/${p.title}`, { form: p.category });
  }
  psalms.forEach((p, i) => {
    const n = Number(/^Psalm (\d+)$/.exec(p.title)?.[1] ?? i + 1);
    add(p, 'psalms', n, `psalms/${n}`, { section: PSALM_BOOKS.find(([last]) => n <= last)![1] });
  });
  for (const key of [...Object.keys(CONTENT_WARNINGS), ...GOLDEN]) {
    const [c, t] = key.split('/');
    const found = poems.some((p) => p.category === c && (c === 'psalms' ? String(p.id) === t : p.title === t));
    if (!found) throw new Error(`no poem ${key}`);
  }
  return poems;
}

// ------------------------------------------------------------------ features
const STOPWORDS = new Set(
  (
    'a an and are art as at be but by did do doth for from had hast hath have he her him his i if ' +
    'in into is it its let me mine my nor not o of on or our out s shall shalt she so that the thee ' +
    'their them then there they thine this thou thy to unto up upon us was we were what when which ' +
    'who whom will with ye yea'
  ).split(' '),
);

const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/u;

/** Feature → raw term frequency for one poem. */
export function features(text: string, lang: 'zh' | 'en'): Map<string, number> {
  const tf = new Map<string, number>();
  const add = (f: string): void => {
    tf.set(f, (tf.get(f) ?? 0) + 1);
  };
  if (lang === 'zh') {
    // runs of Han characters between punctuation; bigrams never cross punctuation
    let run: string[] = [];
    const flush = (): void => {
      for (let i = 0; i < run.length; i++) {
        add('zh1:' + run[i]);
        if (i + 1 < run.length) add('zh2:' + run[i] + run[i + 1]);
      }
      run = [];
    };
    for (const ch of text) {
      if (HAN.test(ch)) run.push(ch);
      else flush();
    }
    flush();
  } else {
    for (const line of text.split('\n')) {
      const words = (line.toLowerCase().match(/[a-z]+/g) ?? []).filter((w) => !STOPWORDS.has(w));
      for (let i = 0; i < words.length; i++) {
        add('en1:' + words[i]);
        if (i + 1 < words.length) add('en2:' + words[i] + ' ' + words[i + 1]);
      }
    }
  }
  return tf;
}

// ------------------------------------------------------------------ embedding
// Why not a plain random projection to 768 dims: its error on a cosine is about
// 1/sqrt(768) ≈ 0.036, while a Tang quatrain's true TF-IDF cosine with its nearest
// neighbour is typically ~0.08, so neighbours would be mostly noise (and Psalms showed up
// as "most similar" to Chinese poems). Instead, with N = 470 < 768 the TF-IDF geometry
// fits exactly into 768 dimensions: Cholesky-factor the Gram matrix (G = L·Lᵀ), pad L to
// 768 columns and spin it with a few seeded Householder reflections so every dimension
// is used. Cosines between embeddings then equal the hashed TF-IDF cosines (to rounding).
// Features are hashed (FNV-1a, 32 bits): the low 31 bits pick a bucket, the top bit the
// sign. With 2^31 buckets collisions are practically absent (none in this corpus).
const BUCKET_MASK = 0x7fffffff;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(s)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: small deterministic PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sparse {
  idx: Int32Array;
  val: Float64Array;
}

/** L2-normalised, signed-hashed TF-IDF vectors (sorted bucket indices). */
export function tfidf(poems: Poem[]): Sparse[] {
  const tfs = poems.map((p) => features(p.content, p.metadata.lang));
  const df = new Map<string, number>();
  for (const tf of tfs) for (const f of tf.keys()) df.set(f, (df.get(f) ?? 0) + 1);
  const n = poems.length;
  return tfs.map((tf) => {
    const buckets = new Map<number, number>();
    for (const f of [...tf.keys()].sort()) {
      const h = fnv1a(f);
      const w = (1 + Math.log(tf.get(f)!)) * (Math.log((1 + n) / (1 + df.get(f)!)) + 1);
      const b = h & BUCKET_MASK;
      buckets.set(b, (buckets.get(b) ?? 0) + (h >>> 31 ? -w : w));
    }
    const idx = Int32Array.from([...buckets.keys()].sort((a, b) => a - b));
    const val = Float64Array.from(idx, (b) => buckets.get(b)!);
    let norm = 0;
    for (const x of val) norm += x * x;
    norm = Math.sqrt(norm);
    for (let i = 0; i < val.length; i++) val[i] /= norm;
    return { idx, val };
  });
}

function sparseDot(a: Sparse, b: Sparse): number {
  let i = 0,
    j = 0,
    dot = 0;
  while (i < a.idx.length && j < b.idx.length) {
    if (a.idx[i] === b.idx[j]) dot += a.val[i++] * b.val[j++];
    else if (a.idx[i] < b.idx[j]) i++;
    else j++;
  }
  return dot;
}

export function embed(poems: Poem[]): Float32Array[] {
  const vecs = tfidf(poems);
  const n = vecs.length;
  if (n > DIM) throw new Error(`exact embedding needs N <= ${DIM}, got ${n}`);
  // Cholesky of the Gram matrix, row by row: L[i][j] for j <= i.
  const L = Array.from({ length: n }, () => new Float64Array(DIM));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = i === j ? 1 : sparseDot(vecs[i], vecs[j]);
      const Li = L[i],
        Lj = L[j];
      for (let k = 0; k < j; k++) s -= Li[k] * Lj[k];
      if (i === j) {
        if (!(s > 1e-12)) throw new Error(`poem ${poems[i].filepath} is linearly dependent on earlier poems`);
        Li[i] = Math.sqrt(s);
      } else {
        Li[j] = s / Lj[j];
      }
    }
  }
  // A fixed rotation: 4 Householder reflections with seeded dense vectors.
  for (let r = 0; r < 4; r++) {
    const rand = prng(fnv1a(`householder-${r}`));
    const v = new Float64Array(DIM);
    let vv = 0;
    for (let d = 0; d < DIM; d++) {
      v[d] = rand() * 2 - 1;
      vv += v[d] * v[d];
    }
    for (const row of L) {
      let dot = 0;
      for (let d = 0; d < DIM; d++) dot += row[d] * v[d];
      const f = (2 * dot) / vv;
      for (let d = 0; d < DIM; d++) row[d] -= f * v[d];
    }
  }
  return L.map((row) => {
    let norm = 0;
    for (let d = 0; d < DIM; d++) norm += row[d] * row[d];
    norm = Math.sqrt(norm);
    return Float32Array.from(row, (x) => x / norm);
  });
}

// ------------------------------------------------------------------ similarity
/** Cosine similarity matrix computed from the (float32) embeddings as written. */
export function cosineMatrix(emb: Float32Array[]): Float64Array[] {
  const n = emb.length;
  const norms = emb.map((e) => Math.sqrt(e.reduce((s, x) => s + x * x, 0)));
  const sim = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    sim[i][i] = 1;
    for (let j = i + 1; j < n; j++) {
      const a = emb[i],
        b = emb[j];
      let dot = 0;
      for (let d = 0; d < a.length; d++) dot += a[d] * b[d];
      sim[i][j] = sim[j][i] = dot / (norms[i] * norms[j]);
    }
  }
  return sim;
}

/** Similarities are compared at 1e-6 resolution (below the embeddings' rounding noise
 *  nothing is meaningful); equal values are broken by position ascending. Poems with no
 *  feature in common (e.g. a Tang poem and a Psalm) have similarity 0 and so tie. */
export function quantise(sim: Float64Array[]): Int32Array[] {
  return sim.map((row) => Int32Array.from(row, (x) => Math.round(x * 1e6)));
}

// ------------------------------------------------------------------ main
export function readSources(dir: string = SOURCES_DIR): { tang: SourcePoem[]; psalms: SourcePoem[] } {
  const read = (f: string): SourcePoem[] => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SourcePoem[];
  return { tang: read('tang300.json'), psalms: read('psalms.json') };
}

/** Writes the four files into `out`. Rankings and walks: scores are the quantised cosines; ties by position. */
export async function writeFiles(out: string, tang: SourcePoem[], psalms: SourcePoem[]): Promise<void> {
  const poems = buildPoems(tang, psalms);
  const n = poems.length;
  const emb = embed(poems);
  const q = quantise(cosineMatrix(emb));
  const order = (file: string) => new LuaKeyOrder(subSeed(RUN, file));
  const path = (file: string) => join(out, file);
  mkdirSync(out, { recursive: true });
  await writePoemsFile(
    path(FILE_NAMES.poems),
    {
      source_path: 'example-site/data/sources',
      source_mode: 'json',
      extracted_at: EXTRACTED,
      extraction_version: '2.0',
      total_poems: n,
    },
    n,
    (i) => poems[i] as unknown as LuaObject,
    order(FILE_NAMES.poems),
  );
  await writeEmbeddingsFile(
    path(FILE_NAMES.embeddings),
    {
      total_poems: n,
      embedding_model: MODEL,
      embedding_dimension: DIM,
      generated_at: EXTRACTED,
      endpoint: 'none (model-free)',
    },
    order(FILE_NAMES.embeddings),
    {
      count: n,
      entry: (i) => ({
        poem_index: i + 1,
        id: poems[i].id,
        embedding: new RawJson(dkNumbers(emb[i], f32Text)),
        content_length: poems[i].length,
        generated_at: EXTRACTED,
      }),
    },
  );
  const rankings = RankingsFile.open(path(FILE_NAMES.similarity), { total_poems: n, sort_threads: 1, top_k: 0 });
  let nb: Neighbours;
  try {
    nb = await Neighbours.build(
      matrixScores(n, (i, j) => q[i][j]),
      (i, ranking) => rankings.line(i, ranking),
    );
    await rankings.close();
  } catch (err) {
    await rankings.abort();
    throw err;
  }
  const seq = new Int32Array(n);
  await writeDiversityFile(
    path(FILE_NAMES.diversity),
    {
      model: MODEL,
      num_poems: n,
      embedding_dimension: DIM,
      algorithm: 'greedy-least-similar-chain',
      generated_at: EXTRACTED,
      embeddings_file_size: statSync(path(FILE_NAMES.embeddings)).size,
      total_sequences: n,
      top_k: n,
    },
    n,
    (k) => {
      nb.walk(k, n, seq);
      return seq;
    },
    order(FILE_NAMES.diversity),
  );
}

export async function main(argv: string[]): Promise<string> {
  const i = argv.indexOf('--out');
  const out = resolve(i >= 0 && argv[i + 1] ? argv[i + 1] : DEFAULT_OUT);
  const { tang, psalms } = readSources();
  await writeFiles(out, tang, psalms);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await main(process.argv.slice(2));
  console.log(`wrote ${FILES.join(', ')} to ${out}`);
}
