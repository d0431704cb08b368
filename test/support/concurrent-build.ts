// One real `astro build` of test/fixtures/site for test/concurrent-builds.test.ts; two of these run at once
// on the same cache file. Args: <outDir name>. Data: test/fixtures/site/data-concurrent (written by the test).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'astro';
import { lastBuildStats } from '../../integration/build-stats.ts';
import poemCache from '../../integration/index.ts';

const root = fileURLToPath(new URL('../fixtures/site/', import.meta.url));
const [outName = 'dist-concurrent'] = process.argv.slice(2);
await build({
  root,
  configFile: false,
  outDir: join(root, outName),
  logLevel: 'info',
  integrations: [
    poemCache({
      poems: 'data-concurrent/poems.json',
      embeddings: 'data-concurrent/embeddings.json',
      similarity: 'data-concurrent/similarity_rankings_cache.json',
      diversity: 'data-concurrent/diversity_cache.json',
      cacheFile: '.cache-concurrent/poems.cache',
      workers: 1,
      pageSize: 5,
    }),
  ],
});
process.stdout.write(`RESULT ${JSON.stringify({ pages: lastBuildStats()?.pages })}\n`);
