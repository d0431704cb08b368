// One real `astro build` of test/fixtures/site with share: 'shm' (or 'file'), for test/shm-builds.test.ts.
// Args: <outDir name> <share> <workers>. Data: test/fixtures/site/data-shm (written by the test).
// Prints one JSON line at the end: pages rendered, render mode, and whether the env var was cleared.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'astro';
import { lastBuildStats } from '../../integration/build-stats.ts';
import poemCache from '../../integration/index.ts';

const root = fileURLToPath(new URL('../fixtures/site/', import.meta.url));
const [outName = 'dist-shm', share = 'shm', workers = '1'] = process.argv.slice(2);
const t0 = performance.now();
// Page chunks whose getCache() reads the segment name from the environment (the virtual module with share: 'shm').
let chunksUsingShm = 0;
await build({
  root,
  configFile: false,
  outDir: join(root, outName),
  logLevel: 'warn',
  vite: {
    plugins: [
      {
        name: 'shm-test:chunk-probe',
        generateBundle(_o: unknown, bundle: Record<string, { type: string; code?: string }>) {
          for (const c of Object.values(bundle))
            if (c.type === 'chunk' && c.code?.includes('process.env.ASTRO_POEM_CACHE_SHM')) chunksUsingShm++;
        },
      },
    ],
  },
  integrations: [
    poemCache({
      poems: 'data-shm/poems.json',
      embeddings: 'data-shm/embeddings.json',
      similarity: 'data-shm/similarity_rankings_cache.json',
      diversity: 'data-shm/diversity_cache.json',
      cacheFile: '.cache-shm/poems.cache',
      workers: Number(workers),
      pageSize: 5,
      share: share as 'file' | 'shm',
    }),
  ],
});
const s = lastBuildStats();
process.stdout.write(
  JSON.stringify({
    pid: process.pid,
    step: 'built',
    pages: s?.pages,
    mode: s?.mode,
    workerBacking: s?.workerCache?.map((w) => w.backing),
    chunksUsingShm,
    shmEnv: process.env.ASTRO_POEM_CACHE_SHM ?? null,
    seconds: (performance.now() - t0) / 1000,
  }) + '\n',
);
