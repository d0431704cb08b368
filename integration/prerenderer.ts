// The worker prerenderer, installed with Astro's public `setPrerenderer` hook (function form, so Astro's
// default prerenderer stays available). The render threads (node:worker_threads, worker.ts) are started at
// astro:build:start and map the cache while Vite builds; at prerender setup they import the same built
// prerender entry while the main thread runs Astro's own setup. Setup and getStaticPaths run on the main
// thread through the default prerenderer; render() sends { id, url, route key } to the least busy thread,
// which renders with app.render (what renderForPrerender does) and sends the body back as a transferred
// ArrayBuffer that becomes the Response body without a copy. Anything missing at setup -> one warning,
// Astro's prerenderer.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SerializedRouteData } from 'astro/app/manifest';
import type { AstroConfig, AstroIntegrationLogger, AstroPrerenderer, RouteData } from 'astro';
import type { BuildFragments, FragmentSummary } from './fragment-build.ts';
import { batchStdout } from './log-batch.ts';
import { readPss, type PssReport } from './pss.ts';
import { routeKey, threadCpuMs, type FromWorker, type RenderReply, type RenderTask, type ToWorker, type WorkerData } from './worker.ts';

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
  /** Time from prerender setup until every thread imported the prerender entry and took the head data, in ms
   * (the threads were started and mapped the cache earlier, at astro:build:start). */
  setupMs?: number;
  /** Time from starting the threads (astro:build:start) until each had mapped the cache, in ms. */
  spawnMs?: number;
  /** What each worker reported at start: its cache backing ('mmap' with the native addon). */
  workerCache?: { threadId: number; rows: number; backing: string }[];
  /** Last reported V8 heap in use per worker thread (bytes). */
  workerHeap?: Record<number, number>;
  /** Astro's build.concurrency for this build (pages in flight). */
  concurrency?: number;
  /** Sum of the workers' own render times (ms), to compare with the wall time. */
  workerRenderMs?: number;
  /** CPU time of the main thread from prerender setup to teardown (ms; Node >= 23.9, else absent). */
  mainCpuMs?: number;
  /** CPU time each worker thread used while rendering, from its first to its last page (ms). */
  workerCpuMs?: Record<number, number>;
  /** PSS measured just before the pool was destroyed. */
  pss?: PssReport;
  /** Fragments (<Reuse>) of this build, when on. */
  fragments?: FragmentSummary;
}

export interface WorkerPrerendererOptions {
  workers: number;
  cacheFile: string;
  trailingSlash: AstroConfig['trailingSlash'];
  logger: AstroIntegrationLogger;
  /** The built prerender entry (captured from the prerender environment's bundle), if any. */
  getEntry: () => string | undefined;
  stats: RenderStats;
  /** The render threads, started at astro:build:start (startRenderPool). */
  pool: RenderPool;
  /** Fragments of this build (also for pages rendered on the main thread), when on. */
  fragments?: BuildFragments;
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

/**
 * V8 limits of every render thread. Left alone, a worker isolate's young generation grows to 64 MB (Node 24)
 * and stays resident. 32 MB: at seed scale (bench/astro-build.ts, 2 workers) peak PSS 1,474 MB instead of
 * 1,731 MB at no cost in speed, where 8 MB cost 19 % more CPU (Astro promotes more of its per-page objects).
 */
export const RENDER_WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 32 } as const;

const MAIN_THREAD_ONLY = 'ASTRO_POEM_CACHE_MAIN_THREAD_ONLY';
const WORKER_URL = new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url); // .ts in this repo, .js installed

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // awaited later (or never, if the build stops before prerendering)
  return { promise, resolve, reject };
}

interface Thread {
  worker: Worker;
  /** Pages sent (or queued) and not answered. */
  load: number;
  /** Pages asked for in this turn, sent together at its end (setImmediate). */
  queue: RenderTask[];
  hello: Deferred<{ threadId: number; rows: number; backing: string }>;
  ready: Deferred<string[]>;
  /** Set once the entry import / head data stage began (a start error then belongs to `ready`). */
  started: boolean;
}

interface Pending {
  thread: Thread;
  resolve: (r: RenderReply) => void;
  reject: (e: unknown) => void;
}

class MainThreadOnly extends Error {}

/**
 * The render threads. Started at astro:build:start: each thread maps the cache and says hello while Vite
 * builds; loadEntry()/sendHead() at prerender setup; render() per page, to the thread with the fewest pages
 * in flight. Threads are unref'd until setup (a build that stops earlier is not kept alive by them).
 */
