// A real `astro build` of the example site; every similar/different page is checked against the cache the
// integration wrote AND against the pipeline JSON itself, plus poem pages, the index, lang and landmarks.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCache, type CacheReader } from '../cache/reader.ts';
import { decode, inner, poemText, tags, text } from './support/html.ts';
import { acquireSite, convertInputs, integrationCacheFile, pageFile, PIPELINE, releaseSite, type BuiltSite } from './support/site.ts';

// Mirrors astro.config.mjs: pageSize 100, maxPagesPerPoem not set (the integration's default: no limit).
const PAGE_SIZE = 100;
const MAX_PAGES = Infinity;


interface Poem {
  id: number;
  title: string;
  content: string;
  category: string;
  metadata: { lang: string; creation_date: string };
}

describe('example site build', () => {
  let site: BuiltSite;
  let cache: CacheReader;
  let fresh: CacheReader;
  let poems: Map<number, Poem>;
  let rankings: Record<string, number[]>;
  let sequences: Record<string, number[]>;
  const read = (urlPath: string) => readFileSync(pageFile(site.outDir, urlPath), 'utf8');
  const ids = (list: ArrayLike<number>) => Array.from(list, (r) => cache.idOf(r));
  const pagesFor = (length: number) => Math.max(1, Math.min(Math.ceil(length / PAGE_SIZE), MAX_PAGES));

  beforeAll(async () => {
    site = await acquireSite('site-build');
    cache = openCache(integrationCacheFile());
    fresh = openCache(await convertInputs(join(site.dir, 'site-build.cache')));
    // Small test inputs (≈1 MB each): parsed here as the independent oracle.
    poems = new Map((JSON.parse(readFileSync(join(PIPELINE, 'poems.json'), 'utf8')).poems as Poem[]).map((p) => [p.id, p]));
    rankings = JSON.parse(readFileSync(join(PIPELINE, 'similarity_rankings_cache.json'), 'utf8')).rankings;
    sequences = JSON.parse(readFileSync(join(PIPELINE, 'diversity_cache.json'), 'utf8')).sequences;
    console.log(`astro build: ${site.pages} pages in ${(site.buildMs / 1000).toFixed(1)} s into ${site.outDir}; cache ${cache.source}`);
  }, 20 * 60_000);
  afterAll(() => releaseSite(site, 'site-build'));

  it("agrees with an independent conversion of the inputs (converter/index.ts)", () => {
    expect(cache.count).toBe(fresh.count);
    const idsOf = (c: CacheReader, list: ArrayLike<number>) => Array.from(list, (r) => c.idOf(r));
    for (let row = 0; row < cache.count; row++) {
      const id = cache.idOf(row);
      const f = fresh.rowOf(id);
      expect(f, `poem ${id}`).toBeGreaterThanOrEqual(0);
      expect(ids(cache.similar(row)), `similar of ${id}`).toEqual(idsOf(fresh, fresh.similar(f)));
      expect(ids(cache.diversity(row)), `diversity of ${id}`).toEqual(idsOf(fresh, fresh.diversity(f)));
      expect([cache.title(row), cache.text(row), cache.category(row), cache.date(row)]).toEqual([fresh.title(f), fresh.text(f), fresh.category(f), fresh.date(f)]);
    }
  });

  it('has one cache row per input poem', () => {
    expect(cache.count).toBe(poems.size);
    for (let row = 0; row < cache.count; row++) {
      const p = poems.get(cache.idOf(row));
      expect(p, `row ${row}`).toBeDefined();
      expect(cache.title(row)).toBe(p!.title);
    }
  });

  it('builds the index, one page per poem and every similar/different page (no more)', () => {
    let expected = 1 + cache.count;
    for (let row = 0; row < cache.count; row++) {
      const id = cache.idOf(row);
      expect(existsSync(pageFile(site.outDir, `/poem/${id}/`)), `/poem/${id}/`).toBe(true);
      for (const [order, length] of [['similar', cache.similar(row).length + 1], ['different', Math.max(1, cache.diversity(row).length)]] as const) {
        const n = pagesFor(length);
        expected += n;
        const built = readdirSync(join(site.outDir, order, String(id))).map(Number).sort((a, b) => a - b);
        expect(built, `/${order}/${id}/*`).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      }
    }
    expect(site.pages).toBe(expected);
  });

  for (const order of ['similar', 'different'] as const) {
    it(`lists exactly the cache's ${order} order on every /${order}/<id>/<page>/ page`, () => {
      let checked = 0;
      for (let row = 0; row < cache.count; row++) {
        const id = cache.idOf(row);
        const fromCache = order === 'similar' ? [id, ...ids(cache.similar(row))] : ids(cache.diversity(row));
        const fromJson = order === 'similar' ? [id, ...rankings[id]] : sequences[id];
        expect(fromCache, `${order} of ${id}: cache vs pipeline JSON`).toEqual(fromJson);
        const pages = pagesFor(fromCache.length);
        for (let page = 1; page <= pages; page++) {
          const url = `/${order}/${id}/${page}/`;
          const html = read(url);
          const list = tags(html, 'ol').find((t) => t.attrs.class === 'entries');
          expect(list?.attrs, url).toMatchObject({ 'data-order': order, 'data-poem-id': String(id), 'data-page': String(page), 'data-pages': String(pages) });
          expect(list!.attrs.start).toBe(String((page - 1) * PAGE_SIZE + 1));
          const entries = tags(html, 'article').filter((t) => 'data-poem-id' in t.attrs);
          const want = fromCache.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
          expect(entries.map((t) => Number(t.attrs['data-poem-id'])), url).toEqual(want);
          // The rank is the page's (outside the poem's reused fragment): each <li data-rank> shows it, then the poem.
          const items = tags(html, 'li').filter((t) => 'data-rank' in t.attrs);
          const ranks = want.map((_, i) => (page - 1) * PAGE_SIZE + i);
          expect(items.map((t) => Number(t.attrs['data-rank'])), url).toEqual(ranks);
          items.forEach((t, i) => {
            const head = html.slice(t.end, entries[i].at);
            expect(head, `${url} rank ${ranks[i]}`).toBe(`<span class="rank" lang="en">${ranks[i] + 1}.</span>`);
          });
          for (const e of entries) {
            const p = poems.get(Number(e.attrs['data-poem-id']))!;
            expect(e.attrs.lang?.split('-')[0], `${url} lang of ${p.id}`).toBe(p.metadata.lang);
          }
          // Spot-check full text on the first page of each list (all of them would be 470 x 470 texts).
          if (page === 1) {
            for (const e of entries.slice(0, 3)) {
              const p = poems.get(Number(e.attrs['data-poem-id']))!;
              expect(poemText(html, e.end), `${url} text of ${p.id}`).toBe(p.content);
            }
          }
          const rel = (r: string) => tags(html, 'a').filter((a) => a.attrs.rel === r).map((a) => a.attrs.href);
          expect(rel('prev'), url).toEqual(page > 1 ? [`/${order}/${id}/${page - 1}/`, `/${order}/${id}/${page - 1}/`] : []);
          expect(rel('next'), url).toEqual(page < pages ? [`/${order}/${id}/${page + 1}/`, `/${order}/${id}/${page + 1}/`] : []);
          checked++;
        }
      }
      console.log(`${order}: ${checked} pages checked`);
      expect(checked).toBeGreaterThan(cache.count);
    }, 10 * 60_000);
  }

  it('shows each poem with its 10 most similar and the next 10 of its diversity chain', () => {
    for (let row = 0; row < cache.count; row++) {
      const id = cache.idOf(row);
      const p = poems.get(id)!;
      const url = `/poem/${id}/`;
      const html = read(url);
      const article = tags(html, 'article').find((t) => t.attrs['data-poem-id'] === String(id));
      expect(article?.attrs.lang?.split('-')[0], url).toBe(p.metadata.lang);
      if (p.metadata.lang === 'zh') expect(article!.attrs.lang).toBe('zh-Hant');
      expect(text(inner(html, tags(html, 'h1')[0])), url).toBe(p.title);
      expect(poemText(html, article!.end), url).toBe(p.content);
      expect(html).toContain(`>${p.category}`);
      const links = (key: string) => {
        const s = tags(html, 'section').find((t) => t.attrs['data-list'] === key)!;
        const body = html.slice(s.end, html.indexOf('</section>', s.end));
        return tags(body, 'a').filter((a) => 'data-poem-id' in a.attrs);
      };
      const similar = links('similar');
      expect(similar.map((a) => Number(a.attrs['data-poem-id'])), url).toEqual(ids(cache.similar(row)).slice(0, 10));
      expect(similar.map((a) => a.attrs.href)).toEqual(similar.map((a) => `/poem/${a.attrs['data-poem-id']}/`));
      expect(links('different').map((a) => Number(a.attrs['data-poem-id'])), url).toEqual(ids(cache.diversity(row)).slice(1, 11));
      for (const a of [...similar, ...links('different')]) {
        expect(a.attrs.lang?.split('-')[0]).toBe(poems.get(Number(a.attrs['data-poem-id']))!.metadata.lang);
      }
      expect(html).toContain(`href="/similar/${id}/1/"`);
      expect(html).toContain(`href="/different/${id}/1/"`);
    }
  });

  it('links every poem once from the index, grouped by collection', () => {
    const html = read('/');
    const linked = tags(html, 'a').filter((a) => 'data-poem-id' in a.attrs).map((a) => Number(a.attrs['data-poem-id']));
    expect([...linked].sort((a, b) => a - b)).toEqual([...poems.keys()].sort((a, b) => a - b));
    const tang = html.indexOf('id="tang300"');
    const psalms = html.indexOf('id="psalms"');
    expect(tang).toBeGreaterThan(0);
    expect(psalms).toBeGreaterThan(tang);
    for (const id of linked) {
      const at = html.indexOf(`data-poem-id="${id}"`);
      expect(at > psalms, `index position of ${id}`).toBe(poems.get(id)!.metadata.lang === 'en');
    }
    for (const list of tags(html, 'ol').filter((t) => t.attrs.class?.startsWith('index-list'))) {
      expect(['zh-Hant', 'en']).toContain(list.attrs.lang);
    }
  });

  it('ships the favicon', () => {
    expect(existsSync(join(site.outDir, 'favicon.svg'))).toBe(true);
  });

  it('gives every sampled page lang="en", one h1, a skip link, landmarks and the one stylesheet', () => {
    const sample = ['/', ...[0, 1, cache.count - 1].flatMap((row) => {
      const id = cache.idOf(row);
      return [`/poem/${id}/`, `/similar/${id}/1/`, `/different/${id}/1/`];
    })];
    for (const url of sample) {
      const html = read(url);
      expect(tags(html, 'html')[0].attrs.lang, url).toBe('en');
      expect(tags(html, 'h1'), url).toHaveLength(1);
      expect(html, url).toMatch(/<a class="skip-link" href="#main">/);
      expect(tags(html, 'main')[0].attrs.id, url).toBe('main');
      expect(tags(html, 'header'), url).toHaveLength(1);
      expect(tags(html, 'footer'), url).toHaveLength(1);
      expect(tags(html, 'script'), `${url}: no client JS`).toHaveLength(0);
      const css = tags(html, 'link').filter((l) => l.attrs.rel === 'stylesheet');
      expect(css, url).toHaveLength(1);
      expect(css[0].attrs.href).toMatch(/^\/_astro\/[^/]+\.css$/);
      expect(existsSync(join(site.outDir, css[0].attrs.href)), css[0].attrs.href).toBe(true);
      expect(tags(html, 'link').find((l) => l.attrs.rel === 'icon')?.attrs.href).toBe('/favicon.svg');
      expect(decode(html)).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    }
  });
});
