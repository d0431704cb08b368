// What the main thread and the render threads say to each other (render-pool.ts ↔ render-worker.ts), and the
// small helpers both sides use. The main thread imports this module, never render-worker.ts.
import type { PrerenderRenderMetadata } from 'astro';
import type { SerializedRouteData } from 'astro/app/manifest';
import type { FragmentConfig } from './fragment-host.ts';
import type { FragmentCounts } from './fragments.ts';

export interface WorkerData {
  /** Marks a thread started by the worker prerenderer (render-worker.ts does nothing otherwise). */
  poemCacheWorker: true;
  cacheFile: string;
  /** Test hook: the thread fails at start, as a broken worker would (the build falls back to Astro). */
  failStart?: boolean;
  /** Fragments of this build (<Reuse>), absent when off. */
  fragments?: FragmentConfig;
}

/** Main thread → worker. */
export type ToWorker =
  /** Import the built prerender entry (sent at prerender setup, while the main thread runs Astro's setup). */
  | { t: 'entry'; entry: string }
  /** What the build environment's headElements() reads: [pageData.key, { styles }] and page/head-inline scripts. */
  | HeadMessage
  /** Pages asked for in the same turn of the main thread's event loop. */
  | { t: 'render'; pages: RenderTask[] };

export type HeadMessage = {
  t: 'head';
  pages: [string, { styles: unknown[] }][];
  scripts: { stage: string; content: string }[];
};

/**
 * [id, url, route key, collect: Astro's incremental build wants the page's metadata (content entries, images),
 * serialized route (only for a route the worker's manifest lacks)].
 */
export type RenderTask = [id: number, url: string, route: string, collect: boolean, serialized?: SerializedRouteData];

/** What a thread reports once it mapped the cache. */
export interface Hello {
  threadId: number;
  rows: number;
  backing: string;
}

/** Worker → main thread. */
export type FromWorker =
  | ({ t: 'hello' } & Hello)
  | { t: 'ready'; threadId: number; routes: string[] }
  | { t: 'startError'; error: unknown }
  /** Pages finished in one turn of the thread, with its fragment counts so far (when fragments are on). */
  | { t: 'done'; replies: RenderReply[]; fragments?: FragmentCounts }
  /** A line for the build log (e.g. a component whose fragments are rendered on every page). */
  | { t: 'note'; message: string }
  | { t: 'fail'; id: number; error: unknown; mainThreadOnly: boolean };

export interface RenderReply {
  id: number;
  threadId: number;
  status: number;
  statusText: string;
  headers: [string, string][];
  /** The page body, transferred (not copied); null for bodiless responses. */
  body: ArrayBuffer | null;
  ms: number;
  /** This worker's V8 heap in use when the page was sent (bytes): per-thread memory, unlike PSS. */
  heapUsed: number;
  /** CPU time this thread had used when the page was sent (ms; process.threadCpuUsage, Node >= 23.9), or -1. */
  cpuMs: number;
  /** Collected when the task asked for it (incremental builds); absent otherwise. */
  metadata?: PrerenderRenderMetadata;
}

/** Marks errors of pages that must be rendered on the main thread (the worker throws it, the pool maps it). */
export const MAIN_THREAD_ONLY = 'ASTRO_POEM_CACHE_MAIN_THREAD_ONLY';

/** Statuses whose responses have no body. */
export const NULL_BODY = new Set([101, 204, 205, 304]);

/** How the main thread and the worker name a route (its manifest RouteData is found by this key). */
export function routeKey(r: { type: string; component: string; route: string }): string {
  return `${r.type}\u0000${r.component}\u0000${r.route}`;
}

/** CPU time of the calling thread in ms (user + system), or -1 where Node lacks process.threadCpuUsage. */
export function threadCpuMs(): number {
  const f = (process as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage;
  if (typeof f !== 'function') return -1;
  const u = f.call(process);
  return (u.user + u.system) / 1000;
}
