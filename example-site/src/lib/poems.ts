// Small helpers shared by the example pages: language/collection derivation and list paging.
// The cache carries title, text, category and date per poem, but not author/collection/lang, so
// those are derived here (and only here).
import type { CacheReader } from '../../../cache/reader.ts';

export interface Collection {
  key: 'tang300' | 'psalms';
  label: string;
  /** BCP 47 tag for poem blocks of this collection. */
  lang: string;
}

// The Tang poems of the example data are in Traditional characters (宮, 說, 鸛), hence zh-Hant.
export const TANG: Collection = { key: 'tang300', label: 'Three Hundred Tang Poems (唐詩三百首)', lang: 'zh-Hant' };
export const PSALMS: Collection = { key: 'psalms', label: 'Psalms (King James Version)', lang: 'en' };

const CJK = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{2ffff}]/u;

/** True when the string contains CJK ideographs. */
export const hasCjk = (s: string): boolean => CJK.test(s);

/** The collection of a row: CJK text → Tang poems, anything else → Psalms. */
export function collectionOf(cache: CacheReader, row: number): Collection {
  return hasCjk(cache.title(row)) || hasCjk(cache.text(row).slice(0, 200)) ? TANG : PSALMS;
}

/** The lang attribute for a poem block. */
export const langOf = (cache: CacheReader, row: number): string => collectionOf(cache, row).lang;

export type Order = 'similar' | 'different';

/**
 * Rows in reading order starting from `row`: for "similar", the poem itself then similar(row) (most
 * similar first); for "different", diversity(row) (which already starts with the poem itself).
 * Views into the cache: no copies except the one-element prefix case.
 */
export function orderOf(cache: CacheReader, row: number, order: Order): ArrayLike<number> {
  if (order === 'similar') {
    const list = cache.has('similar') ? cache.similar(row) : new Int32Array(0);
    if (list.length > 0 && list[0] === row) return list;
    const out = new Int32Array(list.length + 1);
    out[0] = row;
    out.set(list, 1);
    return out;
  }
  const list = cache.has('diversity') ? cache.diversity(row) : new Int32Array(0);
  return list.length > 0 ? list : Int32Array.of(row);
}

/** Number of pages for a list of `length` entries (at least 1, at most maxPages). */
export const pageCount = (length: number, pageSize: number, maxPages: number): number =>
  Math.max(1, Math.min(Math.ceil(length / pageSize), maxPages));

/** Rows shown on page `page` (1-based). */
export function pageRows(list: ArrayLike<number>, page: number, pageSize: number): number[] {
  const out: number[] = [];
  const end = Math.min(list.length, page * pageSize);
  for (let i = (page - 1) * pageSize; i < end; i++) out.push(list[i]);
  return out;
}

/** The first `n` rows of a list after skipping `skip` (for the short lists on a poem page). */
export function take(list: ArrayLike<number>, skip: number, n: number): number[] {
  const out: number[] = [];
  for (let i = skip; i < list.length && out.length < n; i++) out.push(list[i]);
  return out;
}

export const poemHref = (id: number): string => `/poem/${id}/`;
export const orderHref = (order: Order, id: number, page = 1): string => `/${order}/${id}/${page}/`;

/** getStaticPaths entries for /similar/<id>/<page>/ or /different/<id>/<page>/. */
export function orderPaths(cache: CacheReader, order: Order, pageSize: number, maxPages: number) {
  const paths: { params: { id: string; page: string }; props: { row: number; page: number; pages: number } }[] = [];
  for (let row = 0; row < cache.count; row++) {
    const pages = pageCount(orderOf(cache, row, order).length, pageSize, maxPages);
    const id = String(cache.idOf(row));
    for (let page = 1; page <= pages; page++) paths.push({ params: { id, page: String(page) }, props: { row, page, pages } });
  }
  return paths;
}
