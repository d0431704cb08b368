// Exact neighbour lists over every pair of poems, as the pipeline's GPU stage computes them:
//   rankings: per poem all others by descending cosine (self excluded), ties by lower position first;
//   walks:    per poem itself, then repeatedly the unused poem least similar to the previous one (ties: lower
//             position first), the "most different" sequence of the diversity cache.
// Scores come from a ScoreRows source: the SIMD kernel over float32 unit embeddings (kernelScores; their dot
// product is their cosine), or any float32-representable score function (matrixScores).
// Memory: the walk needs each poem's order of all others, n x n positions (2 bytes each up to 65,536 poems:
// 121 MB at 7,790); rankings alone stream row by row.
import { blocked, dotKernel, dotRef } from './dot-kernel.ts';

/** The scores of row i against every row (length n), asked for in ascending i. */
export interface ScoreRows {
  readonly n: number;
  row(i: number): Float32Array;
}

const BLOCK = 256;
const PAGE = 65536;
const roundUp = (x: number, m: number) => Math.ceil(x / m) * m;

/** Dot products of n float32 rows of `dim` values (row-major in `emb`), a block of rows at a time. */
export function kernelScores(emb: Float32Array, n: number, dim: number): ScoreRows {
  if (dim % 4 !== 0) throw new Error(`kernelScores: dim must be a multiple of 4, got ${dim}`);
  const npad = roundUp(n, BLOCK);
  const stride = dim * 4;
  const scratch = npad * stride;
  const pages = Math.ceil((scratch + BLOCK * npad * 4) / PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const rows = new Float32Array(memory.buffer, 0, n * dim);
  rows.set(emb.subarray(0, n * dim));
  const kernel = dotKernel(memory, dim, pages);
  // The kernel must agree with its JS twin (same bits) before its scores are trusted.
  kernel(0, 2, 0, 4, scratch, 4);
  const probe = new Float32Array(memory.buffer, scratch, 8);
  for (let a = 0; a < 2 && a < n; a++) {
    for (let b = 0; b < 4 && b < n; b++) {
      const want = dotRef(rows, a, rows, b, dim);
      if (probe[a * 4 + b] !== want) {
        throw new Error(`dot kernel self-check: row ${a} x ${b} gave ${probe[a * 4 + b]}, expected ${want}`);
      }
    }
  }
  let block = -1;
  return {
    n,
    row(i: number): Float32Array {
      const b = Math.floor(i / BLOCK);
      if (b !== block) {
        blocked(kernel, dim, b * BLOCK * stride, BLOCK, 0, npad, scratch);
        block = b;
      }
      return new Float32Array(memory.buffer, scratch + (i - b * BLOCK) * npad * 4, n);
    },
  };
}

/** Scores from a function (values must be float32-representable, e.g. quantised cosines). */
export function matrixScores(n: number, score: (i: number, j: number) => number): ScoreRows {
  const out = new Float32Array(n);
  return {
    n,
    row(i: number): Float32Array {
      for (let j = 0; j < n; j++) out[j] = score(i, j);
      return out;
    },
  };
}

// A row's order: keys (score as an order-preserving uint32) * 2^21 + position, sorted as plain doubles.
const POS = 2 ** 21;

/** Sorts row `scores` into `keys` ascending by (score, position). */
function sortRow(scores: Float32Array, keys: Float64Array): void {
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  for (let j = 0; j < scores.length; j++) {
    let b = bits[j];
    if (b === 0x80000000) b = 0; // -0 sorts with +0
    const u = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[j] = u * POS + j;
  }
  keys.sort();
}

export class Neighbours {
  readonly n: number;
  /** Row-major n x n: row i's positions from least to most similar (ties: lower position first), i included. */
  private readonly asc: Uint16Array | Uint32Array;
  private readonly used: Uint8Array;

  private constructor(n: number) {
    this.n = n;
    this.asc = n <= 65536 ? new Uint16Array(n * n) : new Uint32Array(n * n);
    this.used = new Uint8Array(n);
  }

  /**
   * Sorts every row once. `onRanking(i, ranking)` gets row i's ranking (every other position, most similar
   * first, ties by lower position first) in ascending i; the array is reused for the next row.
   */
  static async build(
    scores: ScoreRows,
    onRanking?: (i: number, ranking: Int32Array) => void | Promise<void>,
  ): Promise<Neighbours> {
    const n = scores.n;
    if (n >= POS) throw new Error(`Neighbours: at most ${POS - 1} poems, got ${n}`);
    if (n * n > 2 ** 31) {
      throw new Error(`Neighbours: ${n} poems need ${n} x ${n} positions in memory; use top-K lists instead`);
    }
    const nb = new Neighbours(n);
    const keys = new Float64Array(n);
    const ranking = new Int32Array(Math.max(0, n - 1));
    const row = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sortRow(scores.row(i), keys);
      for (let q = 0; q < n; q++) row[q] = keys[q] % POS;
      nb.asc.set(row, i * n);
      if (!onRanking) continue;
      // Descending by score, ascending position among equal scores: runs of equal keys-without-position
      // are taken from the end, each run read forwards.
      let w = 0;
      for (let end = n; end > 0; ) {
        const score = Math.floor(keys[end - 1] / POS);
        let start = end - 1;
        while (start > 0 && Math.floor(keys[start - 1] / POS) === score) start--;
        for (let q = start; q < end; q++) if (row[q] !== i) ranking[w++] = row[q];
        end = start;
      }
      await onRanking(i, ranking);
    }
    return nb;
  }

  /** Row i's positions from least to most similar (a view; i itself included). */
  leastSimilar(i: number): Uint16Array | Uint32Array {
    return this.asc.subarray(i * this.n, (i + 1) * this.n);
  }

  /** The diversity walk from `start`, `length` long (at most n), into out[0..length). */
  walk(start: number, length: number, out: Int32Array): void {
    const { n, asc, used } = this;
    if (length > n) throw new Error(`walk: length ${length} > ${n} poems`);
    used.fill(0);
    let prev = start;
    out[0] = start;
    used[start] = 1;
    for (let t = 1; t < length; t++) {
      // each poem is `prev` once per walk, so each row is scanned at most once: n log n on average
      let p = prev * n;
      while (used[asc[p]]) p++;
      prev = asc[p];
      used[prev] = 1;
      out[t] = prev;
    }
  }
}
