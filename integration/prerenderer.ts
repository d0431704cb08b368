// The prerenderers installed with Astro's `setPrerenderer` (function form: Astro's default prerenderer `def`
// stays available). The worker prerenderer: setup and getStaticPaths run on the main thread through `def`;
// render() sends { id, url, route key } to the least busy render thread (render-pool.ts), which renders with
// app.render (what renderForPrerender does) and sends the body back as a transferred ArrayBuffer that becomes
// the Response body without a copy (page-response.ts). Anything missing at setup -> one warning, `def`.
// The counting prerenderer (workers: 0) is `def` with the page count and timings of build-stats.ts. Both
// render pages on the main thread with the build's fragments (fragment-build.ts), when they are on.
import type { SerializedRouteData } from 'astro/app/manifest';
import type { AstroConfig, AstroIntegrationLogger, AstroPrerenderer, PrerenderResult, RouteData } from 'astro';
import { countPage, type RenderStats } from './build-stats.ts';
import type { BuildFragments } from './fragment-build.ts';
import { batchStdout } from './log-batch.ts';
import { PageResponse } from './page-response.ts';
import { NULL_BODY, routeKey, threadCpuMs, type RenderReply } from './protocol.ts';
import { readPss } from './pss.ts';
import { MainThreadOnly, type RenderPool } from './render-pool.ts';

type RenderOptions = Parameters<AstroPrerenderer['render']>[1];

export interface WorkerPrerendererOptions {
  /** The render threads, started at astro:build:start. */
  pool: RenderPool;
  workers: number;
  cacheFile: string;
  trailingSlash: AstroConfig['trailingSlash'];
  logger: AstroIntegrationLogger;
  /** The built prerender entry (captured from the prerender environment's bundle), if any. */
  getEntry: () => string | undefined;
  stats: RenderStats;
  /** Fragments of this build (pages rendered on the main thread use them too), when on. */
  fragments?: BuildFragments;
}

/** What this integration reads of Astro's default prerenderer (internal, pinned to Astro 7.3). */
interface DefaultPrerendererInternals {
  app?: {
    getOptions?: () => {
      allPages: Record<string, { key: string; styles?: unknown[] }>;
      settings: { scripts: { stage: string; content: string }[] };
    };
  };
}

interface RouteRef {
  key: string;
  serialized?: SerializedRouteData;
}

/** Astro's default prerenderer, counting pages and measuring wall and main-thread CPU time. */
export function createCountingPrerenderer(
  def: AstroPrerenderer,
  stats: RenderStats,
  cacheFile: string,
  fragments?: BuildFragments,
): AstroPrerenderer {
  let t0 = 0;
  let cpu0 = -1;
  return {
    ...def,
    name: 'astro-poem-cache:counting-default',
    async setup() {
      t0 = performance.now();
      cpu0 = threadCpuMs();
      fragments?.startMainThread();
      await def.setup?.();
    },
    getStaticPaths: () => def.getStaticPaths(),
    async render(request, options) {
      const render = () => def.render(request, options);
      const res = await (fragments ? fragments.render(request, render) : render());
      countPage(stats, 0);
      return res;
    },
    async teardown() {
      stats.wallMs = performance.now() - t0;
      if (cpu0 >= 0) stats.mainCpuMs = threadCpuMs() - cpu0;
      stats.pss = readPss(cacheFile);
      fragments?.stopMainThread();
      if (fragments) stats.fragments = fragments.summary();
      await def.teardown?.();
    },
  };
}

