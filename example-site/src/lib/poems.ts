// Helpers shared by the example pages: a poem's name, collection and language from its fields, reading order
// and paging. A poem is its position in poems.json: URLs use its poem_index (1-based), as the pipeline's own
// pages do; its id repeats across categories.
import type { CacheReader } from '../../../cache/reader.ts';

export interface Collection {
  key: string;
  label: string;
  /** BCP 47 tag for poem blocks of this collection. */
  lang: string;
}

// The example data's collections (metadata.collection). The Tang poems are in Traditional characters
// (宮, 說, 鸛), hence zh-Hant. Other data (the pipeline's own: fediverse, messages, notes) falls back to its
// category and metadata.lang.
const KNOWN: Record<string, Collection> = {
  tang300: { key: 'tang300', label: 'Three Hundred Tang Poems (唐詩三百首)', lang: 'zh-Hant' },
  psalms: { key: 'psalms', label: 'Psalms (King James Version)', lang: 'en' },
};

// Fields the site reads beyond the defaults (astro.config.mjs asks for them): a cache without one reads null.
const fieldSets = new WeakMap<CacheReader, Set<string>>();
/** A poem field as a string ('' when absent, or when this cache does not hold the field). */
export function text(cache: CacheReader, name: string, row: number): string {
  let names = fieldSets.get(cache);
  if (!names) fieldSets.set(cache, (names = new Set(cache.fieldNames)));
  if (!names.has(name)) return '';
  const v = cache.field(name, row);
  return v === null ? '' : String(v);
}

/** The collection of a row: metadata.collection, else its category. */
export function collectionOf(cache: CacheReader, row: number): Collection {
  const key = text(cache, 'metadata.collection', row) || cache.category(row) || 'poems';
  return KNOWN[key] ?? { key, label: key, lang: text(cache, 'metadata.lang', row) || 'en' };
}

/** The lang attribute for a poem block. */
export const langOf = (cache: CacheReader, row: number): string => collectionOf(cache, row).lang;

/**
 * How a poem is named: its title, or (the pipeline's poems have none) its file path, as the pipeline's pages
 * head each poem with it. `index` is the poem_index, shown beside the path.
 */
export function nameOf(cache: CacheReader, row: number): { title: string; path: string; index: number } {
  const title = cache.title(row);
  const path = text(cache, 'filepath', row) || `${cache.category(row) || 'poem'}/${cache.idOf(row)}`;
  return { title, path, index: cache.index(row) };
}

/** A one-line name for links, titles and labels. */
export function label(cache: CacheReader, row: number): string {
  const n = nameOf(cache, row);
  return n.title || `${n.path} #${n.index}`;
}

export type Order = 'similar' | 'different';

/**
 * The poems ranked from `row` in an order, without the poem itself (every reading page shows it first):
 * similar(row) (most similar first), or diversity(row) after its first entry (the poem itself). Views into
 * the cache.
 */
export function rankedOf(cache: CacheReader, row: number, order: Order): Int32Array {
  const name = order === 'similar' ? 'similar' : 'diversity';
  if (!cache.has(name)) return new Int32Array(0);
  const list = order === 'similar' ? cache.similar(row) : cache.diversity(row);
  return list.length > 0 && list[0] === row ? list.subarray(1) : list;
}

/** Number of pages for `length` ranked poems (at least 1, at most maxPages). */
export const pageCount = (length: number, pageSize: number, maxPages: number): number =>
  Math.max(1, Math.min(Math.ceil(length / pageSize), maxPages));

/** Rows shown on page `page` (1-based). */
export function pageRows(list: ArrayLike<number>, page: number, pageSize: number): number[] {
  const out: number[] = [];
  const end = Math.min(list.length, page * pageSize);
  for (let i = (page - 1) * pageSize; i < end; i++) out.push(list[i]);
  return out;
}

/** The first `n` rows of a list. */
export function take(list: ArrayLike<number>, n: number): number[] {
  return Array.from({ length: Math.min(n, list.length) }, (_, i) => list[i]);
}

export const poemHref = (index: number): string => `/poem/${index}/`;
export const orderHref = (order: Order, index: number, page = 1): string => `/${order}/${index}/${page}/`;

/** The poems a poem's own page lists: the first ten of each order. */
export const poemPageLists = (cache: CacheReader, row: number) => ({
  similar: take(rankedOf(cache, row, 'similar'), 10),
  different: take(rankedOf(cache, row, 'different'), 10),
});

/**
 * getStaticPaths entries for /poem/<index>/. cacheKey (Astro's experimental.incrementalBuild skips a page whose
 * key is unchanged): the poem itself, and of each listed poem only what its link shows (a poem's new text
 * changes its own page, not the pages that link to it).
 */
export function poemPaths(cache: CacheReader) {
  const link = (r: number) => [cache.index(r), label(cache, r), langOf(cache, r), cache.category(r)];
  return Array.from({ length: cache.count }, (_, row) => {
    const { similar, different } = poemPageLists(cache, row);
    return {
      params: { index: String(cache.index(row)) },
      props: { row },
      cacheKey: cache.pageKey([row], 'poem', similar.length, ...similar.flatMap(link), ...different.flatMap(link)),
    };
  });
}

/**
 * getStaticPaths entries for /similar/<index>/<page>/ or /different/<index>/<page>/; cacheKey: the poem, the
 * poems of the page in order, and what the page says of the whole order (its length, the page count).
 */
export function orderPaths(cache: CacheReader, order: Order, pageSize: number, maxPages: number) {
  const paths: {
    params: { index: string; page: string };
    props: { row: number; page: number; pages: number };
    cacheKey: string;
  }[] = [];
  for (let row = 0; row < cache.count; row++) {
    const ranked = rankedOf(cache, row, order);
    const pages = pageCount(ranked.length, pageSize, maxPages);
    const index = String(cache.index(row));
    for (let page = 1; page <= pages; page++) {
      const shown = [row, ...pageRows(ranked, page, pageSize)];
      const cacheKey = cache.pageKey(shown, order, page, pages, ranked.length);
      paths.push({ params: { index, page: String(page) }, props: { row, page, pages }, cacheKey });
    }
  }
  return paths;
}
