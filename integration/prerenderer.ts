// The worker prerenderer, installed with Astro's public `setPrerenderer` hook (function form, so Astro's
// default prerenderer stays available). Setup and getStaticPaths run on the main thread through the default
// prerenderer; render() sends { url, serialized route } to a piscina pool whose workers import the same
// built prerender entry, open the cache themselves, render with renderForPrerender (astro/app) and send the
// body back as a transferred ArrayBuffer. Anything missing at setup -> one warning, Astro's prerenderer.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import type { SerializedRouteData } from 'astro/app/manifest';
import type { AstroConfig, AstroIntegrationLogger, AstroPrerenderer, RouteData } from 'astro';
import { readPss, type PssReport } from './pss.ts';
import type { PingReply, RenderReply, WorkerInit, WorkerTask } from './worker.ts';

/** Same marker as worker.ts (not imported: that module runs worker start-up code). */
const MAIN_THREAD_ONLY = 'ASTRO_POEM_CACHE_MAIN_THREAD_ONLY';

export interface RenderStats {
  /** 'workers' when the pool rendered, 'astro' when Astro's own prerenderer did (workers: 0 or fallback). */
  mode: 'workers' | 'astro';
  workers: number;
  /** Pages rendered, total and per worker thread id (0 = main thread). */
  pages: number;
  pagesByThread: Record<number, number>;
  fallbackReason?: string;
  /** Wall time from prerenderer setup to teardown, in ms. */
  wallMs: number;
  /** What the prerender bundle does with the reader: chunks importing it at run time, and whether its code got bundled. */
  bundle?: { readerImports: number; readerBundled: boolean };
  /** Time to start the pool (workers import the prerender entry and map the cache), in ms. */
  setupMs?: number;
  /** What each worker reported at start: its cache backing ('mmap' with the native addon). */
  workerCache?: { threadId: number; rows: number; backing: string }[];
  /** Last reported V8 heap in use per worker thread (bytes). */
  workerHeap?: Record<number, number>;
  /** Astro's build.concurrency for this build (pages in flight). */
  concurrency?: number;
  /** Sum of the workers' own render times (ms), to compare with the wall time. */
  workerRenderMs?: number;
  /** PSS measured just before the pool was destroyed. */
  pss?: PssReport;
}

export interface WorkerPrerendererOptions {
  workers: number;
  cacheFile: string;
  trailingSlash: AstroConfig['trailingSlash'];
  logger: AstroIntegrationLogger;
  /** The built prerender entry (captured from the prerender environment's bundle), if any. */
  getEntry: () => string | undefined;
  stats: RenderStats;
}

