// One "similar" page renderer shared by every benchmark strategy, so all of them produce identical HTML:
// a poem's title, then the titles and first lines of its `k` most similar poems, then its diversity
// sequence (first `k`). Data comes through PageData, implemented over the binary cache (CacheReader) and
// over the pipeline's parsed JSON (jsonPageData).
import { createHash } from 'node:crypto';

/** What a page needs, by row (0..count-1, in poems.json order). */
export interface PageData {
  readonly count: number;
  /** The poem_index of a row (its 1-based position in poems.json): URLs use it, as the pipeline's pages do. */
  index(row: number): number;
  title(row: number): string;
  text(row: number): string;
  /** Rows most similar to `row`, most similar first. */
  similar(row: number): ArrayLike<number>;
  /** The diversity sequence of `row` (the row itself first). */
  diversity(row: number): ArrayLike<number>;
}

/** The subset of CacheReader that PageData needs (CacheReader satisfies PageData as is). */
export type ReaderLike = PageData;

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
export const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ESC[c]);

/** The first non-empty line of a poem. */
export function firstLine(text: string): string {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) return text.slice(start, end);
    start = end + 1;
  }
  return '';
}

function item(d: PageData, r: number): string {
  return (
    `<li><a href="/poem/${d.index(r)}/">${escapeHtml(d.title(r))}</a>` +
    `<span>${escapeHtml(firstLine(d.text(r)))}</span></li>`
  );
}

/** The HTML of the "similar" page of `row`. */
export function renderSimilarPage(d: PageData, row: number, k = 100): string {
  const parts: string[] = [
    `<!doctype html><html><head><meta charset="utf-8">` +
      `<title>${escapeHtml(d.title(row))} — similar poems</title></head><body>`,
    `<h1>${escapeHtml(d.title(row))}</h1><h2>Most similar</h2><ol>`,
  ];
  const sim = d.similar(row);
  for (let i = 0, n = Math.min(k, sim.length); i < n; i++) parts.push(item(d, sim[i]));
  parts.push('</ol><h2>Most different</h2><ol>');
  const div = d.diversity(row);
  for (let i = 0, n = Math.min(k, div.length); i < n; i++) parts.push(item(d, div[i]));
  parts.push('</ol></body></html>');
  return parts.join('');
}

/** sha256 of one page, raw 32 bytes. */
export const pageDigest = (html: string): Buffer => createHash('sha256').update(html).digest();

/** One hash over the per-page digests in page order: identical pages -> identical hash, whatever the worker split. */
export function combineDigests(digests: Buffer[]): string {
  const h = createHash('sha256');
  for (const d of digests) h.update(d);
  return h.digest('hex');
}

/** Deterministic page list: `n` rows spread over 0..count-1 (all rows once when n >= count, then again). */
export function pageRows(count: number, n: number): Int32Array {
  const rows = new Int32Array(n);
  // A stride coprime with count visits every row before repeating.
  let stride = Math.max(1, Math.floor(count * 0.618));
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  while (gcd(stride, count) !== 1) stride++;
  for (let i = 0; i < n; i++) rows[i] = (i * stride) % count;
  return rows;
}

// ---- PageData over the pipeline's JSON ----

/** The four parsed JSON caches, as the pipeline writes them (scripts/pipeline/files.ts). */
export interface PipelineJson {
  poems: { poems: { id: number; title?: string; content: string }[] };
  embeddings?: unknown;
  /** Keyed by 1-based poem_index, values 1-based poem_index. */
  similarity: { rankings: Record<string, number[]> };
  /** Keyed by 0-based position, values 0-based positions. */
  diversity: { sequences: Record<string, number[]> };
}

/**
 * PageData over parsed pipeline JSON: a poem is its position in poems.json (rankings name it by poem_index =
 * position + 1, diversity by position); only the first `k` entries a page asks for are mapped to rows, as the
 * pipeline's own templates would look them up.
 */
export function jsonPageData(j: PipelineJson, k = 100): PageData {
  const poems = j.poems.poems;
  const toRows = (list: number[] | undefined, base: number): Int32Array => {
    if (!list) return new Int32Array(0);
    const n = Math.min(k, list.length);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = list[i] - base;
    return out;
  };
  return {
    count: poems.length,
    index: (r) => r + 1,
    title: (r) => poems[r].title ?? '',
    text: (r) => poems[r].content,
    similar: (r) => toRows(j.similarity.rankings[String(r + 1)], 1),
    diversity: (r) => toRows(j.diversity.sequences[String(r)], 0),
  };
}
