// The example site's poemCache() options: astro.config.mjs builds the site with them, and
// test/fragments-site.test.ts builds it again with `fragments: false, workers: 0` to compare.
import type { PoemCacheOptions } from '../integration/options.ts';

export const poemCacheOptions = {
  poems: 'data/pipeline/poems.json',
  embeddings: 'data/pipeline/embeddings.json',
  similarity: 'data/pipeline/similarity_rankings_cache.json',
  diversity: 'data/pipeline/diversity_cache.json',
  // beyond the default fields (file path, content warning, golden mark, ...): what the pages show
  fields: ['metadata.author', 'metadata.collection', 'metadata.lang', 'metadata.form', 'metadata.section'],
  pageSize: 100,
} satisfies PoemCacheOptions;
