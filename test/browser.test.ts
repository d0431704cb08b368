// The built example site in real headless Chromium: navigate index → poem → similar/different poems and
// reading pages, compare what is shown with the cache, and fail on any console error, page error, failed
// request or HTTP error. Screenshots of a poem page and a similar page (desktop and mobile) go to /tmp.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openCache, type CacheReader } from '../cache/reader.ts';
import { acquireSite, integrationCacheFile, releaseSite, type BuiltSite } from './support/site.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = '/tmp';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install -y chromium)`;
if (skip) console.log(`browser tests skipped: ${skip}`);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** A tiny static server for the built site: /x/ → /x/index.html, /x → 301 /x/ when x is a directory. */
function serve(root: string): Promise<{ server: Server; base: string }> {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    try {
      if ((await stat(file)).isDirectory()) {
        if (!path.endsWith('/')) return void res.writeHead(301, { location: `${path}/` }).end();
        file = join(file, 'index.html');
      }
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': body.length,
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((done) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      done({ server, base: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    }),
  );
}

// WCAG relative luminance contrast of two CSS rgb()/rgba() colours.
function contrast(fg: string, bg: string): number {
  const parse = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
  const lum = (c: string) => {
    const [r, g, b] = parse(c).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}

describe.skipIf(skip !== undefined)('example site in Chromium', () => {
  let site: BuiltSite;
  let cache: CacheReader;
  let server: Server;
  let base: string;
  let context: BrowserContext;
  let userDataDir: string;
  const problems: string[] = [];

  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    return page;
  };
  const indexFromUrl = (url: string, kind: string) =>
    Number(new URL(url).pathname.match(new RegExp(`^/${kind}/(\\d+)/`))?.[1]);
  /** The heading text of a poem: its title, or its file path (no title), then its poem_index. */
  const headingOf = (row: number) => {
    const golden = cache.field('metadata.is_golden_poem', row) === true ? ' golden' : '';
    return `${cache.title(row) || String(cache.field('filepath', row))} #${cache.index(row)}${golden}`;
  };

  // A click that navigates returns once the new page is committed, not loaded: a check made then can read a
  // half-parsed document (seen under load: 4 of 100 entries). Each check waits for the load event first.

  /** The poem page shows the cache's name, text and category for that poem_index. */
  async function expectPoemPage(page: Page, index: number) {
    await page.waitForLoadState('load');
    const row = cache.rowOfIndex(index);
    expect(row, `poem ${index} in the cache`).toBeGreaterThanOrEqual(0);
    expect(new URL(page.url()).pathname).toBe(`/poem/${index}/`);
    const article = page.locator(`article[data-poem-index="${index}"]`);
    expect(await page.locator('h1').innerText()).toBe(headingOf(row));
    const warning = cache.field('content_warning', row);
    // a content warning keeps the text in a closed <details> until the reader opens it
    if (warning) {
      expect(await article.locator('.poem-text').isVisible()).toBe(false);
      await article.locator('details.cw > summary').click();
    }
    expect(await article.locator('.poem-text').innerText()).toBe(cache.text(row));
    expect(await article.locator('.meta').innerText()).toContain(
      cache.field('metadata.form', row) || cache.field('metadata.section', row) || '',
    );
    expect(await article.getAttribute('lang')).toBe(/[\u4e00-\u9fff]/.test(cache.text(row)) ? 'zh-Hant' : 'en');
  }

  /** A reading page shows the poem first, then the cache's order for its page, with each entry's text. */
  async function expectOrderPage(
    page: Page,
    order: 'similar' | 'different',
    index: number,
    pageNo: number,
    pageSize: number,
  ) {
    await page.waitForLoadState('load');
    const row = cache.rowOfIndex(index);
    const ranked = order === 'similar' ? [...cache.similar(row)] : [...cache.diversity(row)].slice(1);
    const want = ranked.slice((pageNo - 1) * pageSize, pageNo * pageSize).map((r) => cache.index(r));
    expect(new URL(page.url()).pathname).toBe(`/${order}/${index}/${pageNo}/`);
    const shown = await page
      .locator('article.entry')
      .evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.poemIndex)));
    expect(shown).toEqual([index, ...want]);
    for (const i of [0, 1, want.length]) {
      const r = cache.rowOfIndex(shown[i]);
      const entry = page.locator('article.entry').nth(i);
      expect(await entry.locator('h2').innerText()).toBe(headingOf(r));
      if (!cache.field('content_warning', r)) expect(await entry.locator('.poem-text').innerText()).toBe(cache.text(r));
    }
  }

  beforeAll(async () => {
    site = await acquireSite('browser');
    cache = openCache(integrationCacheFile());
    ({ server, base } = await serve(site.outDir));
    const { chromium } = await import('playwright-core');
    userDataDir = mkdtempSync(join(tmpdir(), 'poem-site-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
      viewport: { width: 1280, height: 900 },
    });
  }, 20 * 60_000);

  beforeEach(() => {
    problems.length = 0;
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    releaseSite(site, 'browser');
  });

  it('navigates index → poem → similar and different poems, showing the cache text', async () => {
    const page = watch(await context.newPage());
    await page.goto(`${base}/`);
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.locator('h1').count()).toBe(1);
    // The skip link is the first thing keyboard users reach.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('skip-link');

    for (const collection of ['tang300', 'psalms']) {
      await page.goto(`${base}/`);
      await page.locator(`#${collection} a[data-poem-index]`).nth(3).click();
      const index = indexFromUrl(page.url(), 'poem');
      await expectPoemPage(page, index);
      const row = cache.rowOfIndex(index);

      const similar = cache.index(cache.similar(row)[0]);
      await page.locator(`section[data-list="similar"] a[data-poem-index="${similar}"]`).click();
      await expectPoemPage(page, similar);
      await page.goBack();

      const different = cache.index(cache.diversity(row)[1]);
      await page.locator(`section[data-list="different"] a[data-poem-index="${different}"]`).click();
      await expectPoemPage(page, different);
    }
    // a poem with a content warning: its text opens on request
    const warned = Array.from({ length: cache.count }, (_, r) => r).find((r) => cache.field('content_warning', r))!;
    await page.goto(`${base}/poem/${cache.index(warned)}/`);
    await expectPoemPage(page, cache.index(warned));
    await page.close();
    expect(problems).toEqual([]);
  });

  it('pages through the similar and different reading pages', async () => {
    const page = watch(await context.newPage());
    const index = 6;
    const pageSize = 100;
    await page.goto(`${base}/poem/${index}/`);
    await page.locator('a[data-more="similar"]').click();
    await expectOrderPage(page, 'similar', index, 1, pageSize);
    await page.locator('a[rel="next"]').first().click();
    await expectOrderPage(page, 'similar', index, 2, pageSize);
    await page.locator('a[rel="prev"]').first().click();
    await expectOrderPage(page, 'similar', index, 1, pageSize);

    // From an entry on the similar page to that entry's own diversity order.
    const entry = Number(await page.locator('article.entry').nth(2).getAttribute('data-poem-index'));
    await page.locator('article.entry').nth(2).locator(`a[href="/different/${entry}/1/"]`).click();
    await expectOrderPage(page, 'different', entry, 1, pageSize);
    const last = await page.locator('nav.pager ol li').last().innerText();
    await page
      .locator('nav.pager')
      .first()
      .getByRole('link', { name: `Page ${last}` })
      .click();
    await expectOrderPage(page, 'different', entry, Number(last), pageSize);
    expect(await page.locator('a[rel="next"]').count()).toBe(0);
    await page.close();
    expect(problems).toEqual([]);
  });

  it('reads well: contrast, no horizontal scrolling on mobile, screenshots', async () => {
    const tang = 1;
    for (const [width, height, tag] of [
      [1280, 900, 'desktop'],
      [390, 844, 'mobile'],
    ] as const) {
      for (const scheme of ['light', 'dark'] as const) {
        const page = watch(await context.newPage());
        await page.setViewportSize({ width, height });
        await page.emulateMedia({ colorScheme: scheme });
        for (const [url, name] of [
          [`/poem/${tang}/`, 'poem'],
          [`/similar/${tang}/1/`, 'similar'],
          [`/different/${cache.count}/1/`, 'different'],
          ['/', 'index'],
        ]) {
          await page.goto(base + url);
          const overflow = await page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
          );
          expect(overflow, `${url} at ${width}px scrolls sideways`).toBeLessThanOrEqual(0);
          const colours = await page.evaluate(() => {
            const bg = getComputedStyle(document.body).backgroundColor;
            return [...document.querySelectorAll('h1, .poem-text, .meta, .lede, main a, .site-footer p')]
              .slice(0, 40)
              .map((e) => ({ sel: e.tagName + '.' + e.className, fg: getComputedStyle(e).color, bg }));
          });
          for (const c of colours)
            expect(contrast(c.fg, c.bg), `${scheme} ${url} ${c.sel} ${c.fg} on ${c.bg}`).toBeGreaterThanOrEqual(4.5);
          if (scheme === 'light' && (name === 'poem' || name === 'similar')) {
            await page.screenshot({ path: join(SHOTS, `poem-site-${name}-${tag}.png`) });
          }
        }
        await page.close();
      }
    }
    console.log(`screenshots: ${SHOTS}/poem-site-{poem,similar}-{desktop,mobile}.png`);
    expect(problems).toEqual([]);
  });
});