export class RenderPool {
  readonly threads: Thread[] = [];
  readonly startedAt = performance.now();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private destroyed = false;
  /** A thread died or failed after setup: every later page fails with this. */
  private broken: unknown;

  private readonly fragments: BuildFragments | undefined;
  constructor(workers: number, cacheFile: string, fragments?: BuildFragments) {
    this.fragments = fragments;
    for (let i = 0; i < workers; i++) {
      const workerData: WorkerData = {
        poemCacheWorker: true,
        cacheFile,
        ...(fragments ? { fragments: fragments.config } : {}),
      };
      const worker = new Worker(WORKER_URL, { workerData, resourceLimits: RENDER_WORKER_RESOURCE_LIMITS });
      worker.unref();
      const thread: Thread = { worker, load: 0, queue: [], hello: deferred(), ready: deferred(), started: false };
      this.threads.push(thread);
      worker.on('message', (m: FromWorker) => this.onMessage(thread, m));
      worker.on('error', (err) => this.fail(thread, err));
      worker.on('exit', (code) => {
        if (!this.destroyed) this.fail(thread, new Error(`render thread ${worker.threadId} exited (code ${code})`));
      });
    }
  }

  private onMessage(thread: Thread, m: FromWorker): void {
    switch (m.t) {
      case 'done':
        if (m.fragments) this.fragments?.threadCounts(thread.worker.threadId, m.fragments);
        for (const r of m.replies) {
          const p = this.pending.get(r.id);
          if (!p) continue;
          this.pending.delete(r.id);
          thread.load--;
          p.resolve(r);
        }
        return;
      case 'fail': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        thread.load--;
        p.reject(m.mainThreadOnly ? new MainThreadOnly(String((m.error as Error)?.message)) : m.error);
        return;
      }
      case 'hello':
        thread.hello.resolve(m);
        return;
      case 'note':
        this.fragments?.note(m.message);
        return;
      case 'ready':
        thread.ready.resolve(m.routes);
        return;
      case 'startError':
        this.fail(thread, m.error);
        return;
    }
  }

  private fail(thread: Thread, err: unknown): void {
    thread.hello.reject(err);
    thread.ready.reject(err);
    this.broken ??= err;
    for (const [id, p] of this.pending) {
      if (p.thread !== thread) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }

  private post(thread: Thread, m: ToWorker): void {
    thread.worker.postMessage(m);
  }

  /** Every thread starts importing the built prerender entry (and keeps the process alive from now on). */
  loadEntry(entry: string): void {
    for (const t of this.threads) {
      t.started = true;
      t.worker.ref();
      this.post(t, { t: 'entry', entry });
    }
  }

  /** Head data for every thread; resolves when all are ready, with the route keys their manifest has. */
  async sendHead(m: Extract<ToWorker, { t: 'head' }>): Promise<{ hellos: { threadId: number; rows: number; backing: string }[]; routes: Set<string> }> {
    for (const t of this.threads) this.post(t, m);
    const hellos = await Promise.all(this.threads.map((t) => t.hello.promise));
    const lists = await Promise.all(this.threads.map((t) => t.ready.promise));
    const routes = new Set(lists[0]);
    for (const l of lists.slice(1)) for (const k of routes) if (!l.includes(k)) routes.delete(k);
    return { hellos, routes };
  }

  /** Resolves when every thread mapped the cache (or rejects with the first start failure). */
  hellos(): Promise<unknown> {
    return Promise.all(this.threads.map((t) => t.hello.promise));
  }

  render(url: string, route: string, serialized: SerializedRouteData | undefined): Promise<RenderReply> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    let thread = this.threads[0];
    for (const t of this.threads) if (t.load < thread.load) thread = t;
    const id = this.nextId++;
    thread.load++;
    if (thread.queue.length === 0) setImmediate(() => this.flush(thread));
    thread.queue.push(serialized ? [id, url, route, serialized] : [id, url, route]);
    return new Promise<RenderReply>((resolve, reject) => {
      this.pending.set(id, { thread, resolve, reject });
    });
  }

  private flush(thread: Thread): void {
    const pages = thread.queue;
    thread.queue = [];
    if (pages.length > 0 && !this.destroyed) this.post(thread, { t: 'render', pages });
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate().catch(() => {})));
  }
}

/** Starts the render threads (at astro:build:start, so they map the cache while Vite builds). */
export function startRenderPool(workers: number, cacheFile: string, fragments?: BuildFragments): RenderPool {
  return new RenderPool(workers, cacheFile, fragments);
}

/**
 * The Response handed to Astro: the transferred body, without the copy (and the stream) `new Response(buffer)`
 * makes. Astro's generate loop checks `body` and calls `arrayBuffer()`; `body` still gives a stream.
 */
