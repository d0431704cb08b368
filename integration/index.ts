// astro-poem-cache: the Astro integration.
//   import poemCache from 'astro-poem-cache';
//   export default defineConfig({ integrations: [poemCache({ poems: 'data/poems.json', similarity: '…' })] });
// Pages: import { getCache, pageSize, maxPagesPerPoem, cacheFile, Reuse } from 'virtual:poem-cache';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AstroIntegration } from 'astro';
import { openCache } from '../cache/reader.ts';
import { SHM_ENV } from '../cache/shm.ts';
import { reportBuild, startBuildStats, type RenderStats } from './build-stats.ts';
import { prepare } from './convert.ts';
import { captureEntry } from './entry-capture.ts';
import { BuildFragments } from './fragment-build.ts';
import { cacheIdentity, type FragmentStoreKind } from './fragments.ts';
import { checkOptions, resolveOptions, type PoemCacheOptions, type ResolvedOptions } from './options.ts';
import { createCountingPrerenderer, createWorkerPrerenderer } from './prerenderer.ts';
import { readPss } from './pss.ts';
import { RenderPool } from './render-pool.ts';
import { BuildSegment } from './shm-segment.ts';
import { PACKAGE, poemCacheVitePlugin, VIRTUAL_TYPES } from './virtual.ts';

export type { PoemCacheOptions } from './options.ts';
export { PoemCacheOptionError } from './options.ts';

const EXT = extname(fileURLToPath(import.meta.url)); // .ts in this repository, .js installed
const READER_FILES = ['../cache/reader', '../native/index'].map((f) =>
  fileURLToPath(new URL(`${f}${EXT}`, import.meta.url)),
);

/** Pages in flight per worker (its awaits overlap), twice over in build.concurrency (one batch queued). */
const TASKS_PER_WORKER = 4;

/** @internal Test hooks and tuning that tests pass as poemCache()'s second argument; not user options. */
interface Internals {
  /** Every render thread fails at start (the one-warning fallback). */
  failWorkerStart?: boolean;
  /** Pages in flight per worker (default 4). */
  tasksPerWorker?: number;
  /** Benchmarks: the fragment store ('shared' by default; 'thread' and 'strings': the designs measured against it). */
  fragmentStore?: FragmentStoreKind;
}

export function poemCache(options: PoemCacheOptions, internals: Internals = {}): AstroIntegration {
  // Types and ranges now (a wrong option fails when the config is loaded); files once the root is known.
  const checked = checkOptions(options);
  const inFlight = (internals.tasksPerWorker ?? TASKS_PER_WORKER) * 2;
  const capture = captureEntry(READER_FILES);
  const segment = new BuildSegment();
  let resolved: ResolvedOptions | undefined;
  let concurrency = 1;
  let adapterName: string | undefined;
  let trailingSlash: 'always' | 'never' | 'ignore' = 'ignore';
  let pool: RenderPool | undefined;
  let stats: RenderStats | undefined;
  let fragments: BuildFragments | undefined;
  const need = (): ResolvedOptions => {
    if (!resolved) throw new Error('poemCache: used before astro:config:setup');
    return resolved;
  };

  return {
    name: PACKAGE,
    hooks: {
      'astro:config:setup': ({ config, updateConfig, addWatchFile, logger }) => {
        const r = (resolved = resolveOptions(checked, config.root, config.cacheDir));
        trailingSlash = config.trailingSlash;
        for (const input of r.inputs) addWatchFile(input.file);
        // Astro awaits render() for up to build.concurrency pages at once (default 1, which would serialize
        // the pool): enough to keep every worker busy. A higher user setting is kept.
        const raise = r.workers > 0 && config.build.concurrency < r.workers * inFlight;
        updateConfig({
          ...(raise ? { build: { concurrency: r.workers * inFlight } } : {}),
          vite: {
            plugins: [poemCacheVitePlugin(() => r), capture.plugin],
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
        segment.start(r.share, r.cacheFile, logger);
        const s = (stats = startBuildStats(r.workers, concurrency));
        const ignored = (reason: string) => {
          s.fallbackReason = reason;
          logger.warn(`workers: ${r.workers} ignored — ${reason}; pages are rendered by Astro's own prerenderer`);
        };
        if (r.workers > 0 && typeof setPrerenderer !== 'function') {
          return ignored('this Astro version has no setPrerenderer hook in astro:build:start');
        }
        if (r.workers > 0 && adapterName) {
          // With an adapter, prerendering belongs to it (it may bring its own prerenderer, and Astro builds
          // the default prerender entry only when no custom prerenderer replaces an adapter's).
          return ignored(`the adapter ${adapterName} prerenders pages`);
        }
        // <Reuse> fragments of this build: they belong to the cache it renders from (the file as converted, or
        // its shared-memory copy) and to this build only.
        fragments?.stopMainThread();
        const shm = process.env[SHM_ENV];
        const f = (fragments = r.fragments
          ? new BuildFragments(
              shm ? `shm:${shm}` : cacheIdentity(r.cacheFile),
              openCache(r.cacheFile).count,
              (m) => logger.info(m),
              internals.fragmentStore,
            )
          : undefined);
        if (r.workers === 0) {
          setPrerenderer((def) => createCountingPrerenderer(def, s, r.cacheFile, f));
          return;
        }
        // The render threads start now and map the cache while Vite builds; they import the prerender entry
        // at prerender setup (it is written, manifest included, only just before).
        const failStart = internals.failWorkerStart;
        const p = (pool = new RenderPool({ workers: r.workers, cacheFile: r.cacheFile, failStart, fragments: f }));
        setPrerenderer((def) =>
          createWorkerPrerenderer(def, {
            pool: p,
            workers: r.workers,
            cacheFile: r.cacheFile,
            trailingSlash,
            logger,
            getEntry: capture.entry,
            stats: s,
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
          segment.release();
        }
        const f = fragments;
        fragments = undefined;
        f?.stopMainThread();
        if (!stats) return;
        if (f) stats.fragments ??= f.summary(); // set at prerender teardown; here if there was none
        stats.bundle = capture.bundle();
        stats.pss ??= readPss(need().cacheFile);
        reportBuild(stats, logger);
        stats = undefined;
      },
    },
  };
}

export default poemCache;
