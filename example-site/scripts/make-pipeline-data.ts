// Deterministic generator of the example site's pipeline caches.
//
// Reads the committed real poems in example-site/data/sources/ and writes the four JSON
// files an ML poem pipeline produces, in exactly its shapes:
//   poems.json, embeddings.json, similarity_rankings_cache.json, diversity_cache.json
// Embeddings are honest but model-free: signed-hashed TF-IDF (Chinese: character
// unigrams + bigrams; English: lowercase words minus stopwords + word bigrams), embedded
// exactly into 768 dimensions (see "embedding" below), L2-normalised, rounded to 7
// significant digits. Same input → same bytes.
//
// Usage (repo root): node example-site/scripts/make-pipeline-data.ts [--out DIR]
// Default DIR: example-site/data/pipeline/
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SourcePoem { title: string; author: string; text: string; category: string }
export interface Poem {
  id: number;
  title: string;
  content: string;
  category: string;
  metadata: { creation_date: string; author: string; collection: 'tang300' | 'psalms'; lang: 'zh' | 'en' };
}

export const DIM = 768;
export const MODEL = 'tfidf-hashed-768';
export const FILES = ['poems.json', 'embeddings.json', 'similarity_rankings_cache.json', 'diversity_cache.json'] as const;

const here = dirname(fileURLToPath(import.meta.url));
export const SOURCES_DIR = join(here, '..', 'data', 'sources');
export const DEFAULT_OUT = join(here, '..', 'data', 'pipeline');

// ------------------------------------------------------------------ ids & poems
/** Tang poems get 1, 2, 3, … skipping every multiple of 50 (pipelines have holes);
 *  Psalm n gets 1000 + n. */
export function buildPoems(tang: SourcePoem[], psalms: SourcePoem[]): Poem[] {
  const poems: Poem[] = [];
  let id = 0;
  for (const p of tang) {
    id++;
    if (id % 50 === 0) id++;
    poems.push({
      id, title: p.title, content: p.text, category: p.category,
      metadata: { creation_date: '618–907', author: p.author, collection: 'tang300', lang: 'zh' },
    });
  }
  psalms.forEach((p, i) => {
    const n = Number(/^Psalm (\d+)$/.exec(p.title)?.[1] ?? i + 1);
    poems.push({
      id: 1000 + n, title: p.title, content: p.text, category: p.category,
      metadata: { creation_date: '', author: p.author, collection: 'psalms', lang: 'en' },
    });
  });
  return poems;
}

// ------------------------------------------------------------------ features
const STOPWORDS = new Set((
  'a an and are art as at be but by did do doth for from had hast hath have he her him his i if ' +
  'in into is it its let me mine my nor not o of on or our out s shall shalt she so that the thee ' +
  'their them then there they thine this thou thy to unto up upon us was we were what when which ' +
  'who whom will with ye yea'
).split(' '));

const HAN = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/u;

/** Feature → raw term frequency for one poem. */
export function features(text: string, lang: 'zh' | 'en'): Map<string, number> {
  const tf = new Map<string, number>();
  const add = (f: string): void => { tf.set(f, (tf.get(f) ?? 0) + 1); };
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

/** Round to 7 significant digits so the JSON is stable and compact. */
export function round7(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(7));
}

interface Sparse { idx: Int32Array; val: Float64Array }

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
  let i = 0, j = 0, dot = 0;
  while (i < a.idx.length && j < b.idx.length) {
    if (a.idx[i] === b.idx[j]) dot += a.val[i++] * b.val[j++];
    else if (a.idx[i] < b.idx[j]) i++;
    else j++;
  }
  return dot;
}

export function embed(poems: Poem[]): number[][] {
  const vecs = tfidf(poems);
  const n = vecs.length;
  if (n > DIM) throw new Error(`exact embedding needs N <= ${DIM}, got ${n}`);
  // Cholesky of the Gram matrix, row by row: L[i][j] for j <= i.
  const L = Array.from({ length: n }, () => new Float64Array(DIM));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = i === j ? 1 : sparseDot(vecs[i], vecs[j]);
      const Li = L[i], Lj = L[j];
      for (let k = 0; k < j; k++) s -= Li[k] * Lj[k];
      if (i === j) {
        if (!(s > 1e-12)) throw new Error(`poem ${poems[i].id} is linearly dependent on earlier poems`);
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
    for (let d = 0; d < DIM; d++) { v[d] = rand() * 2 - 1; vv += v[d] * v[d]; }
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
    return Array.from(row, (x) => round7(x / norm));
  });
}

