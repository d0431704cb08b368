// The main thread's side of fragments for one `astro build`: the configuration every render thread gets
// (store kind, placeholder token, cache identity, shared memory), the main thread's own host (pages Astro's
// prerenderer renders there: `workers: 0`, pages handed back by workers), and the counts for the build log.
import { randomBytes } from 'node:crypto';
import { createSharedFragments } from './fragment-table.ts';
import { type FragmentConfig, type FragmentHost, installFragmentHost, setFragmentHost } from './fragment-host.ts';
import type { FragmentCounts, FragmentStoreKind } from './fragments.ts';
import { PageResponse } from './page-response.ts';

export interface FragmentSummary extends FragmentCounts {
  store: FragmentStoreKind;
  /** The counts of each thread (0 = main thread); the totals above are their sums. */
  byThread: Record<number, FragmentCounts>;
}

type Rendered = Response | { response: Response };

export class BuildFragments {
  readonly config: FragmentConfig;
  private host: FragmentHost | undefined;
  private readonly byThread = new Map<number, FragmentCounts>();
  private readonly notes = new Set<string>();
  private readonly log: (message: string) => void;
  /**
   * identity: the cache this build renders from (cacheIdentity(file) or shm:<name>); rows: its poem count
   * (sizes the shared table); kind: 'shared' (one copy of every fragment, rendered once by whichever thread
   * needs it first) — 'thread' (each thread its own bytes) and 'strings' (each thread its own JS strings, no
   * splicing) are the designs it was measured against (BENCHMARKS.md), selected by an internal argument.
   */
  constructor(identity: string, rows: number, log: (message: string) => void, kind: FragmentStoreKind = 'shared') {
    this.log = log;
    this.config = {
      kind,
      token: randomBytes(8).toString('hex'),
      identity,
      ...(kind === 'shared' ? { shared: createSharedFragments(rows * 2) } : {}),
    };
  }

  /** A line for the build log, once per build (render threads send the same notes). */
  note(message: string): void {
    if (this.notes.has(message)) return;
    this.notes.add(message);
    this.log(message);
  }

  /** The latest cumulative counts of a render thread. */
  threadCounts(threadId: number, counts: FragmentCounts): void {
    this.byThread.set(threadId, counts);
  }

  /** Pages rendered on the main thread from now on get fragments (prerender setup). */
  startMainThread(): void {
    this.host = installFragmentHost(this.config, this.config.identity, 'the main thread', (m) => this.note(m));
  }

  /** At prerender teardown (and build end). */
  stopMainThread(): void {
    if (!this.host) return;
    const c = this.host.counts;
    if (c.rendered + c.reused + c.inline > 0) this.byThread.set(0, { ...c });
    this.host = undefined;
    setFragmentHost(undefined);
  }

  /** Renders a page on the main thread (Astro's prerenderer) with fragments spliced into its body. */
  async render<T extends Rendered>(request: Request, render: () => Promise<T>): Promise<T> {
    const host = this.host;
    if (!host) return render();
    host.own(request);
    const out = await render();
    const response = out instanceof Response ? out : out.response;
    if (response.body === null) {
      host.finish(request, new Uint8Array(0));
      return out;
    }
    const bytes = host.finish(request, new Uint8Array(await response.arrayBuffer()));
    const headers = new Headers(response.headers);
    if (headers.has('content-length')) headers.set('content-length', String(bytes.byteLength));
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const body = (whole ? bytes.buffer : bytes.slice().buffer) as ArrayBuffer;
    const spliced = new PageResponse(body, { status: response.status, statusText: response.statusText, headers });
    return (out instanceof Response ? spliced : { ...out, response: spliced }) as T;
  }

  summary(): FragmentSummary {
    const s: FragmentSummary = {
      store: this.config.kind,
      byThread: Object.fromEntries(this.byThread),
      rendered: 0,
      reused: 0,
      inline: 0,
      bytes: 0,
      adopted: 0,
    };
    for (const c of this.byThread.values()) {
      s.rendered += c.rendered;
      s.reused += c.reused;
      s.inline += c.inline;
      s.bytes += c.bytes;
      s.adopted += c.adopted;
    }
    return s;
  }
}
