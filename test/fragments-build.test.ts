// Real `astro build`s of test/fixtures/site, whose similar pages list poems as <Reuse of={Card} row={r} />
// (Card has a scoped style and a script): fragments rendered once and reused across both render threads give
// the same bytes as rendering every card in place on Astro's own prerenderer, file by file.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'astro';
import poemCache from 'astro-poem-cache';
import { lastBuildStats, type RenderStats } from '../integration/build-stats.ts';
import { writeFixtureData, type FixtureData } from './fixtures/site/make-data.ts';
import { fixtureInputs, listFiles } from './support/fixture-site.ts';

const root = fileURLToPath(new URL('./fixtures/site/', import.meta.url));
const POEMS = 24;
const PAGE_SIZE = 5;
let data: FixtureData;

type Built = { dir: string; stats: RenderStats };
async function buildSite(name: string, options: { workers: number; fragments?: boolean }): Promise<Built> {
  const outDir = join(root, `dist-${name}`);
  rmSync(outDir, { recursive: true, force: true });
  await build({
    root,
    configFile: false,
    outDir,
    logLevel: 'info',
    integrations: [poemCache({ ...fixtureInputs('fragments'), pageSize: PAGE_SIZE, ...options })],
  });
  return { dir: outDir, stats: lastBuildStats()! };
}

describe('fragments in a real build (fixture site)', () => {
  let reused: Awaited<ReturnType<typeof buildSite>>;
  let reference: Awaited<ReturnType<typeof buildSite>>;

  beforeAll(async () => {
    data = writeFixtureData(join(root, 'data-fragments'), POEMS);
    rmSync(join(root, '.cache-fragments'), { recursive: true, force: true });
    reused = await buildSite('fragments-w2', { workers: 2 });
    reference = await buildSite('fragments-off-w0', { workers: 0, fragments: false });
  }, 600_000);
  afterAll(() => {
    for (const name of ['fragments-w2', 'fragments-off-w0']) {
      rmSync(join(root, `dist-${name}`), { recursive: true, force: true });
    }
  });

  it("writes the same files, byte for byte, as rendering every card in place with Astro's own prerenderer", () => {
    const a = listFiles(reused.dir);
    expect(a).toEqual(listFiles(reference.dir));
    for (const f of a) {
      if (!readFileSync(join(reused.dir, f)).equals(readFileSync(join(reference.dir, f)))) expect.fail(`${f} differs`);
    }
    expect(reference.stats.fragments).toBeUndefined();
  });

  it('rendered each card once for the build and reused it in both render threads', () => {
    const s = reused.stats;
    expect(s.mode).toBe('workers');
    const threads = Object.keys(s.pagesByThread)
      .map(Number)
      .filter((t) => t !== 0);
    expect(threads).toHaveLength(2);
    const f = s.fragments!;
    expect(f.inline).toBe(0);
    // Every poem is on some similar page: one card per poem, each used on POEMS - 1 pages' lists.
    const uses = POEMS * (POEMS - 1);
    expect(f.rendered + f.reused).toBe(uses);
    if (f.store === 'shared') {
      expect(f.rendered).toBe(POEMS);
      expect(f.adopted).toBeGreaterThan(0); // cards one thread rendered, used by the other
    } else {
      expect(f.rendered).toBeLessThanOrEqual(POEMS * threads.length);
    }
    for (const t of threads) expect(f.byThread[t].rendered + f.byThread[t].reused).toBeGreaterThan(0);
  });

  it("prints the card's script once per page, at the first card, and keeps its scoped style", () => {
    const id = data.ids[0];
    const html = readFileSync(join(reused.dir, 'poems', String(id), 'similar', '1', 'index.html'), 'utf8');
    const cards = [...html.matchAll(/<span class="card" data-row="\d+" (data-astro-cid-[a-z0-9]+)/g)];
    expect(cards).toHaveLength(PAGE_SIZE);
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m.index!);
    // The layout's script and the card's (once, after the first card, before the second).
    expect(scripts).toHaveLength(2);
    expect(scripts.filter((at) => at > cards[0].index! && at < cards[1].index!)).toHaveLength(1);
    // The page's CSS (inlined or linked) has the card's scoped rule: the page imports Card itself.
    const css = [
      ...[...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]),
      ...[...html.matchAll(/<link rel="stylesheet" href="([^"]+)"/g)].map((m) =>
        readFileSync(join(reused.dir, m[1]), 'utf8'),
      ),
    ].join('');
    expect(css).toContain(`.card[${cards[0][1]}]{font-style:italic}`);
  });
});
