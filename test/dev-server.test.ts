// `astro dev` on the fixture site: a poem page renders from the cache; changing an input file restarts
// the server, re-converts, and the page shows the new data.
import { rmSync } from 'node:fs';
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

interface Got {
  status: number;
  body: string;
  error?: unknown;
}

/**
 * GET, retried until `done` holds or `timeoutMs` passes; returns the last answer. A dev server that is starting
 * or restarting may answer non-200 (cold start: dependency optimizer) or drop the connection: a restart
 * (Vite's server.restart()) closes every request still in flight on the old server ("fetch failed: other
 * side closed"), and between closing the old server and listening again it refuses connections.
 */
async function getUntil(url: string, done: (g: Got) => boolean, timeoutMs: number): Promise<Got> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let got: Got;
    try {
      const res = await fetch(url);
      got = { status: res.status, body: await res.text() };
    } catch (error) {
      got = { status: 0, body: '', error };
    }
    if (done(got) || Date.now() > deadline) return got;
    await sleep(500);
  }
}

const describeGot = (g: Got) =>
  g.error ? `no answer: ${String((g.error as Error).cause ?? g.error)}` : g.body.slice(0, 2000);

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
    const page = `${base}/poems/${id}/`;
    const first = await getUntil(page, (g) => g.status === 200, 30_000);
    expect(first.status, describeGot(first)).toBe(200);
    expect(first.body).toContain(poemTitle(id, 0));
    expect(first.body).toContain('<ol class="similar"');

    // Change every title: the watched input file changes, Astro restarts, the integration re-converts.
    // The old server keeps serving while the new one converts (getCache() in dev reopens a replaced file, so
    // it may already show the new titles); the restart is over when the dev server has the new Vite
    // server's watcher (Vite's restart replaces the server's fields once the old server is closed).
    const oldWatcher = server.watcher;
    writeFixtureData(dataDir, 12, 1);
    const deadline = Date.now() + 90_000;
    while (server.watcher === oldWatcher && Date.now() < deadline) await sleep(100);
    expect(server.watcher, 'the dev server restarted after the input change').not.toBe(oldWatcher);
    const seen = await getUntil(page, (g) => g.status === 200 && g.body.includes(poemTitle(id, 1)), 30_000);
    expect(seen.body, describeGot(seen)).toContain(poemTitle(id, 1));
    expect(seen.body).not.toContain(`${poemTitle(id, 0)}<`);
    const index = await getUntil(`${base}/`, (g) => g.status === 200, 30_000);
    expect(index.status, describeGot(index)).toBe(200);
    expect(index.body).toContain('12 poems');
    expect(index.body).toContain(poemTitle(data.ids[0], 1));
  }, 150_000);
});
