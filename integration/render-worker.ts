// The render thread's entry (node:worker_threads; started by render-pool.ts, never imported by the main
// thread): renders prerendered pages with Astro's own prerender app (the built prerender entry). Started at
// astro:build:start, long before the entry exists: it maps the cache at once and says hello; the main thread
// then sends the entry path (at prerender setup) and the small per-page head data (styles, page scripts), and
// after that the pages. The cache is mapped here with openCache (one mapping per thread, one physical copy).
import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { PrerenderRenderMetadata, RouteData } from 'astro';
import { openCache, openShm } from '../cache/reader.ts';
import { SHM_ENV } from '../cache/shm.ts';
import {
  MAIN_THREAD_ONLY,
  NULL_BODY,
  routeKey,
  threadCpuMs,
  type FromWorker,
  type HeadMessage,
  type RenderReply,
  type RenderTask,
  type ToWorker,
  type WorkerData,
} from './protocol.ts';
import { type FragmentHost, installFragmentHost } from './fragment-host.ts';
import { cacheIdentity } from './fragments.ts';

interface BuildAppLike {
  manifest: { routes: { routeData: RouteData }[]; entryModules: Record<string, string> };
  setInternals(internals: unknown): void;
  setOptions(options: unknown): void;
  render(request: Request, options: { routeData: RouteData }): Promise<Response>;
}

const PAGE_SCRIPT_ID = 'astro:scripts/page.js';
/** collectPrerenderMetadata warns through it only when no render scope is installed, and one always is. */
const silentLogger = { warn() {} } as unknown as Parameters<typeof import('astro/app').collectPrerenderMetadata>[1];

if (parentPort && (workerData as Partial<WorkerData> | null)?.poemCacheWorker === true) main(parentPort);

