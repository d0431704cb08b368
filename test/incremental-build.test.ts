// Astro's experimental.incrementalBuild with the worker prerenderer: the example site's pages give cacheKeys
// (CacheReader#pageKey over the poems each page shows) and the render threads report each page's metadata, so
// Astro records them. A rebuild with nothing changed renders only the unkeyed index; after one poem's text
// changes, exactly the pages that show it are rendered again, and the site equals a clean build of the new data.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'astro';
import poemCache from 'astro-poem-cache';
import { lastBuildStats, type RenderStats } from '../integration/build-stats.ts';
import { poemCacheOptions } from '../example-site/poem-cache-options.ts';
import { listFiles } from './support/fixture-site.ts';
import { PIPELINE, REPO, SITE } from './support/site.ts';

const INPUTS = ['poems.json', 'embeddings.json', 'similarity_rankings_cache.json', 'diversity_cache.json'];
/** The poem whose text changes (a row in the middle of the Tang poems). */
const CHANGED_ROW = 5;

// Inside the repository (git-ignored .cache/) for the reason test/support/site.ts gives: a build whose outDir
// lies outside the working directory shares <cwd>/.astro/.prerender with other builds.
const DIR = join(REPO, `.cache/incremental-${process.pid}`);
const DATA = join(DIR, 'data');

async function buildSite(name: string, incremental: boolean): Promise<RenderStats> {
  await build({
    configFile: false,
    root: SITE,
    srcDir: join(SITE, 'src'),
    publicDir: join(SITE, 'public'),
    outDir: join(DIR, name),
    // One Astro cache directory for the incremental builds: its incremental-build.json is what they share.
    cacheDir: join(DIR, incremental ? 'astro-incremental' : `astro-${name}`),
    build: { inlineStylesheets: 'never' },
    logLevel: 'warn',
    experimental: { incrementalBuild: incremental },
    integrations: [
      poemCache({
        ...poemCacheOptions,
        poems: join(DATA, 'poems.json'),
        embeddings: join(DATA, 'embeddings.json'),
        similarity: join(DATA, 'similarity_rankings_cache.json'),
        diversity: join(DATA, 'diversity_cache.json'),
        cacheFile: join(DIR, incremental ? 'incremental.cache' : `${name}.cache`),
        allowOutsideRoot: true, // the test's data and cache live under the repository's .cache/
      }),
    ],
  });
  return lastBuildStats()!;
}

const read = (name: string, file: string) => readFileSync(join(DIR, name, file));

describe('incremental builds (experimental.incrementalBuild) with the worker prerenderer', () => {
  const stats: Record<string, RenderStats> = {};
  let pageFiles: string[] = [];

  beforeAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DATA, { recursive: true });
    for (const f of INPUTS) copyFileSync(join(PIPELINE, f), join(DATA, f));
    stats.first = await buildSite('first', true);
    pageFiles = listFiles(join(DIR, 'first')).filter((f) => f.endsWith('index.html'));
    stats.unchanged = await buildSite('unchanged', true);
    // One poem's text, reversed: the same length (its embedding's content_length still fits), other bytes.
    const poems = JSON.parse(readFileSync(join(DATA, 'poems.json'), 'utf8'));
    const poem = poems.poems[CHANGED_ROW];
    poem.content = [...poem.content].reverse().join('');
    writeFileSync(join(DATA, 'poems.json'), JSON.stringify(poems));
    stats.changed = await buildSite('changed', true);
    stats.clean = await buildSite('clean', false);
  }, 20 * 60_000);
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('renders every page in worker threads the first time', () => {
    expect(stats.first.mode).toBe('workers');
    expect(stats.first.pages).toBe(pageFiles.length);
  });

  it('renders only the page without a cacheKey (the index) when nothing changed, and writes the same site', () => {
    expect(stats.unchanged.pages).toBe(1);
    expect(listFiles(join(DIR, 'unchanged'))).toEqual(listFiles(join(DIR, 'first')));
    const differ = pageFiles.filter((f) => !read('unchanged', f).equals(read('first', f)));
    expect(differ).toEqual([]);
  });

  it('after one poem changed, renders exactly the pages that show it; the site equals a clean build', () => {
    const files = listFiles(join(DIR, 'clean'));
    expect(listFiles(join(DIR, 'changed'))).toEqual(files);
    const wrong = files.filter((f) => !read('changed', f).equals(read('clean', f)));
    expect(wrong, 'pages of the incremental build that differ from a clean build').toEqual([]);
    // The pages whose bytes the change altered, plus the index (no cacheKey: always rendered).
    const altered = pageFiles.filter((f) => !read('clean', f).equals(read('first', f)));
    expect(altered.length).toBeGreaterThan(3); // its own page, its reading pages, pages that list it
    expect(altered.length).toBeLessThan(pageFiles.length / 2);
    expect(stats.changed.pages).toBe(new Set([...altered, 'index.html']).size);
  });
});