export class PageResponse extends Response {
  #bytes: ArrayBuffer;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #used = false;
  constructor(bytes: ArrayBuffer, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
  }
  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const bytes = this.#bytes;
    return (this.#stream ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      start(c) {
        c.enqueue(new Uint8Array(bytes));
        c.close();
      },
    }));
  }
  override get bodyUsed(): boolean {
    return this.#used || (this.#stream?.locked ?? false);
  }
  #take(): ArrayBuffer {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    try {
      return Promise.resolve(this.#take());
    } catch (e) {
      return Promise.reject(e);
    }
  }
  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.arrayBuffer().then((b) => new Uint8Array(b));
  }
  override text(): Promise<string> {
    return this.arrayBuffer().then((b) => new TextDecoder().decode(b));
  }
  override clone(): Response {
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
    return new PageResponse(this.#bytes.slice(0), { status: this.status, statusText: this.statusText, headers: this.headers });
  }
}

export function createWorkerPrerenderer(def: AstroPrerenderer, o: WorkerPrerendererOptions): AstroPrerenderer {
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
  const { stats, logger } = o;
  /** Route keys every thread's manifest has (their own RouteData objects are used). */
  let workerRoutes = new Set<string>();
  // Per route, once: its key, and Astro's serialized form only for a route the threads' manifests lack
  // (made structured-clone safe through JSON the way adapters send it).
  const routes = new WeakMap<object, { key: string; serialized?: SerializedRouteData }>();
  const routeFor = async (route: RouteData): Promise<{ key: string; serialized?: SerializedRouteData }> => {
    let r = routes.get(route);
    if (!r) {
      const key = routeKey(route);
      if (workerRoutes.has(key)) {
        r = { key };
      } else {
        const { serializeRouteData } = await import('astro/app/manifest');
        r = { key, serialized: JSON.parse(JSON.stringify(serializeRouteData(route, o.trailingSlash))) as SerializedRouteData };
      }
      routes.set(route, r);
    }
    return r;
  };
  const count = (thread: number) => {
    stats.pages++;
    stats.pagesByThread[thread] = (stats.pagesByThread[thread] ?? 0) + 1;
  };
  const mainThread = async (request: Request, options: Parameters<AstroPrerenderer['render']>[1]) => {
    const r = await (o.fragments ? o.fragments.render(request, () => def.render(request, options)) : def.render(request, options));
    count(0);
    return r;
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
          throw new Error(`Astro's default prerenderer exposes no app.getOptions() (an internal field this integration reads; this Astro version changed it)`);
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
        logger.info(`rendering pages in ${o.workers} worker thread(s); each maps the cache itself (${p.rows} poems, ${p.backing})`);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        stats.mode = 'astro';
        stats.fallbackReason = reason;
        logger.warn(`cannot render in worker threads (${reason}); falling back to Astro's own prerenderer on the main thread`);
        const p = pool;
        pool = undefined;
        await p?.destroy();
      }
    },
    getStaticPaths: () => def.getStaticPaths(),
    async render(request, options) {
      if (!pool) return mainThread(request, options);
      if (closing) throw new Error(`not rendering ${new URL(request.url).pathname}: the worker pool is shutting down (an earlier page failed)`);
      const route = await routeFor(options.routeData);
      let reply: RenderReply;
      const task = pool.render(request.url, route.key, route.serialized);
      inflight.add(task);
      try {
        reply = await task;
      } catch (err) {
        // Pages that need main-thread build state (optimized images) are rendered by Astro's prerenderer.
        if (!(err instanceof MainThreadOnly)) throw err;
        if (!mainThreadNoted) {
          mainThreadNoted = true;
          logger.info(`pages using astro:assets image optimization are rendered on the main thread (first: ${new URL(request.url).pathname})`);
        }
        return mainThread(request, options);
      } finally {
        inflight.delete(task);
      }
      const thread = reply.threadId;
      count(thread);
      stats.workerRenderMs = (stats.workerRenderMs ?? 0) + reply.ms;
      (stats.workerHeap ??= {})[thread] = reply.heapUsed;
      if (reply.cpuMs >= 0) {
        cpuFirst[thread] ??= reply.cpuMs - reply.ms;
        (stats.workerCpuMs ??= {})[thread] = reply.cpuMs - cpuFirst[thread];
      }
      const init = { status: reply.status, statusText: reply.statusText, headers: reply.headers };
      if (reply.body === null || NULL_BODY.has(reply.status)) return new Response(null, init);
      return new PageResponse(reply.body, init);
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
        restoreStdout?.();
        await def.teardown?.();
      }
    },
  };
}