function main(port: NonNullable<typeof parentPort>): void {
  const send = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
  const data = workerData as WorkerData;
  let app: BuildAppLike | undefined;
  let routes = new Map<string, RouteData>();
  let entryLoaded: Promise<BuildAppLike> | undefined;
  let host: FragmentHost | undefined;
  try {
    if (data.failStart) throw new Error('worker start failure requested by the failStart test hook');
    // Map the cache first: pages call getCache() (the same openCache, same module instance) and get it at once.
    // share: 'shm': the segment the main thread published (name inherited in this thread's process.env).
    const shm = process.env[SHM_ENV];
    const reader = shm ? openShm(shm) : openCache(data.cacheFile);
    if (data.fragments) {
      const identity = shm ? `shm:${shm}` : cacheIdentity(data.cacheFile);
      const note = (message: string) => send({ t: 'note', message });
      host = installFragmentHost(data.fragments, identity, `render thread ${threadId}`, note);
    }
    send({ t: 'hello', threadId, rows: reader.count, backing: reader.backing });
  } catch (error) {
    send({ t: 'startError', error });
    return;
  }

  const loadEntry = async (entry: string): Promise<BuildAppLike> => {
    const mod = (await import(pathToFileURL(entry).href)) as { app?: BuildAppLike };
    const a = mod.app;
    if (!a || typeof a.render !== 'function' || typeof a.setInternals !== 'function') {
      throw new Error(`${entry} does not export Astro's prerender app (expected "app" with render/setInternals)`);
    }
    return a;
  };

  const setHead = (a: BuildAppLike, m: HeadMessage) => {
    // The build environment reads only these parts of the build internals and options while rendering
    // (headElements: page styles, the page-script bundle and inline head scripts).
    const pageScript = a.manifest.entryModules?.[PAGE_SCRIPT_ID];
    a.setInternals({
      pagesByKeys: new Map(m.pages),
      entrySpecifierToBundleMap: new Map(pageScript ? [[PAGE_SCRIPT_ID, pageScript]] : []),
    });
    a.setOptions({
      settings: { scripts: m.scripts },
      logger: {
        options: {
          destination: {
            write(event: { level?: string; label?: string | null; message?: string }) {
              // Errors are reported again by the main thread (with the page path); pages handed back to the
              // main thread are not errors at all.
              if ((event.level === 'warn' || event.level === 'error') && !event.message?.includes(MAIN_THREAD_ONLY)) {
                const label = event.label ? ` [${event.label}]` : '';
                process.stderr.write(`[poem-cache worker ${threadId}] ${event.level}${label} ${event.message ?? ''}\n`);
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
    routes = new Map(a.manifest.routes.map((r) => [routeKey(r.routeData), r.routeData]));
    app = a;
    send({ t: 'ready', threadId, routes: [...routes.keys()] });
  };

  // Replies finished in the same turn go back in one message (one transfer list).
  let outbox: RenderReply[] = [];
  let transfer: ArrayBuffer[] = [];
  const flush = () => {
    const replies = outbox;
    const list = transfer;
    outbox = [];
    transfer = [];
    // Once per message, not per page (each is a system call or a heap walk).
    const heapUsed = getHeapStatistics().used_heap_size;
    const cpuMs = threadCpuMs();
    for (const r of replies) {
      r.heapUsed = heapUsed;
      r.cpuMs = cpuMs;
    }
    send({ t: 'done', replies, ...(host ? { fragments: { ...host.counts } } : {}) }, list);
  };

  // Astro fills this thread's route cache (getStaticPaths) on a route's first page; pages of that route
  // started meanwhile would each run getStaticPaths again ("route cache overwritten"). They wait for it.
  const firstOfRoute = new Map<string, Promise<void>>();
  const render = async (task: RenderTask): Promise<void> => {
    const first = firstOfRoute.get(task[2]);
    if (first) {
      await first;
      return renderPage(task);
    }
    let done!: () => void;
    firstOfRoute.set(task[2], new Promise<void>((resolve) => (done = resolve)));
    try {
      await renderPage(task);
    } finally {
      done();
    }
  };

  const renderPage = async ([id, url, route, collect, serialized]: RenderTask): Promise<void> => {
    const t0 = performance.now();
    try {
      // This app's own RouteData (the same manifest entry the main thread matched; identity matters to the
      // route cache); Astro's serialized copy only for a route the manifest lacks.
      let routeData = routes.get(route);
      if (!routeData) {
        if (!serialized) throw new Error(`route ${route.replaceAll('\u0000', ' ')} is not in the worker's manifest`);
        const { deserializeRouteData } = await import('astro/app/manifest');
        routeData = deserializeRouteData(serialized);
        routes.set(route, routeData);
      }
      // What renderForPrerender (astro/app) does: app.render with the matched route, the body read inside the
      // render scope when Astro's incremental build wants the page's metadata (what it recorded while rendering).
      const request = new Request(url);
      host?.own(request); // its page gets fragment placeholders, spliced below
      const { response, body, metadata } = collect
        ? await withMetadata(() => renderRequest(request, routeData!))
        : { ...(await renderRequest(request, routeData!)), metadata: undefined };
      const headers = [...response.headers];
      if (body) for (const h of headers) if (h[0] === 'content-length') h[1] = String(body.byteLength);
      if (outbox.length === 0) setImmediate(flush);
      outbox.push({
        id,
        threadId,
        status: response.status,
        statusText: response.statusText,
        headers,
        body,
        ms: performance.now() - t0,
        heapUsed: 0, // set for the whole message in flush()
        cpuMs: -1,
        ...(metadata ? { metadata } : {}),
      });
      if (body) transfer.push(body);
    } catch (error) {
      const mainThreadOnly = String((error as Error)?.message).includes(MAIN_THREAD_ONLY);
      try {
        send({ t: 'fail', id, error, mainThreadOnly });
      } catch {
        // Not structured-cloneable (a function or a symbol on it): its name, message and stack still are.
        const e = error as Error;
        const plain = Object.assign(new Error(String(e?.message ?? error)), {
          name: String(e?.name ?? 'Error'),
          stack: String(e?.stack ?? ''),
        });
        send({ t: 'fail', id, error: plain, mainThreadOnly });
      }
    }
  };

  /** Renders a page and reads its body (spliced when it has fragments). */
  const renderRequest = async (
    request: Request,
    routeData: RouteData,
  ): Promise<{ response: Response; body: ArrayBuffer | null }> => {
    const response = await app!.render(request, { routeData });
    let body: ArrayBuffer | null = null;
    if (response.body !== null && !NULL_BODY.has(response.status)) {
      // Read the stream ourselves: a page body is one chunk, whose buffer is sent as is (no concat copy).
      const chunks: Uint8Array[] = [];
      let size = 0;
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.byteLength;
      }
      const one = chunks.length === 1 ? chunks[0] : undefined;
      if (one && one.byteOffset === 0 && one.buffer.byteLength === size && one.buffer instanceof ArrayBuffer) {
        body = one.buffer;
      } else {
        const all = new Uint8Array(size);
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.byteLength;
        }
        body = all.buffer;
      }
      if (host) body = host.finish(request, new Uint8Array(body)).buffer as ArrayBuffer;
    }
    return { response, body };
  };

  /** Astro's metadata collector, with this thread's render scope installed on first use (once per thread). */
  let collector: Promise<typeof import('astro/app').collectPrerenderMetadata> | undefined;
  /** Runs `render` in Astro's render scope and adds what the page recorded there (as renderForPrerender does). */
  const withMetadata = async <T extends object>(
    render: () => Promise<T>,
  ): Promise<T & { metadata?: PrerenderRenderMetadata }> => {
    collector ??= import('astro/app').then((m) => {
      m.installRenderScope(new AsyncLocalStorage());
      return m.collectPrerenderMetadata;
    });
    const { value, metadata } = await (await collector)(render, silentLogger);
    return { ...value, metadata: metadata as PrerenderRenderMetadata | undefined };
  };

  port.on('message', (m: ToWorker) => {
    if (m.t === 'render') {
      for (const p of m.pages) void render(p);
    } else if (m.t === 'entry') {
      entryLoaded = loadEntry(m.entry);
      entryLoaded.catch((error) => send({ t: 'startError', error }));
    } else if (m.t === 'head') {
      if (!entryLoaded) {
        send({ t: 'startError', error: new Error('head data before the prerender entry') });
        return;
      }
      entryLoaded.then((a) => setHead(a, m)).catch((error) => send({ t: 'startError', error }));
    }
  });
}
