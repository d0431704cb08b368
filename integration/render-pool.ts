// The render threads of the worker prerenderer (node:worker_threads running render-worker.ts): started at
// astro:build:start so that each maps the cache while Vite builds; given the prerender entry and the head
// data at prerender setup; then sent pages, to the thread with the fewest in flight.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SerializedRouteData } from 'astro/app/manifest';
import type { BuildFragments } from './fragment-build.ts';
import type { FromWorker, HeadMessage, Hello, RenderReply, RenderTask, ToWorker, WorkerData } from './protocol.ts';

/**
 * V8 limits of every render thread. Left alone, a worker isolate's young generation grows to 64 MB (Node 24)
 * and stays resident. 32 MB: at seed scale (bench/astro-build.ts, 2 workers) peak PSS 1,474 MB instead of
 * 1,731 MB at no cost in speed, where 8 MB cost 19 % more CPU (Astro promotes more of its per-page objects).
 */
export const RENDER_WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 32 } as const;

// .ts in this repository, .js installed
const WORKER_URL = new URL(`./render-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** A page the thread cannot render (it needs main-thread build state): Astro's prerenderer renders it. */
export class MainThreadOnly extends Error {}

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
  hello: Deferred<Hello>;
  ready: Deferred<string[]>;
}

interface Pending {
  thread: Thread;
  resolve: (r: RenderReply) => void;
  reject: (e: unknown) => void;
}

export interface RenderPoolOptions {
  workers: number;
  cacheFile: string;
  /** Test hook: every thread fails at start. */
  failStart?: boolean;
  /** Fragments of this build: each thread gets their configuration and reports its counts and notes. */
  fragments?: BuildFragments;
}

/** The threads are unref'd until loadEntry(): a build that stops earlier is not kept alive by them. */
export class RenderPool {
  readonly threads: Thread[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private destroyed = false;
  /** A thread died or failed after setup: every later page fails with this. */
  private broken: unknown;
  private readonly fragments: BuildFragments | undefined;

  constructor({ workers, cacheFile, failStart, fragments }: RenderPoolOptions) {
    this.fragments = fragments;
    for (let i = 0; i < workers; i++) {
      const workerData: WorkerData = {
        poemCacheWorker: true,
        cacheFile,
        ...(failStart ? { failStart } : {}),
        ...(fragments ? { fragments: fragments.config } : {}),
      };
      const worker = new Worker(WORKER_URL, { workerData, resourceLimits: RENDER_WORKER_RESOURCE_LIMITS });
      worker.unref();
      const thread: Thread = { worker, load: 0, queue: [], hello: deferred(), ready: deferred() };
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
      t.worker.ref();
      this.post(t, { t: 'entry', entry });
    }
  }

  /** Head data for every thread; resolves when all are ready, with the route keys every manifest has. */
  async sendHead(m: HeadMessage): Promise<{ hellos: Hello[]; routes: Set<string> }> {
    for (const t of this.threads) this.post(t, m);
    const hellos = await Promise.all(this.threads.map((t) => t.hello.promise));
    const lists = await Promise.all(this.threads.map((t) => t.ready.promise));
    const routes = new Set(lists[0]);
    for (const l of lists.slice(1)) for (const k of routes) if (!l.includes(k)) routes.delete(k);
    return { hellos, routes };
  }

  /** Pages asked for in one turn of the event loop go to their thread in one message. */
  /** collect: the page's metadata for Astro's incremental build comes back with it. */
  render(
    url: string,
    route: string,
    serialized: SerializedRouteData | undefined,
    collect = false,
  ): Promise<RenderReply> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    let thread = this.threads[0];
    for (const t of this.threads) if (t.load < thread.load) thread = t;
    const id = this.nextId++;
    thread.load++;
    if (thread.queue.length === 0) setImmediate(() => this.flush(thread));
    thread.queue.push(serialized ? [id, url, route, collect, serialized] : [id, url, route, collect]);
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
