// Piscina worker: renders prerendered pages with Astro's own prerender app (the built prerender entry),
// in this thread. workerData carries only paths and the small per-page head data (styles, page scripts);
// the cache is mapped here with openCache (one mapping per thread, one physical copy per machine).
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { threadId, workerData } from 'node:worker_threads';
import type { SerializedRouteData } from 'astro/app/manifest';
import type { RouteData } from 'astro';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { openCache } from '../cache/reader.ts';

export interface WorkerInit {
  /** Absolute path of Astro's built prerender entry (exports `app`). */
  entry: string;
  cacheFile: string;
  /** [pageData.key, { styles }] for every page: what the build environment's headElements() reads. */
  pages: [string, { styles: unknown[] }][];
  /** settings.scripts of stage "page" and "head-inline". */
  scripts: { stage: string; content: string }[];
}

export type WorkerTask =
  | { type: 'ping' }
  | { type: 'render'; url: string; route: SerializedRouteData };

export interface RenderReply {
  type: 'render';
  threadId: number;
  status: number;
  statusText: string;
  headers: [string, string][];
  /** The page body, transferred (not copied); null for bodiless responses. */
  body: ArrayBuffer | null;
  ms: number;
  /** This worker's V8 heap in use after the page (bytes): per-thread memory, unlike PSS. */
  heapUsed: number;
}

export interface PingReply {
  type: 'ping';
  threadId: number;
  cacheRows: number;
  cacheBacking: string;
}

interface BuildAppLike {
  manifest: { routes: { routeData: RouteData }[]; entryModules: Record<string, string> };
  setInternals(internals: unknown): void;
  setOptions(options: unknown): void;
  render(request: Request, options: { routeData: RouteData }): Promise<Response>;
}

const PAGE_SCRIPT_ID = 'astro:scripts/page.js';
/** Marks errors of pages that must be rendered on the main thread (kept in sync with prerenderer.ts). */
export const MAIN_THREAD_ONLY = 'ASTRO_POEM_CACHE_MAIN_THREAD_ONLY';

async function init(): Promise<{ app: BuildAppLike; rows: number; backing: string }> {
  const data = workerData as WorkerInit;
  if (process.env.ASTRO_POEM_CACHE_TEST_BREAK_WORKER === '1') {
    throw new Error('worker start failure requested by ASTRO_POEM_CACHE_TEST_BREAK_WORKER=1 (test hook)');
  }
  // Map the cache first: pages call getCache() (the same openCache, same module instance) and get it at once.
  const reader = openCache(data.cacheFile);
  const mod = (await import(pathToFileURL(data.entry).href)) as { app?: BuildAppLike };
  const app = mod.app;
  if (!app || typeof app.render !== 'function' || typeof app.setInternals !== 'function') {
    throw new Error(`${data.entry} does not export Astro's prerender app (expected "app" with render/setInternals)`);
  }
  // The build environment reads only these parts of the build internals and options while rendering
  // (headElements: page styles, the page-script bundle and inline head scripts).
  const pageScript = app.manifest.entryModules?.[PAGE_SCRIPT_ID];
  app.setInternals({
    pagesByKeys: new Map(data.pages),
    entrySpecifierToBundleMap: new Map(pageScript ? [[PAGE_SCRIPT_ID, pageScript]] : []),
  });
  app.setOptions({
    settings: { scripts: data.scripts },
    logger: {
      options: {
        destination: {
          write(event: { level?: string; label?: string | null; message?: string }) {
            // Errors are reported again by the main thread (with the page path); pages handed back to the
            // main thread are not errors at all.
            if ((event.level === 'warn' || event.level === 'error') && !event.message?.includes(MAIN_THREAD_ONLY)) {
              process.stderr.write(`[poem-cache worker ${threadId}] ${event.level}${event.label ? ` [${event.label}]` : ''} ${event.message ?? ''}\n`);
            }
            return true;
          },
        },
      },
    },
  });
  // astro:assets registers optimized images through globalThis.astroAsset.addStaticImage, which lives on
  // the main thread (it fills the list Astro optimizes after prerendering). Such pages are handed back.
  const g = globalThis as { astroAsset?: Record<string, unknown> };
  g.astroAsset ??= {};
  g.astroAsset.addStaticImage = () => {
    throw new Error(`${MAIN_THREAD_ONLY}: this page uses astro:assets image optimization`);
  };
  return { app, rows: reader.count, backing: reader.backing };
}

const ready = init();
ready.catch(() => {}); // reported to the caller of the first task

const NULL_BODY = new Set([101, 204, 205, 304]);

export default async function handle(task: WorkerTask): Promise<RenderReply | PingReply> {
  const { app, rows, backing } = await ready;
  if (task.type === 'ping') return { type: 'ping', threadId, cacheRows: rows, cacheBacking: backing };
  const t0 = performance.now();
  const wanted = task.route;
  // Prefer this app's own RouteData object (the same manifest entry the main thread matched; identity
  // matters to the route cache); deserialize Astro's serialized copy otherwise (loaded only then: the
  // astro/app entry points cost ~0.5-1 s of start-up per worker).
  let routeData = app.manifest.routes.find(
    (r) => r.routeData.route === wanted.route && r.routeData.component === wanted.component && r.routeData.type === wanted.type,
  )?.routeData;
  if (!routeData) {
    const { deserializeRouteData } = await import('astro/app/manifest');
    routeData = deserializeRouteData(wanted);
  }
  // What renderForPrerender (astro/app) does when the incremental build cache is off: app.render with the
  // matched route. (With experimental.incrementalBuild, pages rendered here are recorded as "not tracked".)
  const response = await app.render(new Request(task.url), { routeData });
  const body = response.body === null || NULL_BODY.has(response.status) ? null : await response.arrayBuffer();
  const reply: RenderReply = {
    type: 'render',
    threadId,
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    body,
    ms: performance.now() - t0,
    heapUsed: getHeapStatistics().used_heap_size,
  };
  if (!body) return reply;
  // Transfer the body instead of copying it: a Piscina transferable whose value is the reply and whose
  // transfer list is the body's ArrayBuffer.
  return move({ [transferableSymbol]: body, [valueSymbol]: reply } as never) as never;
}