interface DefaultPrerendererInternals {
  app?: {
    getOptions?: () => {
      allPages: Record<string, { key: string; styles?: unknown[] }>;
      settings: { scripts: { stage: string; content: string }[] };
    };
  };
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** Pages each worker renders at once (its awaits overlap). */
export function tasksPerWorker(): number {
  const n = Number(process.env.POEM_CACHE_TASKS_PER_WORKER);
  return Number.isInteger(n) && n >= 1 ? n : 4;
}

export function createWorkerPrerenderer(def: AstroPrerenderer, o: WorkerPrerendererOptions): AstroPrerenderer {
  let pool: Piscina<WorkerTask, RenderReply | PingReply> | undefined;
  let t0 = 0;
  let mainThreadNoted = false;
  // Tasks sent to the pool and not settled: teardown waits for them (destroying a pool with tasks in flight
  // makes piscina throw on the late replies).
  const inflight = new Set<Promise<unknown>>();
  let closing = false;
  const { stats, logger } = o;
  // Astro's serialized form, made structured-clone safe the way adapters send it (JSON: distURL holds
  // URL objects once a route rendered); once per route.
  const routes = new WeakMap<object, SerializedRouteData>();
  let serializeRouteData: typeof import('astro/app/manifest').serializeRouteData | undefined;
  const serialized = (route: RouteData): SerializedRouteData => {
    let s = routes.get(route);
    if (!s) {
      s = JSON.parse(JSON.stringify(serializeRouteData!(route, o.trailingSlash))) as SerializedRouteData;
      routes.set(route, s);
    }
    return s;
  };
  const count = (thread: number) => {
    stats.pages++;
    stats.pagesByThread[thread] = (stats.pagesByThread[thread] ?? 0) + 1;
  };

  const startPool = async (): Promise<void> => {
    const app = (def as AstroPrerenderer & DefaultPrerendererInternals).app;
    if (!app || typeof app.getOptions !== 'function') {
      throw new Error(`Astro's default prerenderer exposes no app.getOptions() (an internal field this integration reads; this Astro version changed it)`);
    }
    const options = app.getOptions();
    const entry = o.getEntry();
    if (!entry) throw new Error('the built prerender entry was not found in the prerender bundle');
    const init: WorkerInit = {
      entry,
      cacheFile: o.cacheFile,
      pages: Object.values(options.allPages).map((p) => [p.key, { styles: p.styles ?? [] }]),
      scripts: options.settings.scripts
        .filter((s) => s.stage === 'page' || s.stage === 'head-inline')
        .map((s) => ({ stage: s.stage, content: s.content })),
    };
    // Loaded only for builds with workers (astro/app/manifest costs ~0.5 s to import).
    ({ serializeRouteData } = await import('astro/app/manifest'));
    const { Piscina: Pool } = await import('piscina');
    pool = new Pool<WorkerTask, RenderReply | PingReply>({
      filename: new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href, // .ts in this repo, .js installed
      minThreads: o.workers,
      maxThreads: o.workers,
      idleTimeout: 60 * 60 * 1000,
      // Rendering awaits (component modules, streamed chunks): several pages per worker keep each thread
      // busy. POEM_CACHE_TASKS_PER_WORKER overrides (tuning knob, default 4).
      concurrentTasksPerWorker: tasksPerWorker(),
      atomics: 'disabled',
      workerData: init,
    });
    // Every worker imports the entry and maps the cache at start; a ping per worker surfaces failures now.
    const pings = (await Promise.all(Array.from({ length: o.workers }, () => pool!.run({ type: 'ping' })))) as PingReply[];
    const p = pings[0];
    stats.workerCache = pings.map((x) => ({ threadId: x.threadId, rows: x.cacheRows, backing: x.cacheBacking }));
    logger.info(`rendering pages in ${o.workers} worker thread(s) (piscina); each maps the cache itself (${p.cacheRows} poems, ${p.cacheBacking})`);
  };

  return {
    name: 'astro-poem-cache:worker-prerenderer',
    async setup() {
      t0 = performance.now();
      await def.setup?.();
      try {
        const s0 = performance.now();
        await startPool();
        stats.setupMs = performance.now() - s0;
        stats.mode = 'workers';
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        stats.mode = 'astro';
        stats.fallbackReason = reason;
        logger.warn(`cannot render in worker threads (${reason}); falling back to Astro's own prerenderer on the main thread`);
        const p = pool;
        pool = undefined;
        await p?.destroy().catch(() => {});
      }
    },
    getStaticPaths: () => def.getStaticPaths(),
    async render(request, options) {
      if (!pool) {
        const r = await def.render(request, options);
        count(0);
        return r;
      }
      if (closing) throw new Error(`not rendering ${new URL(request.url).pathname}: the worker pool is shutting down (an earlier page failed)`);
      let reply: RenderReply;
      const task = pool.run({ type: 'render', url: request.url, route: serialized(options.routeData) }) as Promise<RenderReply>;
      inflight.add(task);
      try {
        reply = await task;
      } catch (err) {
        // Pages that need main-thread build state (optimized images) are rendered by Astro's prerenderer.
        if (!String((err as Error)?.message).includes(MAIN_THREAD_ONLY)) throw err;
        if (!mainThreadNoted) {
          mainThreadNoted = true;
          logger.info(`pages using astro:assets image optimization are rendered on the main thread (first: ${new URL(request.url).pathname})`);
        }
        const r = await def.render(request, options);
        count(0);
        return r;
      } finally {
        inflight.delete(task);
      }
      count(reply.threadId);
      stats.workerRenderMs = (stats.workerRenderMs ?? 0) + reply.ms;
      (stats.workerHeap ??= {})[reply.threadId] = reply.heapUsed;
      const body = reply.body === null || NULL_BODY.has(reply.status) ? null : reply.body;
      return new Response(body, { status: reply.status, statusText: reply.statusText, headers: reply.headers });
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
        await def.teardown?.();
      }
    },
  };
}
