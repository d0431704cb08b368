// Worker thread of bench/generate-tang.ts: the heavy jobs over the embeddings in shared wasm memory.
//   embeddings: embeddings.json's entries as dkjson text (a float32's shortest text is ~0.4 us: 44 M values)
//   similarity: exact top-K most similar rows per row (every pair once, blocks of rows through the SIMD kernel)
//   diversity:  an MMR-like greedy sequence per row over candidates drawn from a fixed pool of rows
// Every result depends only on the data, never on how rows or blocks are split among threads: scores are the
// kernel's (the same bits whoever computes them), and ties are broken by row (= position in poems.json).
import { parentPort, workerData } from 'node:worker_threads';
import { blocked, dotKernel } from '../../scripts/pipeline/dot-kernel.ts';
import { LuaKeyOrder, RawJson, dkNumbers, dkjson, f32Text } from '../../scripts/pipeline/format.ts';

/** Where things live in the shared memory (byte offsets, all multiples of 16). */
export interface Layout {
  dim: number;
  pages: number;
  /** Rows of the embedding matrix at offset 0: n real rows, then zero rows up to npad. */
  n: number;
  npad: number;
  /** Square blocks of the similarity job (a multiple of 4). */
  block: number;
  /** Diversity: pool rows' embeddings (ppad rows), the pool x pool scores (ppad x ppad). */
  pool: number;
  poolCount: number;
  ppad: number;
  poolScores: number;
  /** Per-thread scratch for the kernel's output, `scratchBytes` each. */
  scratch: number;
  scratchBytes: number;
}

export interface EmbeddingsJob {
  kind: 'embeddings';
  memory: WebAssembly.Memory;
  layout: Layout;
  index: number;
  threads: number;
  /** Per row: the poem's id and content bytes; every entry's generated_at; the Lua key-order run of the file. */
  ids: Int32Array;
  contentLength: Int32Array;
  generatedAt: string;
  orderRun: number;
  /** Int32 [0]: chunks written by the main thread; a thread stays at most `window` chunks ahead of it. */
  written: SharedArrayBuffer;
  window: number;
}
export interface SimilarityJob {
  kind: 'similarity';
  memory: WebAssembly.Memory;
  layout: Layout;
  k: number;
  index: number;
  threads: number;
}
export interface DiversityJob {
  kind: 'diversity';
  memory: WebAssembly.Memory;
  layout: Layout;
  k: number;
  index: number;
  threads: number;
  /** Pool position -> row. */
  poolRows: Int32Array;
  candidates: number;
  lambda: number;
  seed: number;
}
export interface SimilarityResult {
  scores: Float32Array<ArrayBuffer>;
  rows: Int32Array<ArrayBuffer>;
  counts: Int32Array<ArrayBuffer>;
}
export interface DiversityResult {
  rows: Int32Array<ArrayBuffer>;
  lengths: Int32Array<ArrayBuffer>;
}

/** Rows per diversity chunk and per embeddings text chunk (chunk c goes to thread c % threads). */
export const DIVERSITY_CHUNK = 256;
export const TEXT_CHUNK = 256;

/** Chunk c of embeddings.json's array: its entries as dkjson writes them (array elements, level 2), comma-separated. */
function embeddings(job: EmbeddingsJob): void {
  const { memory, layout: L, index, threads, ids, contentLength, generatedAt, window } = job;
  const written = new Int32Array(job.written);
  const emb = new Float32Array(memory.buffer, 0, L.n * L.dim);
  const o = { indent: true, order: new LuaKeyOrder(job.orderRun) };
  const enc = new TextEncoder();
  for (let c = index, r0 = c * TEXT_CHUNK; r0 < L.n; c += threads, r0 = c * TEXT_CHUNK) {
    for (let w = Atomics.load(written, 0); c - w >= window; w = Atomics.load(written, 0))
      Atomics.wait(written, 0, w, 1000);
    const rows: string[] = [];
    for (let r = r0, end = Math.min(L.n, r0 + TEXT_CHUNK); r < end; r++) {
      const embedding = new RawJson(dkNumbers(emb.subarray(r * L.dim, (r + 1) * L.dim), f32Text));
      rows.push(
        dkjson(
          { poem_index: r + 1, id: ids[r], embedding, content_length: contentLength[r], generated_at: generatedAt },
          o,
          2,
        ),
      );
    }
    const bytes = enc.encode(rows.join(','));
    parentPort!.postMessage({ chunk: c, bytes }, [bytes.buffer]);
  }
  parentPort!.postMessage({ done: true });
}

