// Fragments: HTML a page renders through <Reuse of={Component} …props />, rendered once per build and key
// (component + props) and reused on every later page. A build thread that owns a page's request installs a
// FragmentHost; Reuse then writes a short placeholder comment for each stored text segment of the fragment
// (with the fragment's script instructions between them, which each page's own render dedupes), and after
// render the host splices the segments' UTF-8 bytes into the page's bytes. Stored as bytes, a fragment is
// encoded once, not once per page. Anything the host does not own (dev, SSR, other renders) renders inline.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

/** Marks the derived SSR result a fragment is captured with (a Reuse inside it renders inline). */
export const CAPTURING = Symbol.for('astro-poem-cache:capturing');
const RENDER_INSTRUCTION = Symbol.for('astro:render');
const SLOT_STRING = Symbol.for('astro:slot-string');

/** How fragments are kept: 'thread' = each thread its own bytes; 'shared' = one SharedArrayBuffer for all
 * threads; 'strings' = each thread its own JS strings (no splicing; for comparison). */
export type FragmentStoreKind = 'thread' | 'shared' | 'strings';

/** Counts of one thread (cumulative over the build). */
export interface FragmentCounts {
  /** Fragments rendered and stored by this thread. */
  rendered: number;
  /** Uses served from the store (this thread's or, shared, another thread's fragments). */
  reused: number;
  /** Uses rendered in place because the fragment may not be reused (see notReusable). */
  inline: number;
  /** Bytes of fragment text this thread stored. */
  bytes: number;
  /** Fragments another thread rendered that this thread used (shared store). */
  adopted: number;
}

export interface Instruction {
  type: string;
  id?: string;
  content?: string;
}
/** A captured fragment: text segments and the render instructions between them, in page order. */
export type Part = string | Instruction;

export interface ComponentLike {
  (result: unknown, props: Record<string, unknown>, slots: unknown): unknown;
  isAstroComponentFactory?: boolean;
  moduleId?: string;
  propagation?: string;
}

