// astro-poem-cache: the Astro integration.
//   import poemCache from 'astro-poem-cache';
//   export default defineConfig({ integrations: [poemCache({ poems: 'data/poems.json', similarity: '…' })] });
// Pages: import { getCache, pageSize, maxPagesPerPoem, cacheFile } from 'virtual:poem-cache';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AstroIntegration, AstroIntegrationLogger } from 'astro';
import type { Plugin } from 'vite';
import { openCache } from '../cache/reader.ts';
import { publishToShm, releaseShm, SHM_ENV, sweepStaleShm } from '../cache/shm.ts';
import { ensureCache } from './convert.ts';
import { BuildFragments } from './fragment-build.ts';
import { cacheIdentity } from './fragments.ts';
import { checkOptions, resolveOptions, type PoemCacheOptions, type ResolvedOptions } from './options.ts';
import { describePss, readPss } from './pss.ts';
import { threadCpuMs } from './worker.ts';
import { createWorkerPrerenderer, startRenderPool, tasksPerWorker, type RenderPool, type RenderStats } from './prerenderer.ts';
import { poemCacheVitePlugin, READER_SPECIFIER, VIRTUAL_TYPES } from './virtual.ts';

const EXT = extname(fileURLToPath(import.meta.url)); // .ts in this repository, .js installed
const READER_FILE = fileURLToPath(new URL(`../cache/reader${EXT}`, import.meta.url));
const NATIVE_FILE = fileURLToPath(new URL(`../native/index${EXT}`, import.meta.url));

export type { PoemCacheOptions } from './options.ts';
export { PoemCacheOptionError } from './options.ts';
export type { RenderStats } from './prerenderer.ts';

const PACKAGE = 'astro-poem-cache';
const PRERENDER_ENTRY_PREFIX = 'prerender-entry';

// State that must survive `astro dev` restarts (integration modules are not re-evaluated): keyed on globalThis.
interface SharedState {
  /** Conversions in flight, per cache file (a restart while converting waits for the same run). */
  converting: Map<string, Promise<unknown>>;
  /** Stats of every build in this process, newest last. */
  builds: RenderStats[];
}
const STATE_KEY = Symbol.for('astro-poem-cache:state');
function shared(): SharedState {
  const g = globalThis as { [STATE_KEY]?: SharedState };
  return (g[STATE_KEY] ??= { converting: new Map(), builds: [] });
}

/** Render statistics of the last `astro build` in this process (for tests and tooling). */
export function lastBuildStats(): RenderStats | undefined {
  const b = shared().builds;
  return b[b.length - 1];
}

/** Converts if stale (one run per cache file at a time), then opens the cache on this thread. */
async function prepare(r: ResolvedOptions, logger: AstroIntegrationLogger): Promise<void> {
  const state = shared();
  let run = state.converting.get(r.cacheFile);
  if (!run) {
    run = ensureCache(r, logger).finally(() => state.converting.delete(r.cacheFile));
    state.converting.set(r.cacheFile, run);
  }
  await run;
  // openCache is keyed by path + inode + size + mtime: a converted (renamed-in) file is a new reader.
  openCache(r.cacheFile);
}

