// `astro dev` on the fixture site: a poem page renders from the cache; changing an input file restarts
// the server, re-converts, and the page shows the new data.
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dev } from 'astro';
import poemCache from 'astro-poem-cache';
import { poemTitle, writeFixtureData } from './fixtures/site/make-data.ts';

const root = fileURLToPath(new URL('./fixtures/site/', import.meta.url));
const dataDir = join(root, 'data-dev');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('astro dev', () => {
  let server: Awaited<ReturnType<typeof dev>> | undefined;
  // Astro's dev server installs no page handler when process.env.VITEST is set (its own unit-test mode);
  // hide it while this real server runs (restarts included).
  const vitestFlag = process.env.VITEST;
  delete process.env.VITEST;
  afterAll(async () => {
    await server?.stop();
    if (vitestFlag !== undefined) process.env.VITEST = vitestFlag;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(join(root, '.cache-dev'), { recursive: true, force: true });
  });

  it('serves poem pages from the cache and picks up changed inputs after the restart', async () => {
    const data = writeFixtureData(dataDir, 12, 0);
    rmSync(join(root, '.cache-dev'), { recursive: true, force: true });
    const port = await freePort();
    server = await dev({
      root,
      configFile: false,
      logLevel: 'info',
      server: { host: '127.0.0.1', port },
      integrations: [
        poemCache({
          poems: 'data-dev/poems.json',
          similarity: 'data-dev/similarity_rankings_cache.json',
          diversity: 'data-dev/diversity_cache.json',
          cacheFile: '.cache-dev/poems.cache',
          workers: 1,
          pageSize: 5,
        }),
      ],
    });
    const base = `http://127.0.0.1:${server.address.port}`;
    const id = data.ids[4];
    // The first request may race the dev server's cold start (dependency optimizer) when other test files
    // build the same fixture root at the same time: retry briefly.
    let first = await fetch(`${base}/poems/${id}/`);
    let html = await first.text();
    for (let i = 0; i < 20 && first.status !== 200; i++) {
      await sleep(1000);
      first = await fetch(`${base}/poems/${id}/`);
      html = await first.text();
    }
    expect(first.status, html.slice(0, 2000)).toBe(200);
    expect(html).toContain(poemTitle(id, 0));
    expect(html).toContain('<ol class="similar"');

    // Change every title: the watched input file changes, Astro restarts, the integration re-converts.
    writeFixtureData(dataDir, 12, 1);
    const deadline = Date.now() + 90_000;
    let seen = '';
    while (Date.now() < deadline) {
      await sleep(500);
      try {
        const res = await fetch(`${base}/poems/${id}/`);
        seen = await res.text();
        if (res.status === 200 && seen.includes(poemTitle(id, 1))) break;
      } catch {
        // the server is restarting
      }
    }
    expect(seen).toContain(poemTitle(id, 1));
    expect(seen).not.toContain(`${poemTitle(id, 0)}<`);
    const index = await (await fetch(`${base}/`)).text();
    expect(index).toContain('12 poems');
    expect(index).toContain(poemTitle(data.ids[0], 1));
  }, 150_000);
});
