// A real `astro build` of the example site; every similar/different page is checked against the cache the
// integration wrote AND against the pipeline JSON itself, plus poem pages, the index, lang and landmarks.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCache, type CacheReader } from '../cache/reader.ts';
import { decode, inner, poemText, tags, text } from './support/html.ts';
import {
  acquireSite,
  convertInputs,
  integrationCacheFile,
  pageFile,
  PIPELINE,
  releaseSite,
  type BuiltSite,
} from './support/site.ts';

// Mirrors astro.config.mjs: pageSize 100, maxPagesPerPoem not set (the integration's default: no limit).
const PAGE_SIZE = 100;
const MAX_PAGES = Infinity;

interface Poem {
  id: number;
  title?: string;
  content: string;
  category: string;
  filepath: string;
  content_warning?: string;
  metadata: { lang: string; creation_date: string; is_golden_poem: boolean };
}

describe('example site build', () => {
  let site: BuiltSite;
  let cache: CacheReader;
  let fresh: CacheReader;
  /** poems.json in file order: poems[i] is poem_index i + 1. */
  let poems: Poem[];
  /** The pipeline's files as written: rankings by 1-based poem_index, sequences by 0-based position. */
  let rankings: Record<string, number[]>;
  let sequences: Record<string, number[]>;
  const read = (urlPath: string) => readFileSync(pageFile(site.outDir, urlPath), 'utf8');
  const indexes = (list: ArrayLike<number>) => Array.from(list, (r) => cache.index(r));
  const pagesFor = (length: number) => Math.max(1, Math.min(Math.ceil(length / PAGE_SIZE), MAX_PAGES));
  /** The poems ranked from poem_index i, computed from the JSON alone (the pages show the poem first, then these). */
  const rankedFromJson = (order: 'similar' | 'different', i: number): number[] =>
    order === 'similar' ? rankings[String(i)] : sequences[String(i - 1)].slice(1).map((p) => p + 1);

  beforeAll(async () => {
    site = await acquireSite('site-build');
    cache = openCache(integrationCacheFile());
    fresh = openCache(await convertInputs(join(site.dir, 'site-build.cache')));
    // Small test inputs (≈1 MB each): parsed here as the independent oracle.
    poems = JSON.parse(readFileSync(join(PIPELINE, 'poems.json'), 'utf8')).poems as Poem[];
    rankings = JSON.parse(readFileSync(join(PIPELINE, 'similarity_rankings_cache.json'), 'utf8')).rankings;
    sequences = JSON.parse(readFileSync(join(PIPELINE, 'diversity_cache.json'), 'utf8')).sequences;
    console.log(
      `astro build: ${site.pages} pages in ${(site.buildMs / 1000).toFixed(1)} s into ${site.outDir}; cache ` +
        `${cache.source}`,
    );
  }, 20 * 60_000);
  afterAll(() => releaseSite(site, 'site-build'));

  it('agrees with an independent conversion of the inputs (converter/index.ts)', () => {
    expect(cache.count).toBe(fresh.count);
    for (let row = 0; row < cache.count; row++) {
      expect(Array.from(cache.similar(row)), `similar of row ${row}`).toEqual(Array.from(fresh.similar(row)));
      expect(Array.from(cache.diversity(row)), `diversity of row ${row}`).toEqual(Array.from(fresh.diversity(row)));
      expect([cache.idOf(row), cache.title(row), cache.text(row), cache.category(row), cache.date(row)]).toEqual([
        fresh.idOf(row),
        fresh.title(row),
        fresh.text(row),
        fresh.category(row),
        fresh.date(row),
      ]);
    }
  });

  it('has one cache row per input poem, in file order; ids repeat across categories', () => {
    expect(cache.count).toBe(poems.length);
    poems.forEach((p, row) => {
      expect([cache.idOf(row), cache.title(row), cache.field('filepath', row)], `row ${row}`).toEqual([
        p.id,
        p.title ?? '',
        p.filepath,
      ]);
    });
    expect(new Set(poems.map((p) => p.id)).size).toBeLessThan(poems.length);
    expect(cache.idsRepeat).toBe(true);
  });

  it('builds the index, one page per poem and every similar/different page (no more)', () => {
    let expected = 1 + cache.count;
    for (let row = 0; row < cache.count; row++) {
      const i = cache.index(row);
      expect(existsSync(pageFile(site.outDir, `/poem/${i}/`)), `/poem/${i}/`).toBe(true);
      for (const order of ['similar', 'different'] as const) {
        const n = pagesFor(rankedFromJson(order, i).length);
        expected += n;
        const built = readdirSync(join(site.outDir, order, String(i)))
          .map(Number)
          .sort((a, b) => a - b);
        expect(built, `/${order}/${i}/*`).toEqual(Array.from({ length: n }, (_, k) => k + 1));
      }
    }
    expect(site.pages).toBe(expected);
  });

  for (const order of ['similar', 'different'] as const) {
    it(
      `shows the poem first, then exactly the JSON's ${order} order, on every /${order}/<poem_index>/<page>/ page`,
      () => {
        let checked = 0;
        for (let row = 0; row < cache.count; row++) {
          const i = cache.index(row);
          const ranked = rankedFromJson(order, i);
          const fromCache = order === 'similar' ? indexes(cache.similar(row)) : indexes(cache.diversity(row)).slice(1);
          expect(fromCache, `${order} of ${i}: cache vs pipeline JSON`).toEqual(ranked);
          const pages = pagesFor(ranked.length);
          for (let page = 1; page <= pages; page++) {
            const url = `/${order}/${i}/${page}/`;
            const html = read(url);
            // the anchor: the poem itself, first on every page
            const anchor = tags(html, 'section').find((t) => t.attrs.class === 'anchor');
            const articles = tags(html, 'article').filter((t) => 'data-poem-index' in t.attrs);
            expect(anchor && articles[0].at > anchor.at, url).toBe(true);
            expect(Number(articles[0].attrs['data-poem-index']), url).toBe(i);
            const list = tags(html, 'ol').find((t) => t.attrs.class === 'entries');
            expect(list?.attrs, url).toMatchObject({
              'data-order': order,
              'data-poem-index': String(i),
              'data-page': String(page),
              'data-pages': String(pages),
            });
            expect(list!.attrs.start).toBe(String((page - 1) * PAGE_SIZE + 1));
            const want = ranked.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
            expect(
              articles.slice(1).map((t) => Number(t.attrs['data-poem-index'])),
              url,
            ).toEqual(want);
            const ranks = tags(html, 'li')
              .filter((t) => 'data-rank' in t.attrs)
              .map((t) => Number(t.attrs['data-rank']));
            expect(ranks, url).toEqual(want.map((_, k) => (page - 1) * PAGE_SIZE + k + 1));
            for (const e of articles) {
              const p = poems[Number(e.attrs['data-poem-index']) - 1];
              expect(e.attrs.lang?.split('-')[0], `${url} lang of ${p.filepath}`).toBe(p.metadata.lang);
            }
            // Spot-check full text on the first page of each list (all of them would be 470 x 470 texts).
            if (page === 1) {
              for (const e of articles.slice(0, 4)) {
                const p = poems[Number(e.attrs['data-poem-index']) - 1];
                expect(poemText(html, e.end), `${url} text of ${p.filepath}`).toBe(p.content);
              }
            }
            const rel = (r: string) =>
              tags(html, 'a')
                .filter((a) => a.attrs.rel === r)
                .map((a) => a.attrs.href);
            expect(rel('prev'), url).toEqual(
              page > 1 ? [`/${order}/${i}/${page - 1}/`, `/${order}/${i}/${page - 1}/`] : [],
            );
            expect(rel('next'), url).toEqual(
              page < pages ? [`/${order}/${i}/${page + 1}/`, `/${order}/${i}/${page + 1}/`] : [],
            );
            checked++;
          }
        }
        console.log(`${order}: ${checked} pages checked`);
        expect(checked).toBeGreaterThan(cache.count);
      },
      10 * 60_000,
    );
  }

  it(
    'shows each poem with its title or file path, content warning, golden mark, ' +
      '10 most similar and the next 10 of its chain',
    () => {
      let warned = 0;
      let golden = 0;
      poems.forEach((p, row) => {
        const i = row + 1;
        const url = `/poem/${i}/`;
        const html = read(url);
        const article = tags(html, 'article').find((t) => t.attrs['data-poem-index'] === String(i));
        expect(article?.attrs.lang?.split('-')[0], url).toBe(p.metadata.lang);
        if (p.metadata.lang === 'zh') expect(article!.attrs.lang).toBe('zh-Hant');
        const h1 = text(inner(html, tags(html, 'h1')[0]));
        expect(h1, url).toBe(`${p.title ?? p.filepath} #${i}${p.metadata.is_golden_poem ? ' golden' : ''}`);
        expect(poemText(html, article!.end), url).toBe(p.content);
        // a content warning: the text behind a closed <details> whose summary names it
        const details = tags(html, 'details').filter((t) => t.attrs.class === 'cw');
        if (p.content_warning) {
          warned++;
          expect(details, url).toHaveLength(1);
          expect('open' in details[0].attrs, url).toBe(false);
          expect(text(inner(html, tags(html, 'summary')[0])), url).toBe(`Content warning: ${p.content_warning}`);
          expect(html.indexOf('<div class="poem-text">'), url).toBeGreaterThan(details[0].at);
        } else expect(details, url).toHaveLength(0);
        if (p.metadata.is_golden_poem) golden++;
        const links = (key: string) => {
          const s = tags(html, 'section').find((t) => t.attrs['data-list'] === key)!;
          const body = html.slice(s.end, html.indexOf('</section>', s.end));
          return tags(body, 'a').filter((a) => 'data-poem-index' in a.attrs);
        };
        const similar = links('similar');
        expect(
          similar.map((a) => Number(a.attrs['data-poem-index'])),
          url,
        ).toEqual(rankedFromJson('similar', i).slice(0, 10));
        expect(similar.map((a) => a.attrs.href)).toEqual(similar.map((a) => `/poem/${a.attrs['data-poem-index']}/`));
        expect(
          links('different').map((a) => Number(a.attrs['data-poem-index'])),
          url,
        ).toEqual(rankedFromJson('different', i).slice(0, 10));
        for (const a of [...similar, ...links('different')]) {
          expect(a.attrs.lang?.split('-')[0]).toBe(poems[Number(a.attrs['data-poem-index']) - 1].metadata.lang);
        }
        expect(html).toContain(`href="/similar/${i}/1/"`);
        expect(html).toContain(`href="/different/${i}/1/"`);
      });
      expect([warned, golden]).toEqual([6, 6]); // the example data's (example-site/scripts/make-pipeline-data.ts)
    },
  );

  it('links every poem once from the index, grouped by collection', () => {
    const html = read('/');
    const linked = tags(html, 'a')
      .filter((a) => 'data-poem-index' in a.attrs)
      .map((a) => Number(a.attrs['data-poem-index']));
    expect([...linked].sort((a, b) => a - b)).toEqual(poems.map((_, row) => row + 1));
    const tang = html.indexOf('id="tang300"');
    const psalms = html.indexOf('id="psalms"');
    expect(tang).toBeGreaterThan(0);
    expect(psalms).toBeGreaterThan(tang);
    for (const i of linked) {
      const at = html.indexOf(`data-poem-index="${i}"`);
      expect(at > psalms, `index position of ${i}`).toBe(poems[i - 1].metadata.lang === 'en');
    }
    for (const list of tags(html, 'ol').filter((t) => t.attrs.class?.startsWith('index-list'))) {
      expect(['zh-Hant', 'en']).toContain(list.attrs.lang);
    }
  });

  it('ships the favicon', () => {
    expect(existsSync(join(site.outDir, 'favicon.svg'))).toBe(true);
  });

  it('gives every sampled page lang="en", one h1, a skip link, landmarks and the one stylesheet', () => {
    const sample = [
      '/',
      ...[1, 2, cache.count].flatMap((i) => [`/poem/${i}/`, `/similar/${i}/1/`, `/different/${i}/1/`]),
    ];
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
