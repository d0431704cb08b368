// Proof of identity on the example site: the shared build (astro.config.mjs: the defaults, fragments on, a
// render thread per core) against a build with `fragments: false, workers: 0` (every <Reuse> rendered in place
// by Astro's own prerenderer), every output file compared byte for byte.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'astro';
import poemCache from 'astro-poem-cache';
import { lastBuildStats, type RenderStats } from '../integration/build-stats.ts';
import { poemCacheOptions } from '../example-site/poem-cache-options.ts';
import { listFiles } from './support/fixture-site.ts';
import { acquireSite, releaseSite, SITE, type BuiltSite } from './support/site.ts';

describe('example site: fragments on (defaults) vs fragments: false, workers: 0', () => {
  let site: BuiltSite;
  let referenceDir: string;
  let reference: RenderStats;

  beforeAll(async () => {
    site = await acquireSite('fragments');
    referenceDir = join(site.dir, 'reference');
    // astro.config.mjs with fragments: false, workers: 0, its own output and cache directories.
    await build({
      configFile: false,
      root: SITE,
      srcDir: join(SITE, 'src'),
      publicDir: join(SITE, 'public'),
      outDir: referenceDir,
      cacheDir: join(site.dir, 'reference-astro'),
      build: { inlineStylesheets: 'never' },
      logLevel: 'warn',
      integrations: [poemCache({ ...poemCacheOptions, fragments: false, workers: 0 })],
    });
    reference = lastBuildStats()!;
  }, 20 * 60_000);
  afterAll(() => releaseSite(site, 'fragments'));

  it(
    'writes every file byte for byte the same',
    () => {
      expect(reference.mode).toBe('astro');
      expect(reference.fragments).toBeUndefined();
      const a = listFiles(site.outDir);
      expect(a).toEqual(listFiles(referenceDir));
      expect(a.filter((f) => f.endsWith('index.html')).length).toBe(site.pages);
      let differ = 0;
      for (const f of a) if (!readFileSync(join(site.outDir, f)).equals(readFileSync(join(referenceDir, f)))) differ++;
      expect(differ, `${differ} of ${a.length} files differ`).toBe(0);
    },
    10 * 60_000,
  );

  it('rendered each poem once for the whole build (the shared store) and reused it on every other page', () => {
    // The build's one summary line.
    const summary = /worker thread\(s\); fragments \(<Reuse>\): (\d+) rendered once, (\d+) uses reused them, (\d+) /;
    const m = summary.exec(site.log);
    expect(m, site.log.slice(-3000)).not.toBeNull();
    const [rendered, reused, inline] = [Number(m![1]), Number(m![2]), Number(m![3])];
    const poems = Number(/\((\d+) poems, /.exec(site.log)?.[1]);
    expect(poems).toBeGreaterThan(0);
    expect(inline).toBe(0);
    expect(rendered).toBe(poems);
    // 101 entries on each similar/different page: far more uses than poems.
    expect(rendered + reused).toBeGreaterThan(poems * 100);
  });
});
