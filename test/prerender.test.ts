// Real `astro build`s of test/fixtures/site: worker prerenderer (workers: 2) vs Astro's own (workers: 0),
// byte-identical output, the worker pool really rendered, and the one-warning fallback.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'astro';
import poemCache from 'astro-poem-cache';
import { lastBuildStats, type RenderStats } from '../integration/build-stats.ts';
import { fixtureInputs, listFiles } from './support/fixture-site.ts';
import { poemTitle, writeFixtureData, type FixtureData } from './fixtures/site/make-data.ts';
import { native, requireNative } from './support/native.ts';

const root = fileURLToPath(new URL('./fixtures/site/', import.meta.url));
const dataDir = join(root, 'data-prerender');
let data: FixtureData;
const PAGES = 2 + 24 + 24 * 5;

interface LogLine {
  level: string;
  label: string | null;
  message: string;
}

type Internals = Parameters<typeof poemCache>[1];

async function buildSite(
  name: string,
  workers: number,
  env: Record<string, string> = {},
  internals: Internals = {},
): Promise<{ dir: string; stats: RenderStats; logs: LogLine[]; seconds: number }> {
  const outDir = join(root, `dist-${name}`);
  rmSync(outDir, { recursive: true, force: true });
  const logs: LogLine[] = [];
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const t0 = performance.now();
  try {
    await build({
      root,
      configFile: false,
      outDir,
      logLevel: 'info',
      integrations: [poemCache({ ...fixtureInputs('prerender'), workers, pageSize: 5 }, internals)],
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const stats = lastBuildStats()!;
  return { dir: outDir, stats, logs, seconds };
}

/** Runs fn with every chunk written to stdout/stderr (worker threads' output included) also collected. */
async function captured<T>(fn: () => Promise<T>): Promise<{ result: T; chunks: string[] }> {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((s) => s.write.bind(s));
  streams.forEach((s, i) => {
    s.write = ((chunk: unknown, ...rest: unknown[]) => {
      chunks.push(String(chunk));
      return (writes[i] as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof s.write;
  });
  try {
    return { result: await fn(), chunks };
  } finally {
    streams.forEach((s, i) => {
      s.write = writes[i];
    });
  }
}

const results: Record<string, Awaited<ReturnType<typeof buildSite>>> = {};

describe('astro build of the fixture site', () => {
  beforeAll(async () => {
    data = writeFixtureData(dataDir, 24);
    rmSync(join(root, '.cache-prerender'), { recursive: true, force: true });
  });
  afterAll(() => {
    for (const name of ['w2', 'w0', 'fallback']) rmSync(join(root, `dist-${name}`), { recursive: true, force: true });
  });

  it('renders every page in worker threads (workers: 2)', async () => {
    const { result: r, chunks } = await captured(() => buildSite('w2', 2));
    results.w2 = r;
    // Pages of a route wait for its first page in each thread, so getStaticPaths runs once per thread and route.
    expect(chunks.join('')).not.toContain('route cache overwritten');
    expect(r.stats.mode).toBe('workers');
    expect(r.stats.fallbackReason).toBeUndefined();
    // Only about.astro (an optimized image: main-thread build state) is rendered on the main thread.
    expect(r.stats.pagesByThread[0]).toBe(1);
    const threads = Object.keys(r.stats.pagesByThread)
      .map(Number)
      .filter((t) => t !== 0);
    expect(threads.length).toBeGreaterThanOrEqual(1);
    expect(threads.length).toBeLessThanOrEqual(2);
    // index + about + 24 poems + similar pages (23 neighbours / 5 per page = 5 pages each)
    expect(r.stats.pages).toBe(PAGES);
    const about = readFileSync(join(r.dir, 'about', 'index.html'), 'utf8');
    const img = /<img src="(\/_astro\/dot\.[^"]+\.webp)"/.exec(about);
    expect(img, about).not.toBeNull();
    expect(existsSync(join(r.dir, img![1]))).toBe(true);
    const html = readFileSync(join(r.dir, 'poems', String(data.ids[3]), 'index.html'), 'utf8');
    expect(html).toContain(poemTitle(data.ids[3]));
    expect(html).toMatch(/<style>|<link rel="stylesheet"/);
    expect(html).toContain('<script type="module"');
    // Each worker mapped the cache itself, through the native addon when it is built.
    expect(r.stats.workerCache?.length).toBe(2);
    for (const w of r.stats.workerCache!) {
      expect(w.rows).toBe(24);
      expect(['mmap', 'memory']).toContain(w.backing);
    }
    for (const t of threads) expect(r.stats.workerHeap?.[t]).toBeGreaterThan(1 << 20);
    // Through the addon whenever this process has it, and always in CI (POEM_CACHE_REQUIRE_NATIVE=1).
    if (native || requireNative) expect(r.stats.workerCache!.map((w) => w.backing)).toEqual(['mmap', 'mmap']);
    else console.log("prerender.test: workers' mmap not checked: native addon not available");
    // PSS at teardown, threads still running: the process total, and the cache mapped by the main thread
    // (prepare() at build start) and by each worker (here also by the reader instance the main thread's page
    // chunk loads outside vitest's module graph).
    if (!existsSync('/proc/self/smaps_rollup')) {
      console.log('prerender.test: PSS not checked: no /proc/self/smaps_rollup on this system');
    } else {
      expect(r.stats.pss?.processKb).toBeGreaterThan(0);
      if (!native && !requireNative) {
        console.log(
          'prerender.test: cache mappings not checked: native addon not available (the fallback reads the cache into ' +
            'memory)',
        );
      } else {
        expect(r.stats.pss!.cacheMappings).toBeGreaterThanOrEqual(3);
        expect(r.stats.pss!.cacheKb).toBeGreaterThan(0);
      }
    }
    console.log(
      `workers: 2 build ${r.seconds.toFixed(2)} s, render wall ${(r.stats.wallMs / 1000).toFixed(2)} s (pool start ` +
        `${((r.stats.setupMs ?? 0) / 1000).toFixed(2)} s), pages by thread ${JSON.stringify(r.stats.pagesByThread)}`,
    );
  }, 240_000);

  it("renders the same site with Astro's own prerenderer (workers: 0), byte for byte", async () => {
    const r = await buildSite('w0', 0);
    results.w0 = r;
    expect(r.stats.mode).toBe('astro');
    expect(Object.keys(r.stats.pagesByThread)).toEqual(['0']);
    console.log(`workers: 0 build ${r.seconds.toFixed(2)} s, render wall ${(r.stats.wallMs / 1000).toFixed(2)} s`);
    const a = listFiles(results.w2.dir);
    const b = listFiles(r.dir);
    expect(a).toEqual(b);
    expect(a.filter((f) => f.endsWith('.html')).length).toBe(PAGES);
    for (const f of a) {
      const x = readFileSync(join(results.w2.dir, f));
      const y = readFileSync(join(r.dir, f));
      if (!x.equals(y)) expect.fail(`${f} differs between the workers: 2 and workers: 0 builds`);
    }
  }, 240_000);

  it('falls back to Astro with one warning when workers cannot start, and the build is still correct', async () => {
    const { result: r, chunks } = await captured(() => buildSite('fallback', 2, {}, { failWorkerStart: true }));
    const warn = chunks.filter((s) => s.includes('falling back'));
    expect(r.stats.mode).toBe('astro');
    expect(r.stats.fallbackReason).toMatch(/failStart test hook/);
    expect(warn.length).toBe(1);
    const a = listFiles(results.w0.dir);
    expect(listFiles(r.dir)).toEqual(a);
    for (const f of a) {
      if (!readFileSync(join(results.w0.dir, f)).equals(readFileSync(join(r.dir, f))))
        expect.fail(`${f} differs in the fallback build`);
    }
  }, 240_000);

  it('a page that throws in a worker fails the build with its error', async () => {
    const id = String(data.ids[7]);
    await expect(buildSite('error', 2, { POEM_FIXTURE_FAIL_ID: id })).rejects.toThrow(`fixture failure for poem ${id}`);
    rmSync(join(root, 'dist-error'), { recursive: true, force: true });
  }, 240_000);

  it('the built page chunks import the reader at run time instead of bundling it', () => {
    for (const r of [results.w2, results.w0]) {
      expect(r.stats.bundle?.readerImports).toBeGreaterThan(0);
      expect(r.stats.bundle?.readerBundled).toBe(false);
    }
  });
});
