// Builds the example site once per vitest run and shares the output between test files (site-build and
// browser tests run in separate forks). The first file to get here builds into a temp directory under a
// lock; the others wait for it. Output directories of earlier runs are removed once their run has ended,
// and the last consumer of this run removes its own.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { pidAlive as alive } from '../../cache/pid.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const SITE = join(REPO, 'example-site');
export const PIPELINE = join(SITE, 'data/pipeline');
// Inside the repo (in .cache/, git-ignored) on purpose: Astro puts the prerender bundle of a build whose
// outDir lies outside the working directory in <cwd>/.astro/.prerender, which concurrent builds share and
// clobber; with outDir inside the repo it goes to <outDir>/.prerender, private to this build. Not under
// node_modules/: the bundle imports 'astro-poem-cache/reader', a self-reference Node only resolves from
// inside the package's scope, which ends at a node_modules directory.
const BASE = join(REPO, '.cache/astro-poem-cache-site');
/** Test files that use the shared build; when all of them have released it, it is deleted. */
const CONSUMERS = ['site-build', 'browser', 'fragments'] as const;
export type Consumer = (typeof CONSUMERS)[number];

export interface BuiltSite {
  dir: string;
  outDir: string;
  /** Wall time of `astro build`. */
  buildMs: number;
  /** Number of index.html files written. */
  pages: number;
  log: string;
}

/** Why the site cannot be built here, or undefined when it can. */

/** Removes build directories whose vitest run has ended. */
function sweep(keep: string): void {
  if (!existsSync(BASE)) return;
  for (const name of readdirSync(BASE)) {
    const dir = join(BASE, name);
    if (dir === keep) continue;
    let owner = 0;
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')).pid;
    } catch {
      // No owner file: a directory being created right now, or debris; only remove it when old.
      try {
        if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue;
      } catch {
        continue;
      }
    }
    if (!owner || !alive(owner)) rmSync(dir, { recursive: true, force: true });
  }
}

function runBuild(outDir: string): Promise<{ code: number | null; log: string; ms: number }> {
  const args = ['build', '--outDir', outDir];
  // For building against another config while developing (e.g. a stub integration outside the repo).
  if (process.env.SITE_BUILD_CONFIG) args.push('--config', process.env.SITE_BUILD_CONFIG);
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(join(REPO, 'node_modules/.bin/astro'), args, {
      cwd: REPO,
      env: {
        ...process.env,
        PATH: `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}`,
        ASTRO_TELEMETRY_DISABLED: '1',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', fail);
    child.on('close', (code) =>
      done({ code, log: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }),
    );
  });
}

function countPages(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name === 'index.html') n++;
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds the site (or waits for the build another test file of this run started). */
export async function acquireSite(consumer: Consumer, timeoutMs = 15 * 60_000): Promise<BuiltSite> {
  // One build per vitest run: forks of a run share their parent (the vitest process); in a worker thread
  // (pool: threads) the process is the vitest process itself.
  const runPid = isMainThread ? process.ppid : process.pid;
  const dir = join(
    BASE,
    createHash('sha256')
      .update(`${runPid}:${REPO}:${process.env.SITE_BUILD_CONFIG ?? ''}`)
      .digest('hex')
      .slice(0, 16),
  );
  mkdirSync(BASE, { recursive: true });
  sweep(dir);
  const outDir = join(dir, 'dist');
  const result = join(dir, 'result.json');
  let builder = false;
  try {
    mkdirSync(dir);
    builder = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  mkdirSync(join(dir, 'users'), { recursive: true });
  writeFileSync(join(dir, 'users', consumer), String(process.pid));
  if (builder) {
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid: runPid }));
    const { code, log, ms } = await runBuild(outDir);
    const r =
      code === 0
        ? { ok: true, buildMs: ms, pages: countPages(outDir), log }
        : { ok: false, buildMs: ms, pages: 0, log: `astro build exited with ${code}\n${log}` };
    writeFileSync(result, JSON.stringify(r));
  }
  const t0 = Date.now();
  while (!existsSync(result)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for the site build in ${dir}`);
    await sleep(500);
  }
  const r = JSON.parse(readFileSync(result, 'utf8')) as { ok: boolean; buildMs: number; pages: number; log: string };
  if (!r.ok) throw new Error(r.log.slice(-6000));
  return { dir, outDir, buildMs: r.buildMs, pages: r.pages, log: r.log };
}

/** Marks this consumer done; the last one removes the build output. */
export function releaseSite(site: BuiltSite | undefined, consumer: Consumer): void {
  if (!site || process.env.KEEP_SITE_BUILD) return;
  const users = join(site.dir, 'users');
  writeFileSync(join(users, `${consumer}.done`), '');
  if (CONSUMERS.every((c) => existsSync(join(users, `${c}.done`)))) rmSync(site.dir, { recursive: true, force: true });
}

/** The binary cache the integration wrote for the example site: astro.config.mjs sets cacheDir to
 *  example-site/node_modules/.astro, and the default cache file is defaultCacheFile(cacheDir) in
 *  integration/options.ts. */
export const integrationCacheFile = (): string => join(SITE, 'node_modules/.astro/poem-cache/poems.cache');

/** An independent conversion of the example inputs (converter/index.ts), for cross-checking. */
export async function convertInputs(out: string): Promise<string> {
  const { convertCaches } = await import('../../converter/index.ts');
  await convertCaches({
    poems: join(PIPELINE, 'poems.json'),
    similarity: join(PIPELINE, 'similarity_rankings_cache.json'),
    diversity: join(PIPELINE, 'diversity_cache.json'),
    out,
    force: true,
    workers: 0,
  });
  return out;
}

/** `/similar/12/3/` → the built file. */
export const pageFile = (outDir: string, urlPath: string): string => join(outDir, urlPath, 'index.html');