export function createWorkerPrerenderer(def: AstroPrerenderer, o: WorkerPrerendererOptions): AstroPrerenderer {
  const { stats, logger } = o;
  let pool: RenderPool | undefined = o.pool;
  let t0 = 0;
  let cpu0 = -1;
  /** Per worker thread: its CPU time at its first reply, minus that page's render time (≈ CPU at its first page). */
  const cpuFirst: Record<number, number> = {};
  let mainThreadNoted = false;
  let restoreStdout: (() => void) | undefined;
  // Pages sent to the threads and not settled: teardown waits for them.
  const inflight = new Set<Promise<unknown>>();
  let closing = false;
  /** Route keys every thread's manifest has (their own RouteData objects are used). */
  let workerRoutes = new Set<string>();
  // Per route, once: its key, and Astro's serialized form only for a route the threads' manifests lack
  // (made structured-clone safe through JSON the way adapters send it).
  const routes = new WeakMap<object, RouteRef>();
  const routeFor = async (route: RouteData): Promise<RouteRef> => {
    let r = routes.get(route);
    if (!r) {
      const key = routeKey(route);
      if (workerRoutes.has(key)) {
        r = { key };
      } else {
        const { serializeRouteData } = await import('astro/app/manifest');
        const serialized = serializeRouteData(route, o.trailingSlash);
        r = { key, serialized: JSON.parse(JSON.stringify(serialized)) as SerializedRouteData };
      }
      routes.set(route, r);
    }
    return r;
  };
  const onMainThread = async (request: Request, options: RenderOptions) => {
    const f = o.fragments;
    const r = await (f ? f.render(request, () => def.render(request, options)) : def.render(request, options));
    countPage(stats, 0);
    return r;
  };
  const received = (reply: RenderReply): Response | PrerenderResult => {
    const thread = reply.threadId;
    countPage(stats, thread);
    stats.workerRenderMs = (stats.workerRenderMs ?? 0) + reply.ms;
    (stats.workerHeap ??= {})[thread] = reply.heapUsed;
    if (reply.cpuMs >= 0) {
      cpuFirst[thread] ??= reply.cpuMs - reply.ms;
      (stats.workerCpuMs ??= {})[thread] = reply.cpuMs - cpuFirst[thread];
    }
    const init = { status: reply.status, statusText: reply.statusText, headers: reply.headers };
    const response =
      reply.body === null || NULL_BODY.has(reply.status)
        ? new Response(null, init)
        : new PageResponse(reply.body, init);
    // With the metadata, Astro's incremental build records the page and may skip it next time.
    return reply.metadata ? { response, metadata: reply.metadata } : response;
  };

  return {
    name: 'astro-poem-cache:worker-prerenderer',
    async setup() {
      t0 = performance.now();
      cpu0 = threadCpuMs();
      restoreStdout = batchStdout();
      o.fragments?.startMainThread();
      const entry = o.getEntry();
      // The threads import the entry while the main thread runs Astro's own setup.
      if (entry) pool?.loadEntry(entry);
      await def.setup?.();
      try {
        if (!pool) throw new Error('the render threads were not started');
        const app = (def as AstroPrerenderer & DefaultPrerendererInternals).app;
        if (!app || typeof app.getOptions !== 'function') {
          throw new Error(
            "Astro's default prerenderer exposes no app.getOptions() (an internal field this " +
              'integration reads; this Astro version changed it)',
          );
        }
        if (!entry) throw new Error('the built prerender entry was not found in the prerender bundle');
        const options = app.getOptions();
        const { hellos, routes: known } = await pool.sendHead({
          t: 'head',
          pages: Object.values(options.allPages).map((p) => [p.key, { styles: p.styles ?? [] }]),
          scripts: options.settings.scripts
            .filter((s) => s.stage === 'page' || s.stage === 'head-inline')
            .map((s) => ({ stage: s.stage, content: s.content })),
        });
        workerRoutes = known;
        stats.setupMs = performance.now() - t0;
        stats.workerCache = hellos.map((x) => ({ threadId: x.threadId, rows: x.rows, backing: x.backing }));
        stats.mode = 'workers';
        const p = hellos[0];
        const cache = `${p.rows} poems, ${p.backing}`;
        logger.debug(`rendering pages in ${o.workers} worker thread(s); each maps the cache itself (${cache})`);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        stats.mode = 'astro';
        stats.fallbackReason = reason;
        logger.warn(
          `cannot render in worker threads (${reason}); ` +
            "falling back to Astro's own prerenderer on the main thread",
        );
        const p = pool;
        pool = undefined;
        await p?.destroy();
      }
    },
    getStaticPaths: () => def.getStaticPaths(),
    async render(request, options) {
      if (!pool) return onMainThread(request, options);
      if (closing) {
        const page = new URL(request.url).pathname;
        throw new Error(`not rendering ${page}: the worker pool is shutting down (an earlier page failed)`);
      }
      const route = await routeFor(options.routeData);
      const task = pool.render(request.url, route.key, route.serialized, options.collectMetadata === true);
      inflight.add(task);
      try {
        return received(await task);
      } catch (err) {
        // Pages that need main-thread build state (optimized images) are rendered by Astro's prerenderer.
        if (!(err instanceof MainThreadOnly)) throw err;
        if (!mainThreadNoted) {
          mainThreadNoted = true;
          const first = new URL(request.url).pathname;
          logger.debug(`pages using astro:assets image optimization are rendered on the main thread (first: ${first})`);
        }
        return onMainThread(request, options);
      } finally {
        inflight.delete(task);
      }
    },
    collectStaticImages: def.collectStaticImages ? () => def.collectStaticImages!() : undefined,
    async teardown() {
      closing = true;
      try {
        await Promise.allSettled([...inflight]);
        stats.pss = readPss(o.cacheFile);
        const p = pool;
        pool = undefined;
        await p?.destroy();
      } finally {
        stats.wallMs = performance.now() - t0;
        if (cpu0 >= 0) stats.mainCpuMs = threadCpuMs() - cpu0;
        o.fragments?.stopMainThread();
        // Here, not at astro:build:done: other integrations' build:done hooks may read the statistics first.
        if (o.fragments) stats.fragments = o.fragments.summary();
        restoreStdout?.();
        await def.teardown?.();
      }
    },
  };
}
