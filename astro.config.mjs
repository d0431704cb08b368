// The example site: Tang poems and Psalms, paged in similarity and diversity order from the binary cache.
import { defineConfig } from 'astro/config';
import { poemCacheOptions } from './example-site/poem-cache-options.ts';
import poemCache from './integration/index.ts';

export default defineConfig({
  // Astro resolves srcDir/publicDir/outDir against the directory the CLI runs in (the repo root), not
  // against `root`, so they are spelled out; `root` is what the integration resolves its inputs against.
  root: './example-site',
  srcDir: './example-site/src',
  publicDir: './example-site/public',
  outDir: './example-site/dist',
  // Keeps the example's poem cache (<cacheDir>/poem-cache/poems.cache) and Vite cache apart from other
  // builds run from the repo root (integration/options.ts defaultCacheFile(cacheDir) is the rule).
  cacheDir: './example-site/node_modules/.astro',
  build: { inlineStylesheets: 'never' },
  integrations: [poemCache(poemCacheOptions)],
});
