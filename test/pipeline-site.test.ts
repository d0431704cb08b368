// The real user's data end to end: files in the pipeline's exact shapes (four categories whose ids restart,
// embeddings and rankings by 1-based poem_index, the diversity cache by 0-based position, no titles) convert
// with `poem-cache convert` and no key flags, and an `astro build` of the example site's pages with no key
// options renders every similar/different page with exactly the poems an independent computation from the
// JSON gives. Size: a few hundred poems by default; PIPELINE_SITE_SIZE=seed runs the real size (7,790 poems,
// full N-1 rankings and walks, one page per poem and order: a few minutes and ~3 GB for the JSON oracle).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILES, SIZES, writePipeline, type PipelineOptions } from '../scripts/pipeline/generate.ts';
import { tags } from './support/html.ts';

const REPO = resolve(import.meta.dirname, '..');
const SEED = process.env.PIPELINE_SITE_SIZE === 'seed';
const OPTIONS: PipelineOptions = SEED
  ? SIZES.seed
  : { poems: { fediverse: 230, fediverse_boost: 30, messages: 60, notes: 20 }, dim: 64, seed: 0x5eed0404 };
const MAX_PAGES = SEED ? 1 : Infinity;
const PAGE_SIZE = 100;

interface Poem {
  id: number;
  category: string;
  filepath: string;
  title?: string;
}

describe(
  `the pipeline's own shapes, end to end ` +
    `(${SEED ? 'seed size' : 'small; PIPELINE_SITE_SIZE=seed for the real size'})`,
  () => {
    let dir: string;
    let data: string;
    let build: { code: number | null; log: string };
    let poems: Poem[];

    beforeAll(async () => {
      mkdirSync(join(REPO, '.cache'), { recursive: true });
      // inside the repo: Astro keeps a build's prerender bundle under its outDir only when outDir is inside the cwd
      dir = mkdtempSync(join(REPO, '.cache', 'pipeline-site-'));
      data = join(dir, 'data');
      await writePipeline(data, OPTIONS);
      poems = JSON.parse(readFileSync(join(data, FILES.poems), 'utf8')).poems;
      const work = join(dir, 'site');
      build = await new Promise((done, fail) => {
        const child = spawn(
          join(REPO, 'node_modules/.bin/astro'),
          ['build', '--config', 'test/fixtures/pipeline-site/astro.config.mjs'],
          {
            cwd: REPO,
            env: {
              ...process.env,
              PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}`,
              ASTRO_TELEMETRY_DISABLED: '1',
              NO_COLOR: '1',
              PIPELINE_SITE_WORK: work,
              PIPELINE_SITE_DATA: data,
              PIPELINE_SITE_MAX_PAGES: String(MAX_PAGES === Infinity ? 'inf' : MAX_PAGES),
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        const out: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => out.push(c));
        child.on('error', fail);
        child.on('close', (code) => done({ code, log: Buffer.concat(out).toString('utf8') }));
      });
    }, 60 * 60_000);
    afterAll(() => {
      if (dir && !process.env.KEEP_PIPELINE_SITE) rmSync(dir, { recursive: true, force: true });
    });

    it('the data is the real shape: ids restart per category, no titles', () => {
      expect(new Set(poems.map((p) => p.category))).toEqual(
        new Set(['fediverse', 'fediverse_boost', 'messages', 'notes']),
      );
      const firstOf = (c: string) => poems.find((p) => p.category === c)!.id;
      expect([firstOf('messages'), firstOf('notes')]).toEqual([1, 1]);
      expect(poems.some((p) => p.title !== undefined)).toBe(false);
    });

    it(
      '`poem-cache convert` with no key flags converts, reading each file as the pipeline wrote it',
      () => {
        const out = join(dir, 'cli.cache');
        const inputs = (['poems', 'embeddings', 'similarity', 'diversity'] as const).flatMap((r) => [
          `--${r}`,
          join(data, FILES[r]),
        ]);
        const r = spawnSync(process.execPath, [join(REPO, 'bin/poem-cache.mjs'), 'convert', ...inputs, '--out', out], {
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^wrote .*: ${poems.length.toLocaleString('en-US')} rows`, 'm'));
        expect(r.stdout).toMatch(/^embeddings\s.*\sindex \(auto\)\s*$/m);
        expect(r.stdout).toMatch(/^similarity\s.*\sindex \(auto\)\s*$/m);
        expect(r.stdout).toMatch(/^diversity\s.*\sindex0 \(auto\)\s*$/m);
        const v = spawnSync(process.execPath, [join(REPO, 'bin/poem-cache.mjs'), 'verify', out], { encoding: 'utf8' });
        expect(v.status, v.stderr).toBe(0);
      },
      10 * 60_000,
    );

    it('`astro build` with no key options builds and logs how each file names poems', () => {
      expect(build.code, build.log.slice(-4000)).toBe(0);
      expect(build.log).toMatch(
        /embeddings\.json names poems by 1-based poem_index \(read from the data \(keys: auto\)\)/,
      );
      expect(build.log).toMatch(/similarity_rankings_cache\.json names poems by 1-based poem_index/);
      expect(build.log).toMatch(/diversity_cache\.json names poems by 0-based positions/);
    });

    it(
      'every similar and different page shows the poem, then the poems the JSON ranks for it',
      () => {
        expect(build.code).toBe(0);
        const rankings: Record<string, number[]> = JSON.parse(
          readFileSync(join(data, FILES.similarity), 'utf8'),
        ).rankings;
        const sequences: Record<string, number[]> = JSON.parse(
          readFileSync(join(data, FILES.diversity), 'utf8'),
        ).sequences;
        const dist = join(dir, 'site', 'dist');
        let pagesChecked = 0;
        for (const order of ['similar', 'different'] as const) {
          for (let i = 1; i <= poems.length; i++) {
            // independent of the cache: poem_index i's list straight from the files (1-based / 0-based)
            const ranked =
              order === 'similar' ? rankings[String(i)] : sequences[String(i - 1)].slice(1).map((p) => p + 1);
            const pages = Math.max(1, Math.min(Math.ceil(ranked.length / PAGE_SIZE), MAX_PAGES));
            expect(readdirSync(join(dist, order, String(i))).length, `/${order}/${i}/`).toBe(pages);
            for (let page = 1; page <= pages; page++) {
              const html = readFileSync(join(dist, order, String(i), String(page), 'index.html'), 'utf8');
              const shown = tags(html, 'article').map((t) => Number(t.attrs['data-poem-index']));
              expect(shown, `/${order}/${i}/${page}/`).toEqual([
                i,
                ...ranked.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE),
              ]);
              pagesChecked++;
            }
          }
        }
        // no title: each poem is headed by its file path and poem_index
        const one = readFileSync(join(dist, 'poem', '1', 'index.html'), 'utf8');
        expect(one).toContain(`<span class="path" lang="en">${poems[0].filepath}</span>`);
        console.log(`${poems.length} poems: ${pagesChecked} similar/different pages checked against the JSON`);
      },
      30 * 60_000,
    );
  },
);