// ---------------------------------------------------------------- similarity: bounded heaps, worst entry at the root

/** For each row, the best `k` (score desc, row asc) of what it was offered. */
class TopK {
  readonly scores: Float32Array<ArrayBuffer>;
  readonly rows: Int32Array<ArrayBuffer>;
  readonly counts: Int32Array<ArrayBuffer>;
  /** Score of the worst kept entry once full (-Infinity before): anything below is rejected without a look. */
  readonly floor: Float32Array;
  private readonly k: number;
  constructor(n: number, k: number) {
    this.k = k;
    this.scores = new Float32Array(n * k);
    this.rows = new Int32Array(n * k);
    this.counts = new Int32Array(n);
    this.floor = new Float32Array(n).fill(-Infinity);
  }
  offer(i: number, j: number, s: number): void {
    const k = this.k;
    const base = i * k;
    const hs = this.scores;
    const hr = this.rows;
    let c = this.counts[i];
    if (c < k) {
      // sift up: a parent must be worse than (or equal to) its children
      let p = c;
      while (p > 0) {
        const q = (p - 1) >> 1;
        if (!(hs[base + q] > s || (hs[base + q] === s && hr[base + q] < j))) break;
        hs[base + p] = hs[base + q];
        hr[base + p] = hr[base + q];
        p = q;
      }
      hs[base + p] = s;
      hr[base + p] = j;
      this.counts[i] = ++c;
      if (c === k) this.floor[i] = hs[base];
      return;
    }
    // full: only something better than the root (worst) gets in
    if (s < hs[base] || (s === hs[base] && j > hr[base])) return;
    let p = 0;
    for (;;) {
      const l = 2 * p + 1;
      if (l >= k) break;
      let m = l;
      const r = l + 1;
      if (r < k && (hs[base + r] < hs[base + l] || (hs[base + r] === hs[base + l] && hr[base + r] > hr[base + l])))
        m = r;
      if (!(hs[base + m] < s || (hs[base + m] === s && hr[base + m] > j))) break;
      hs[base + p] = hs[base + m];
      hr[base + p] = hr[base + m];
      p = m;
    }
    hs[base + p] = s;
    hr[base + p] = j;
    this.floor[i] = hs[base];
  }
}

function similarity(job: SimilarityJob): SimilarityResult {
  const { memory, layout: L, k, index, threads } = job;
  const block = dotKernel(memory, L.dim, L.pages);
  const stride = L.dim * 4;
  const S = L.block;
  const nBlocks = L.npad / S;
  const out = L.scratch + index * L.scratchBytes;
  const tile = new Float32Array(memory.buffer, out, S * S);
  const top = new TopK(L.n, k);
  const floor = top.floor;
  const n = L.n;
  let pair = 0;
  for (let I = 0; I < nBlocks; I++) {
    for (let J = I; J < nBlocks; J++, pair++) {
      if (pair % threads !== index) continue;
      const i0 = I * S;
      const j0 = J * S;
      blocked(block, L.dim, i0 * stride, S, j0 * stride, S, out);
      const aEnd = Math.min(S, n - i0);
      const bEnd = Math.min(S, n - j0);
      for (let a = 0; a < aEnd; a++) {
        const i = i0 + a;
        let fi = floor[i];
        const t = a * S;
        // each pair once: in a diagonal block only the columns after the row
        for (let b = I === J ? a + 1 : 0; b < bEnd; b++) {
          const s = tile[t + b];
          const j = j0 + b;
          if (s >= fi) {
            top.offer(i, j, s);
            fi = floor[i];
          }
          if (s >= floor[j]) top.offer(j, i, s);
        }
      }
    }
  }
  return { scores: top.scores, rows: top.rows, counts: top.counts };
}

// ---------------------------------------------------------------- diversity

