// Bench-only Astro config for bench/astro-build.ts: builds the example site's own pages (example-site/src)
// against a benchmark data set; everything the build writes goes under POEM_BENCH_WORK (in bench/out), so
// nothing in example-site/ changes. Driven by environment variables (bench/astro-build.ts sets them):
//   POEM_BENCH_WORK       absolute directory of this build: Astro's root (.astro/ types), dist/, cache/, vite/
//   POEM_BENCH_DATA       absolute directory with poems.json, embeddings.json, similarity_rankings_cache.json,
//                         diversity_cache.json
//   POEM_BENCH_VARIANT    'cache' (default): example-site/src with poemCache();
//                         'json': the same pages with `virtual:poem-cache` aliased to ./json-cache.ts, which imports
//                         the JSON files directly (Vite bundles them), no poemCache()
//   POEM_BENCH_CACHE_FILE ('cache') the binary cache; converted before the timed builds, so every build finds it fresh
//   POEM_BENCH_WORKERS    ('cache') poemCache's `workers`; 0 = Astro's own prerenderer
//   POEM_BENCH_FRAGMENTS  ('cache') poemCache's `fragments`: '1' on, '0' (default) off
//   POEM_BENCH_FRAGMENT_STORE  ('cache', fragments on) 'shared' (default), or 'thread' / 'strings': the designs it
//                         was measured against (poemCache's internal second argument)
//   POEM_BENCH_INCREMENTAL  '1': Astro's experimental.incrementalBuild (bench/incremental.ts)
//   POEM_BENCH_KEEP_DIST  '1': vite.build.emptyOutDir false (the previous build's dist/ is kept)
//   POEM_BENCH_PAGE_SIZE, POEM_BENCH_MAX_PAGES  pageSize and maxPagesPerPoem ('inf' = no limit); json-cache.ts
//                         reads the same two variables at build time
import { defineConfig } from 'astro/config';
import { fileURLToPath } from 'node:url';
import poemCache from '../../integration/index.ts';
import { lastBuildStats } from '../../integration/build-stats.ts';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`bench/astro-site/astro.config.mjs: set ${name} (bench/astro-build.ts does)`);
  return v;
};
const count = (name, fallback) => {
  const v = env(name, fallback);
  return v === 'inf' ? Infinity : Number(v);
};
const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const work = env('POEM_BENCH_WORK');

// The integration's statistics (debug output in a build) as one line bench/astro-build.ts reads.
const printStats = {
  name: 'bench:build-stats',
  hooks: {
    'astro:build:done': () => {
      const s = lastBuildStats();
      if (s) {
        const stats = {
          mode: s.mode,
          workers: s.workers,
          fallbackReason: s.fallbackReason,
          mainCpuMs: s.mainCpuMs,
          workerCpuMs: s.workerCpuMs,
          pages: s.pages,
          fragments: s.fragments && {
            store: s.fragments.store,
            rendered: s.fragments.rendered,
            reused: s.fragments.reused,
            inline: s.fragments.inline,
            bytes: s.fragments.bytes,
          },
        };
        console.log(`@@BUILD_STATS ${JSON.stringify(stats)}`);
      }
    },
  },
};
const data = env('POEM_BENCH_DATA');
const variant = env('POEM_BENCH_VARIANT', 'cache');

export default defineConfig({
  // Absolute paths throughout: Astro resolves srcDir/publicDir/outDir against the working directory.
  root: work,
  srcDir: here('../../example-site/src'),
  publicDir: here('../../example-site/public'),
  outDir: `${work}/dist`,
  cacheDir: `${work}/cache`,
  build: { inlineStylesheets: 'never' },
  devToolbar: { enabled: false },
  experimental: { incrementalBuild: env('POEM_BENCH_INCREMENTAL', '0') === '1' },
  integrations:
    variant === 'json'
      ? []
      : [
          printStats,
          poemCache(
            {
              poems: `${data}/poems.json`,
              embeddings: `${data}/embeddings.json`,
              similarity: `${data}/similarity_rankings_cache.json`,
              diversity: `${data}/diversity_cache.json`,
              cacheFile: env('POEM_BENCH_CACHE_FILE'),
              workers: Number(env('POEM_BENCH_WORKERS')),
              fragments: env('POEM_BENCH_FRAGMENTS', '0') === '1',
              pageSize: count('POEM_BENCH_PAGE_SIZE', '100'),
              maxPagesPerPoem: count('POEM_BENCH_MAX_PAGES', 'inf'),
              // what the example pages read besides the default fields (as astro.config.mjs at the repo root)
              fields: ['metadata.author', 'metadata.collection', 'metadata.lang', 'metadata.form', 'metadata.section'],
              allowOutsideRoot: true, // the data lives in bench/data, the cache in bench/out: outside this root
            },
            { fragmentStore: env('POEM_BENCH_FRAGMENT_STORE', 'shared') },
          ),
        ],
  vite: {
    cacheDir: `${work}/vite`, // Vite's own default is <root>/node_modules/.vite
    build: { emptyOutDir: env('POEM_BENCH_KEEP_DIST', '0') !== '1' },
    // json: the pages' `virtual:poem-cache` is json-cache.ts, which imports '@poem-data/<file>.json'.
    ...(variant === 'json'
      ? { resolve: { alias: { 'virtual:poem-cache': here('./json-cache.ts'), '@poem-data': data } } }
      : {}),
  },
});