export function poemCache(options: PoemCacheOptions): AstroIntegration {
  // Types and ranges now (a wrong option fails when the config is loaded); files once the root is known.
  const checked = checkOptions(options);
  let resolved: ResolvedOptions | undefined;
  let prerenderEntry: string | undefined;
  let bundle: RenderStats['bundle'];
  let concurrency = 1;
  let adapterName: string | undefined;
  let trailingSlash: 'always' | 'never' | 'ignore' = 'ignore';
  let pool: RenderPool | undefined;
  let fragments: BuildFragments | undefined;
  // share: 'shm': the segment of the build in progress (released at build:done, on exit and on signals).
  let shmName: string | undefined;
  const releaseSegment = () => {
    if (shmName === undefined) return;
    releaseShm(shmName);
    shmName = undefined;
    delete process.env[SHM_ENV];
  };
  const need = (): ResolvedOptions => {
    if (!resolved) throw new Error('poemCache: used before astro:config:setup');
    return resolved;
  };

  // Captures the file name of Astro's built prerender entry: the worker prerenderer's workers import it.
  const entryCapture: Plugin = {
    name: 'astro-poem-cache:prerender-entry',
    apply: 'build',
    writeBundle(outputOptions, out) {
      const env = (this as { environment?: { name?: string } }).environment?.name;
      if (env !== undefined && env !== 'prerender') return;
      const check = { readerImports: 0, readerBundled: false };
      for (const chunk of Object.values(out)) {
        if (chunk.type !== 'chunk') continue;
        if (chunk.isEntry && chunk.fileName.startsWith(PRERENDER_ENTRY_PREFIX) && outputOptions.dir) {
          prerenderEntry = join(outputOptions.dir, chunk.fileName);
        }
        if (chunk.imports.includes(READER_SPECIFIER)) check.readerImports++;
        if (chunk.moduleIds.some((id) => id === READER_FILE || id === NATIVE_FILE)) check.readerBundled = true;
      }
      bundle = check;
      if (check.readerBundled) {
        this.warn(`the cache reader was bundled into the prerender chunks; the native addon may not load from there (is "${PACKAGE}" in ssr.noExternal?)`);
      }
    },
  };

  return {
    name: PACKAGE,
    hooks: {
      'astro:config:setup': ({ config, updateConfig, addWatchFile, logger }) => {
        resolved = resolveOptions(checked, config.root, config.cacheDir);
        trailingSlash = config.trailingSlash;
        for (const input of resolved.inputs) addWatchFile(input.file);
        const r = resolved;
        updateConfig({
          // Enough pages in flight to keep every worker busy: Astro awaits render() up to build.concurrency
          // pages at once (default 1, which would serialize the pool). A higher user setting is kept.
          ...(r.workers > 0 && config.build.concurrency < r.workers * 2 * tasksPerWorker()
            ? { build: { concurrency: r.workers * 2 * tasksPerWorker() } }
            : {}),
          vite: {
            plugins: [
              poemCacheVitePlugin(() => ({ cacheFile: r.cacheFile, pageSize: r.pageSize, maxPagesPerPoem: r.maxPagesPerPoem, share: r.share })),
              entryCapture,
            ],
            // The reader and the native loader must be loaded by Node at run time, not bundled into page
            // chunks (native/index.ts finds poem_cache.node relative to its own file).
            ssr: { external: [PACKAGE] },
          },
        });
        logger.debug(`cache file ${r.cacheFile}; inputs ${r.inputs.map((i) => `${i.role}=${i.file}`).join(', ')}`);
      },
      'astro:config:done': ({ injectTypes, config }) => {
        concurrency = config.build.concurrency;
        adapterName = config.adapter?.name;
        injectTypes({ filename: 'virtual-poem-cache.d.ts', content: VIRTUAL_TYPES });
      },
      'astro:server:setup': async ({ logger }) => {
        await prepare(need(), logger);
      },
      'astro:build:start': async ({ logger, setPrerenderer }) => {
        const r = need();
        await prepare(r, logger);
        // share: 'shm' (builds only): publish before any render thread starts; threads inherit the name in
        // their copy of process.env, and getCache() opens the segment. A failed earlier build of this process
        // (no build:done) left its segment: release it now.
        releaseSegment();
        if (r.share === 'shm') {
          const swept = sweepStaleShm();
          if (swept.length) logger.info(`removed ${swept.length} shared-memory segment(s) left by build(s) that were killed: ${swept.join(', ')}`);
          shmName = publishToShm(r.cacheFile).name;
          process.env[SHM_ENV] = shmName;
          logger.info(`cache published as shared memory /dev/shm/${shmName} (mode 0600; unlinked at build end, on exit and on SIGINT/SIGTERM)`);
        } else {
          delete process.env[SHM_ENV]; // share: 'file': render threads must not pick up an inherited name
        }
        const stats: RenderStats = { mode: 'astro', workers: r.workers, pages: 0, pagesByThread: {}, wallMs: 0, concurrency };
        shared().builds.push(stats);
        fragments?.stopMainThread();
        fragments = r.fragments
          ? new BuildFragments(shmName ? `shm:${shmName}` : cacheIdentity(r.cacheFile), openCache(r.cacheFile).count, (m) => logger.info(m))
          : undefined;
        const f = fragments;
        if (r.workers > 0 && typeof setPrerenderer !== 'function') {
          stats.fallbackReason = 'this Astro version has no setPrerenderer hook';
          logger.warn(`workers: ${r.workers} ignored — this Astro version has no setPrerenderer in astro:build:start; pages are rendered by Astro's own prerenderer`);
          return;
        }
        if (r.workers > 0 && adapterName) {
          // With an adapter, prerendering belongs to it (it may bring its own prerenderer, and Astro builds
          // the default prerender entry only when no custom prerenderer replaces an adapter's).
          stats.fallbackReason = `the adapter ${adapterName} prerenders pages`;
          logger.warn(`workers: ${r.workers} ignored — the adapter ${adapterName} prerenders pages; the worker prerenderer is for static builds without an adapter`);
          return;
        }
        if (r.workers === 0) {
          logger.info('workers: 0 — pages are rendered by Astro\'s own prerenderer on the main thread');
          const started = { t0: 0, cpu0: -1 };
          setPrerenderer((def) => ({
            ...def,
            name: 'astro-poem-cache:counting-default',
            async setup() {
              started.t0 = performance.now();
              started.cpu0 = threadCpuMs();
              f?.startMainThread();
              await def.setup?.();
            },
            getStaticPaths: () => def.getStaticPaths(),
            async render(request, o) {
              const res = await (f ? f.render(request, () => def.render(request, o)) : def.render(request, o));
              stats.pages++;
              stats.pagesByThread[0] = (stats.pagesByThread[0] ?? 0) + 1;
              return res;
            },
            async teardown() {
              stats.wallMs = performance.now() - started.t0;
              if (started.cpu0 >= 0) stats.mainCpuMs = threadCpuMs() - started.cpu0;
              stats.pss = readPss(r.cacheFile);
              f?.stopMainThread();
              await def.teardown?.();
            },
          }));
          return;
        }
        // The render threads start now and map the cache while Vite builds; they import the prerender entry
        // at prerender setup (it is written, manifest included, only just before).
        pool = startRenderPool(r.workers, r.cacheFile, f);
        const p = pool;
        setPrerenderer((def) =>
          createWorkerPrerenderer(def, {
            pool: p,
            workers: r.workers,
            cacheFile: r.cacheFile,
            trailingSlash,
            logger,
            getEntry: () => prerenderEntry,
            stats,
            fragments: f,
          }),
        );
      },
      'astro:build:done': async ({ logger }) => {
        // Normally gone after prerendering; still here if Astro had no static page to render.
        try {
          await pool?.destroy();
        } finally {
          pool = undefined;
          releaseSegment();
        }
        fragments?.stopMainThread();
        const stats = lastBuildStats();
        if (!stats) return;
        stats.bundle = bundle;
        if (fragments) stats.fragments = fragments.summary();
        fragments = undefined;
        const fr = stats.fragments;
        if (fr && fr.rendered + fr.reused + fr.inline > 0) {
          const where = fr.store === 'shared' ? 'in one shared-memory store' : `in per-thread ${fr.store} stores`;
          logger.info(
            `fragments (<Reuse>): ${fr.rendered} rendered once (${(fr.bytes / 1048576).toFixed(1)} MB ${where}, part of the process PSS), ` +
              `${fr.reused} uses reused them, ${fr.inline} rendered on their page`,
          );
        }
        const by = Object.entries(stats.pagesByThread)
          .map(([t, n]) => `${t === '0' ? 'main' : `thread ${t}`}: ${n}`)
          .join(', ');
        if (stats.pages > 0) {
          logger.info(
            `rendered ${stats.pages} page(s) in ${(stats.wallMs / 1000).toFixed(2)} s wall time with ${stats.mode === 'workers' ? `${stats.workers} worker thread(s) (pool start ${((stats.setupMs ?? 0) / 1000).toFixed(2)} s)` : "Astro's prerenderer (main thread)"}${by ? ` [${by}]` : ''}`,
          );
        }
        if (stats.pages > 0 && stats.mainCpuMs !== undefined) {
          const per = (ms: number, n: number) => `${(ms / 1000).toFixed(2)} s (${(ms / Math.max(1, n)).toFixed(2)} ms/page)`;
          const workers = Object.entries(stats.workerCpuMs ?? {})
            .map(([t, ms]) => `thread ${t} ${per(ms, stats.pagesByThread[Number(t)] ?? 0)}`);
          logger.info(`CPU time while rendering: main thread ${per(stats.mainCpuMs, stats.pages)}${workers.length ? `; ${workers.join(', ')}` : ''}`);
        }
        stats.pss ??= readPss(need().cacheFile);
        if (stats.pss) logger.info(describePss(stats.pss, stats.mode === 'workers' ? stats.workers : 0));
        if (stats.workerHeap) {
          const heaps = Object.entries(stats.workerHeap).map(([t, b]) => `thread ${t} ${(b / 1048576).toFixed(1)} MB`);
          logger.info(`per-worker V8 heap in use after its last page (each thread's own JS heap; the cache is outside it, mapped): ${heaps.join(', ')}`);
        }
      },
    },
  };
}

export default poemCache;

/** The cache file path a poemCache() instance would use for a project root (default cacheDir node_modules/.astro). */
export function defaultCacheFile(root: string | URL): string {
  const r = root instanceof URL ? fileURLToPath(root) : root;
  return join(r, 'node_modules', '.astro', 'poem-cache', 'poems.cache');
}
