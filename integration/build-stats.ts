// What a build's prerendering did: counted by the prerenderers, reported at astro:build:done as one info line
// and debug lines (`DEBUG=astro:astro-poem-cache` or `astro build --verbose`), and kept for tests and tooling.
import type { AstroIntegrationLogger } from 'astro';
import type { FragmentSummary } from './fragment-build.ts';
import { describePss, type PssReport } from './pss.ts';

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
  /** What the prerender bundle does with the reader: chunks importing it at run time, whether its code got bundled. */
  bundle?: { readerImports: number; readerBundled: boolean };
  /** Time from prerender setup until every thread imported the prerender entry and took the head data, in ms
   * (the threads were started and mapped the cache earlier, at astro:build:start). */
  setupMs?: number;
  /** What each worker reported at start: its cache backing ('mmap' with the native addon). */
  workerCache?: { threadId: number; rows: number; backing: string }[];
  /** Last reported V8 heap in use per worker thread (bytes). */
  workerHeap?: Record<number, number>;
  /** Astro's build.concurrency for this build (pages in flight). */
  concurrency: number;
  /** Sum of the workers' own render times (ms), to compare with the wall time. */
  workerRenderMs?: number;
  /** CPU time of the main thread from prerender setup to teardown (ms; Node >= 23.9, else absent). */
  mainCpuMs?: number;
  /** CPU time each worker thread used while rendering, from its first to its last page (ms). */
  workerCpuMs?: Record<number, number>;
  /** PSS measured just before the pool was destroyed. */
  pss?: PssReport;
  /** <Reuse> fragments of this build, when on (fragment-build.ts). */
  fragments?: FragmentSummary;
}

// Kept on globalThis: tooling may load another instance of this module than the one Astro's config loaded.
const BUILDS_KEY = Symbol.for('astro-poem-cache:builds');
function builds(): RenderStats[] {
  const g = globalThis as { [BUILDS_KEY]?: RenderStats[] };
  return (g[BUILDS_KEY] ??= []);
}

/** Stats for a build that starts now (the newest is lastBuildStats()). */
export function startBuildStats(workers: number, concurrency: number): RenderStats {
  const stats: RenderStats = { mode: 'astro', workers, pages: 0, pagesByThread: {}, wallMs: 0, concurrency };
  builds().push(stats);
  return stats;
}

/** Render statistics of the last `astro build` in this process (for tests and tooling). */
export function lastBuildStats(): RenderStats | undefined {
  return builds().at(-1);
}

export function countPage(stats: RenderStats, threadId: number): void {
  stats.pages++;
  stats.pagesByThread[threadId] = (stats.pagesByThread[threadId] ?? 0) + 1;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** The one info line of a build: pages, wall time, who rendered them, fragments when any were used. */
export function summaryLine(s: RenderStats): string {
  const by = s.mode === 'workers' ? `${s.workers} worker thread(s)` : "Astro's prerenderer (main thread)";
  const f = s.fragments;
  const used =
    f && f.rendered + f.reused + f.inline > 0
      ? `; fragments (<Reuse>): ${f.rendered} rendered once, ${f.reused} uses reused them, ` +
        `${f.inline} rendered on their page`
      : '';
  return `rendered ${s.pages} page(s) in ${seconds(s.wallMs)} wall time with ${by}${used}`;
}

/** Everything else measured, for `logger.debug`. */
export function debugLines(s: RenderStats): string[] {
  const lines: string[] = [];
  const by = Object.entries(s.pagesByThread)
    .map(([t, n]) => `${t === '0' ? 'main' : `thread ${t}`}: ${n}`)
    .join(', ');
  const setup = s.setupMs !== undefined ? `; pool start ${seconds(s.setupMs)}` : '';
  const work = s.workerRenderMs !== undefined ? `; workers' own render time ${seconds(s.workerRenderMs)}` : '';
  lines.push(`pages by thread: ${by || 'none'}; build.concurrency ${s.concurrency}${setup}${work}`);
  if (s.mainCpuMs !== undefined) {
    const per = (ms: number, n: number) => `${seconds(ms)} (${(ms / Math.max(1, n)).toFixed(2)} ms/page)`;
    const workers = Object.entries(s.workerCpuMs ?? {}).map(
      ([t, ms]) => `thread ${t} ${per(ms, s.pagesByThread[Number(t)] ?? 0)}`,
    );
    const threads = workers.length ? `; ${workers.join(', ')}` : '';
    lines.push(`CPU time while rendering: main thread ${per(s.mainCpuMs, s.pages)}${threads}`);
  }
  if (s.pss) lines.push(describePss(s.pss, s.mode === 'workers' ? s.workers : 0));
  const f = s.fragments;
  if (f && f.rendered + f.reused + f.inline > 0) {
    const where = f.store === 'shared' ? 'one shared-memory store' : `per-thread ${f.store} stores`;
    const threads = Object.entries(f.byThread).map(
      ([t, c]) => `${t === '0' ? 'main' : `thread ${t}`} ${c.rendered} rendered, ${c.adopted} from other threads`,
    );
    const mb = (f.bytes / 1048576).toFixed(1);
    lines.push(`fragments: ${mb} MB in ${where} (part of the process PSS); ${threads.join(', ')}`);
  }
  if (s.workerHeap) {
    const heaps = Object.entries(s.workerHeap).map(([t, b]) => `thread ${t} ${(b / 1048576).toFixed(1)} MB`);
    lines.push(
      "per-worker V8 heap in use after its last page (each thread's own JS heap; the cache is outside " +
        `it, mapped): ${heaps.join(', ')}`,
    );
  }
  return lines;
}

/** At astro:build:done: the summary as info, the rest as debug. */
export function reportBuild(s: RenderStats, logger: AstroIntegrationLogger): void {
  if (s.pages === 0) return;
  logger.info(summaryLine(s));
  for (const line of debugLines(s)) logger.debug(line);
}