/** splitmix32-style hash of (seed, row): each row's own candidate draw, independent of the thread split. */
function rowRandom(seed: number, row: number): () => number {
  let s = (seed ^ Math.imul(row + 1, 0x9e3779b9)) >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

/**
 * One diversity sequence into out[at..at+len): the row, then len - 1 candidates (pool positions cand[0..m), in
 * ascending order), each the unused one with the lowest lambda * score(row, c) + (1 - lambda) * max score(c, chosen).
 */
function mmr(
  row: number,
  out: Int32Array,
  at: number,
  len: number,
  cand: Int32Array,
  m: number,
  scores: Float32Array,
  srow: number,
  poolScores: Float32Array,
  pp: number,
  poolRows: Int32Array,
  lambda: number,
  rel: Float64Array,
  near: Float64Array,
  used: Uint8Array,
): number {
  for (let q = 0; q < m; q++) {
    rel[q] = scores[srow + cand[q]];
    near[q] = rel[q]; // the row itself is the first chosen
    used[q] = 0;
  }
  out[at] = row;
  for (let step = 1; step < len; step++) {
    let best = -1;
    let bestScore = Infinity;
    for (let q = 0; q < m; q++) {
      if (used[q]) continue;
      const v = lambda * rel[q] + (1 - lambda) * near[q];
      if (v < bestScore) {
        best = q;
        bestScore = v;
      }
    }
    used[best] = 1;
    out[at + step] = poolRows[cand[best]];
    const prow = cand[best] * pp;
    for (let q = 0; q < m; q++) {
      const v = poolScores[prow + cand[q]];
      if (v > near[q]) near[q] = v;
    }
  }
  return len;
}

function diversity(job: DiversityJob): DiversityResult {
  const { memory, layout: L, k, index, threads, poolRows, lambda, seed } = job;
  const block = dotKernel(memory, L.dim, L.pages);
  const stride = L.dim * 4;
  const P = L.poolCount;
  const pp = L.ppad;
  const out = L.scratch + index * L.scratchBytes;
  const poolScores = new Float32Array(memory.buffer, L.poolScores, pp * pp);
  const rows = new Int32Array(L.n * k);
  const lengths = new Int32Array(L.n);
  const M = Math.min(job.candidates, P);
  const perm = new Int32Array(P);
  const cand = new Int32Array(M); // pool positions
  const rel = new Float64Array(M);
  const near = new Float64Array(M); // max score against the chosen so far
  const used = new Uint8Array(M);
  const CH = DIVERSITY_CHUNK;
  const scores = new Float32Array(memory.buffer, out, CH * pp);
  for (let c = 0, r0 = 0; r0 < L.n; c++, r0 += CH) {
    if (c % threads !== index) continue;
    // chunk rows x pool (rows past n are zero padding, up to npad)
    blocked(block, L.dim, r0 * stride, CH, L.pool, pp, out);
    const rEnd = Math.min(L.n, r0 + CH);
    for (let r = r0; r < rEnd; r++) {
      const rand = rowRandom(seed, r);
      for (let p = 0; p < P; p++) perm[p] = p;
      let m = 0;
      for (let t = 0; t < P && m < M; t++) {
        const u = t + Math.floor(rand() * (P - t));
        const p = perm[u];
        perm[u] = perm[t];
        perm[t] = p;
        if (poolRows[p] !== r) cand[m++] = p;
      }
      cand.subarray(0, m).sort(); // pool order = row order: the first of equal scores is the smaller row
      lengths[r] = mmr(
        r,
        rows,
        r * k,
        Math.min(k, m + 1),
        cand,
        m,
        scores,
        (r - r0) * pp,
        poolScores,
        pp,
        poolRows,
        lambda,
        rel,
        near,
        used,
      );
    }
  }
  return { rows, lengths };
}

if (parentPort && (workerData as { kind?: string })?.kind) {
  const job = workerData as EmbeddingsJob | SimilarityJob | DiversityJob;
  if (job.kind === 'embeddings') {
    embeddings(job);
  } else if (job.kind === 'similarity') {
    const r = similarity(job);
    parentPort.postMessage(r, [r.scores.buffer, r.rows.buffer, r.counts.buffer]);
  } else {
    const r = diversity(job);
    parentPort.postMessage(r, [r.rows.buffer, r.lengths.buffer]);
  }
}
