// The fragment host of a render thread: where <Reuse> finds the thread's fragment store, and what owns the
// pages whose <Reuse> uses get placeholders (fragments.ts has the parts it works with, fragment-table.ts the
// shared store).
import { type SharedFragmentsInit, SharedFragments } from './fragment-table.ts';
import {
  CAPTURING,
  type ComponentLike,
  type FragmentCounts,
  type FragmentStore,
  type FragmentStoreKind,
  INLINE,
  markHtml,
  notReusable,
  type Part,
  Placeholders,
  splicePage,
  ThreadFragments,
} from './fragments.ts';

/** Where Reuse finds the host of the calling thread (one per thread; modules may be loaded twice). */
const HOST_KEY = Symbol.for('astro-poem-cache:fragment-host');

/** What the main thread hands every render thread (structured-cloneable). */
export interface FragmentConfig {
  kind: FragmentStoreKind;
  /** Random per build: placeholders of another build never match. */
  token: string;
  /** The cache this build's fragments belong to (cacheIdentity of the file, or shm:<name>). */
  identity: string;
  shared?: SharedFragmentsInit;
}

/** Installs `host` as the calling thread's fragment host (undefined removes it). */
export function setFragmentHost(host: FragmentHost | undefined): void {
  const g = globalThis as { [HOST_KEY]?: FragmentHost };
  if (host) g[HOST_KEY] = host;
  else delete g[HOST_KEY];
}

/**
 * Installs this thread's host for a build's fragments, unless they belong to another version of the cache than
 * the one `identity` names (what this thread mapped): a stale cache's fragments are never served, the thread's
 * pages then render every <Reuse> in place. `note` goes to the build log.
 */
export function installFragmentHost(
  config: FragmentConfig,
  identity: string,
  thread: string,
  note: (message: string) => void,
): FragmentHost | undefined {
  if (config.identity !== identity) {
    const cache = identity.split('\0')[0];
    note(
      `fragments off in ${thread}: its cache (${cache}) is not the one this build's fragments belong to ` +
        '(it changed since the build started)',
    );
    return undefined;
  }
  const host = new FragmentHost(config, (component, reason) => {
    note(`fragments of ${component} are rendered on every page: ${reason}`);
  });
  setFragmentHost(host);
  return host;
}

/** The host that owns the page `result` renders, or undefined (render inline). */
export function fragmentHostFor(result: { request?: Request; [CAPTURING]?: boolean }): FragmentHost | undefined {
  const host = (globalThis as { [HOST_KEY]?: FragmentHost })[HOST_KEY];
  if (!host || result[CAPTURING] || !result.request || !host.owns(result.request)) return undefined;
  return host;
}

export type NotReusedNote = (component: string, reason: string) => void;

/**
 * The fragment host of one thread: owns the requests it renders (their pages get placeholders), keeps the
 * store, splices pages. Reuse calls use(); the render loop calls own() before and finish() after a page.
 */
export class FragmentHost {
  private readonly owned = new WeakSet<Request>();
  readonly marks: Placeholders;
  readonly store: FragmentStore;
  private readonly noted = new Set<string>();
  private readonly note: NotReusedNote;
  constructor(config: FragmentConfig, note: NotReusedNote) {
    this.note = note;
    const mark = markHtml;
    this.marks = new Placeholders(config.token);
    this.store =
      config.kind === 'shared' && config.shared
        ? new SharedFragments(config.shared, this.marks, mark)
        : new ThreadFragments(this.marks, mark, config.kind !== 'strings');
  }
  get counts(): FragmentCounts {
    return this.store.counts;
  }
  owns(request: Request): boolean {
    return this.owned.has(request);
  }
  /** The page of this request gets placeholders (call before rendering it). */
  own(request: Request): void {
    this.owned.add(request);
  }
  /** The page's bytes with fragments spliced in (call once per owned page, after rendering it). */
  finish(request: Request, page: Uint8Array): Uint8Array {
    this.owned.delete(request);
    return this.store.splices ? splicePage(page, this.marks, this.store) : page;
  }
  /**
   * What Reuse renders for `component` with `props` (key: its canonical props). `inline` renders it in place
   * with the page's own result; `capture` renders it into parts with a derived result. `unfit`: why the
   * component may not be reused at all (known before rendering it).
   */
  use(
    component: ComponentLike,
    key: string,
    inline: () => unknown,
    capture: () => Promise<Part[]>,
    unfit?: string,
  ): unknown {
    const counts = this.store.counts;
    const hit = this.store.lookup(component, key);
    if (hit === INLINE) {
      counts.inline++;
      return inline();
    }
    if (hit !== undefined && !(hit instanceof Promise)) {
      counts.reused++;
      return hit.out;
    }
    if (!hit && unfit) {
      this.notOnce(component, unfit);
      counts.inline++;
      return inline();
    }
    const pending =
      hit ??
      this.store.produce(component, key, () =>
        capture().then((parts) => {
          const why = notReusable(parts);
          if (why) this.notOnce(component, why);
          return parts;
        }),
      );
    return pending.then((f) => {
      if (f === INLINE) {
        counts.inline++;
        return inline();
      }
      if (hit) counts.reused++;
      return f.out;
    });
  }
  private notOnce(component: ComponentLike, reason: string): void {
    const name = component.moduleId ?? (component.name || 'a component');
    const k = `${name}\0${reason}`;
    if (this.noted.has(k)) return;
    this.noted.add(k);
    this.note(name, reason);
  }
}