/** Identity of a cache file version: what openCache keys its readers by. */
export function cacheIdentity(path: string): string {
  const abs = resolve(path);
  const st = statSync(abs);
  return `${abs}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

export const PLACEHOLDER_ID_DIGITS = 8;

/** `<!--pcf<token>` + 8 hex digits + `-->`: fixed length, so a page's bytes can be scanned and cut exactly. */
export class Placeholders {
  readonly prefix: Buffer;
  readonly length: number;
  private readonly head: string;
  constructor(token: string) {
    this.head = `<!--pcf${token}`;
    this.prefix = Buffer.from(this.head, 'latin1');
    this.length = this.prefix.length + PLACEHOLDER_ID_DIGITS + 3;
  }
  text(id: number): string {
    return `${this.head}${id.toString(16).padStart(PLACEHOLDER_ID_DIGITS, '0')}-->`;
  }
  /** The id of the placeholder at `at`, or -1 when the bytes there are not one. */
  idAt(bytes: Uint8Array, at: number): number {
    let id = 0;
    const start = at + this.prefix.length;
    if (start + PLACEHOLDER_ID_DIGITS + 3 > bytes.length) return -1;
    for (let i = start; i < start + PLACEHOLDER_ID_DIGITS; i++) {
      const c = bytes[i];
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1; // 0-9, a-f
      if (d < 0) return -1;
      id = id * 16 + d;
    }
    const end = start + PLACEHOLDER_ID_DIGITS;
    return bytes[end] === 45 && bytes[end + 1] === 45 && bytes[end + 2] === 62 ? id : -1;
  }
}

/** Where a store keeps segment bytes: the splicer asks it for a segment's length and copy by placeholder id. */
export interface SegmentSource {
  /** Byte length of segment `id` (throws for an id this store never gave out). */
  segmentLength(id: number): number;
  /** Copies segment `id` into `out` at `at`. */
  copySegment(id: number, out: Uint8Array, at: number): void;
}

/**
 * Splices fragment bytes into a rendered page. Returns `page` itself when it holds no placeholder, else a new
 * array of exactly the spliced length (its buffer can be transferred).
 */
export function splicePage(page: Uint8Array, marks: Placeholders, source: SegmentSource): Uint8Array {
  const view = Buffer.from(page.buffer, page.byteOffset, page.byteLength);
  let at = view.indexOf(marks.prefix);
  if (at < 0) return page;
  const found: number[] = []; // placeholder offset, segment id, segment length, …
  let size = page.byteLength;
  while (at >= 0) {
    const id = marks.idAt(page, at);
    if (id < 0) throw new Error(`fragment placeholder at byte ${at} of a page is malformed`);
    const length = source.segmentLength(id);
    found.push(at, id, length);
    size += length - marks.length;
    at = view.indexOf(marks.prefix, at + marks.length);
  }
  // Every byte is written below: no zero fill; never pooled, so its buffer is exactly the page (transferable).
  const out = Buffer.allocUnsafeSlow(size);
  let from = 0;
  let to = 0;
  for (let i = 0; i < found.length; i += 3) {
    const cut = found[i];
    to += view.copy(out, to, from, cut);
    source.copySegment(found[i + 1], out, to);
    to += found[i + 2];
    from = cut + marks.length;
  }
  view.copy(out, to, from);
  return out;
}

/** Renders `component` with `props` into a list of parts (text and instructions), with `result` as its SSR result. */
export type CaptureFn = (component: ComponentLike, props: Record<string, unknown>) => Promise<Part[]>;

/** Why a captured fragment may not be reused, or undefined when it may. */
export function notReusable(parts: Part[]): string | undefined {
  for (const p of parts) {
    if (typeof p === 'string') {
      // transition:name scopes are numbered per page (Astro counts them on the page's result).
      if (p.includes('data-astro-transition-scope')) return 'it uses view transition directives (numbered per page)';
      continue;
    }
    if (p.type === 'astro-poem-cache:not-a-template') return 'it returned something other than a template';
    if (p.type !== 'script' && p.type !== 'maybe-head') {
      return `it emits a "${p.type}" render instruction (decided per page)`;
    }
  }
  return undefined;
}

const decoder = new TextDecoder();

/** Astro's HTMLString (escape.js): a String Astro writes unescaped, recognized by a registered symbol. */
class Html extends String {}
Object.defineProperty(Html.prototype, Symbol.for('astro:html-string'), { value: true });
export const markHtml = (s: string): unknown => new Html(s);

/**
 * A destination for Astro's renderer that keeps what a component writes as parts: text as Astro's own
 * stringifyChunk would produce it, render instructions as they are (each page resolves them itself). Only
 * the first maybe-head of a fragment is kept: only a page's first maybe-head can ever print anything.
 */
export class CaptureDestination {
  readonly parts: Part[] = [];
  private text = '';
  private maybeHead = false;
  write(chunk: unknown): void {
    if (typeof chunk === 'string') {
      this.text += chunk;
    } else if (chunk !== null && typeof chunk === 'object' && (chunk as Record<symbol, unknown>)[RENDER_INSTRUCTION]) {
      this.instruction(chunk as Instruction);
    } else if (chunk instanceof Response) {
      // Astro's stringifyChunk prints nothing for a Response.
    } else if (chunk !== null && typeof chunk === 'object' && (chunk as Record<symbol, unknown>)[SLOT_STRING]) {
      const s = chunk as { instructions?: Instruction[] | null; chunks: unknown[] };
      for (const i of s.instructions ?? []) this.instruction(i);
      if (s.chunks.length) for (const c of s.chunks) this.write(c);
      else this.text += String(chunk);
    } else if (ArrayBuffer.isView(chunk)) {
      this.text += decoder.decode(chunk);
    } else {
      this.text += String(chunk);
    }
  }
  private instruction(i: Instruction): void {
    if (i.type === 'maybe-head') {
      if (this.maybeHead) return;
      this.maybeHead = true;
    }
    this.flush();
    this.parts.push(i);
  }
  private flush(): void {
    if (this.text) this.parts.push(this.text);
    this.text = '';
  }
  finish(): Part[] {
    this.flush();
    return this.parts;
  }
}

/** What a store gives Reuse for a key: what to render on the page (placeholders and instructions). */
export type Fragment = { out: unknown[] };
export const INLINE = Symbol('inline');
type Produced = Fragment | typeof INLINE;
type Entry = Produced | Promise<Produced>;

/** A store of rendered fragments: per thread (strings or bytes) or shared between threads. */
export interface FragmentStore extends SegmentSource {
  readonly splices: boolean;
  /** A stored fragment for key (string: component id + props), or INLINE, or undefined when unknown here. */
  lookup(component: ComponentLike, key: string): Entry | undefined;
  /** Renders and stores the fragment for key (this thread claims it) or waits for another thread's. */
  produce(component: ComponentLike, key: string, capture: () => Promise<Part[]>): Promise<Fragment | typeof INLINE>;
  counts: FragmentCounts;
}

/** A thread's entries: per component, key → fragment, INLINE, or the promise of one while it is made. */
export class FragmentEntries {
  private readonly byComponent = new Map<ComponentLike, Map<string, Entry>>();
  get(component: ComponentLike, key: string): Entry | undefined {
    return this.byComponent.get(component)?.get(key);
  }
  /** Keeps `pending` for key until it settles, then what it produced; a failure is forgotten (tried again). */
  remember(component: ComponentLike, key: string, pending: Promise<Produced>): Promise<Produced> {
    let table = this.byComponent.get(component);
    if (!table) this.byComponent.set(component, (table = new Map()));
    const t = table;
    const settled = pending.then(
      (f) => {
        t.set(key, f);
        return f;
      },
      (err) => {
        t.delete(key);
        throw err;
      },
    );
    t.set(key, settled);
    return settled;
  }
}

/** Per-thread store: Map per component of key → fragment; text kept as UTF-8 bytes (or as strings). */
export class ThreadFragments implements FragmentStore {
  readonly counts: FragmentCounts = { rendered: 0, reused: 0, inline: 0, bytes: 0, adopted: 0 };
  readonly splices: boolean;
  private readonly entries = new FragmentEntries();
  private readonly segments: Buffer[] = [];
  private readonly marks: Placeholders;
  private readonly mark: (s: string) => unknown;
  private readonly oddIds: boolean;
  /** oddIds: placeholder ids 4n + 1 (beside a shared store whose ids are multiples of 4). */
  constructor(marks: Placeholders, mark: (s: string) => unknown, asBytes: boolean, oddIds = false) {
    this.marks = marks;
    this.mark = mark;
    this.splices = asBytes;
    this.oddIds = oddIds;
  }
  lookup(component: ComponentLike, key: string): Entry | undefined {
    return this.entries.get(component, key);
  }
  produce(component: ComponentLike, key: string, capture: () => Promise<Part[]>): Promise<Fragment | typeof INLINE> {
    const made = capture().then((parts) => (notReusable(parts) === undefined ? this.store(parts) : INLINE));
    return this.entries.remember(component, key, made);
  }
  private store(parts: Part[]): Fragment {
    this.counts.rendered++;
    const out = parts.map((p) => {
      if (typeof p !== 'string') return p;
      if (!this.splices) {
        this.counts.bytes += p.length;
        return this.mark(p);
      }
      const bytes = Buffer.from(p, 'utf8');
      this.counts.bytes += bytes.byteLength;
      this.segments.push(bytes);
      const n = this.segments.length - 1;
      return this.mark(this.marks.text(this.oddIds ? n * 4 + 1 : n));
    });
    return { out };
  }
  private segment(id: number): Buffer {
    const s = this.segments[this.oddIds ? (id - 1) / 4 : id];
    if (!s) throw new Error(`fragment placeholder ${id} names no stored fragment in this thread`);
    return s;
  }
  segmentLength(id: number): number {
    return this.segment(id).byteLength;
  }
  copySegment(id: number, out: Uint8Array, at: number): void {
    this.segment(id).copy(out, at);
  }
}

/** Notes that a component's fragments are rendered on every page, once per component and reason. */