// ------------------------------------------------------------------ similarity
/** Cosine similarity matrix computed from the (rounded) embeddings as written. */
export function cosineMatrix(emb: number[][]): Float64Array[] {
  const n = emb.length;
  const norms = emb.map((e) => Math.sqrt(e.reduce((s, x) => s + x * x, 0)));
  const sim = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    sim[i][i] = 1;
    for (let j = i + 1; j < n; j++) {
      const a = emb[i], b = emb[j];
      let dot = 0;
      for (let d = 0; d < a.length; d++) dot += a[d] * b[d];
      sim[i][j] = sim[j][i] = dot / (norms[i] * norms[j]);
    }
  }
  return sim;
}

/** Similarities are compared at 1e-6 resolution (below the embeddings' rounding noise
 *  nothing is meaningful); equal values are broken by id ascending. Poems with no
 *  feature in common (e.g. a Tang poem and a Psalm) have similarity 0 and so tie. */
export function quantise(sim: Float64Array[]): Int32Array[] {
  return sim.map((row) => Int32Array.from(row, (x) => Math.round(x * 1e6)));
}

/** For each poem: all other ids, most similar first. */
export function rankings(ids: number[], q: Int32Array[]): number[][] {
  return ids.map((_, i) => {
    const others = ids.map((_, j) => j).filter((j) => j !== i);
    others.sort((a, b) => q[i][b] - q[i][a] || ids[a] - ids[b]);
    return others.map((j) => ids[j]);
  });
}

/** For each poem: itself, then repeatedly the unused poem least similar to the last one,
 *  until every poem is used. */
export function diversitySequences(ids: number[], q: Int32Array[]): number[][] {
  const n = ids.length;
  return ids.map((_, start) => {
    const used = new Uint8Array(n);
    const seq = [ids[start]];
    used[start] = 1;
    let last = start;
    for (let k = 1; k < n; k++) {
      let best = -1;
      for (let j = 0; j < n; j++) {
        if (used[j]) continue;
        if (best < 0 || q[last][j] < q[last][best] || (q[last][j] === q[last][best] && ids[j] < ids[best])) best = j;
      }
      used[best] = 1;
      seq.push(ids[best]);
      last = best;
    }
    return seq;
  });
}

// ------------------------------------------------------------------ Python-style JSON
// The real pipeline is Python and writes json.dump(obj, f, ensure_ascii=False):
// ", " and ": " separators, floats in repr() form (e.g. 0.5, -3.1e-05). We mimic that.
class FloatArray {
  readonly values: number[];
  constructor(values: number[]) { this.values = values; }
}

export function pyFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`non-finite float ${x}`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e');
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const s = String(x);
  return s.includes('.') ? s : s + '.0';
}

function py(v: unknown): string {
  if (v instanceof FloatArray) return '[' + v.values.map(pyFloat).join(', ') + ']';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`use FloatArray for floats: ${v}`);
    return String(v);
  }
  if (Array.isArray(v)) return '[' + v.map(py).join(', ') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ': ' + py(x)).join(', ') + '}';
  }
  throw new Error(`cannot serialise ${String(v)}`);
}

// ------------------------------------------------------------------ main
export function generate(tang: SourcePoem[], psalms: SourcePoem[]): Record<(typeof FILES)[number], string> {
  const poems = buildPoems(tang, psalms);
  const ids = poems.map((p) => p.id);
  if (new Set(ids).size !== ids.length) throw new Error('duplicate ids');
  const n = poems.length;
  const emb = embed(poems);
  const q = quantise(cosineMatrix(emb));
  const ranks = rankings(ids, q);
  const seqs = diversitySequences(ids, q);
  return {
    'poems.json': py({ poems }),
    'embeddings.json': py({
      metadata: { embedding_dimension: DIM, model: MODEL, total_poems: n },
      embeddings: poems.map((p, i) => ({ poem_index: p.id, embedding: new FloatArray(emb[i]) })),
    }),
    'similarity_rankings_cache.json': py({
      metadata: { total_poems: n, method: 'cosine' },
      rankings: Object.fromEntries(ids.map((id, i) => [String(id), ranks[i]])),
    }),
    'diversity_cache.json': py({
      metadata: { num_poems: n, top_k: n, method: 'greedy-least-similar-chain' },
      sequences: Object.fromEntries(ids.map((id, i) => [String(id), seqs[i]])),
    }),
  };
}

export function readSources(dir: string = SOURCES_DIR): { tang: SourcePoem[]; psalms: SourcePoem[] } {
  const read = (f: string): SourcePoem[] => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SourcePoem[];
  return { tang: read('tang300.json'), psalms: read('psalms.json') };
}

export function main(argv: string[]): string {
  const i = argv.indexOf('--out');
  const out = resolve(i >= 0 && argv[i + 1] ? argv[i + 1] : DEFAULT_OUT);
  const { tang, psalms } = readSources();
  const files = generate(tang, psalms);
  mkdirSync(out, { recursive: true });
  for (const name of FILES) writeFileSync(join(out, name), files[name]);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = main(process.argv.slice(2));
  console.log(`wrote ${FILES.join(', ')} to ${out}`);
}
