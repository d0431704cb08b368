// Fragments shared by every render thread of a build: each distinct fragment is rendered by the first thread
// that needs it and its bytes are written once into a SharedArrayBuffer that every thread reads (the page
// splicer copies from it). The table is an open-addressing hash table in shared memory: one Int32 word per
// slot holds 30 bits of the key's hash and a 2-bit state, so a thread claims a slot with one
// compareExchange; the others wait for it (Atomics.waitAsync: a thread never blocks) and then decode the
// record. A thread keeps what it decoded (the parts to render) in its own small map.
import type {
  ComponentLike,
  Fragment,
  FragmentCounts,
  FragmentStore,
  Instruction,
  Part,
  Placeholders,
} from './fragments.ts';
import { FragmentEntries, INLINE, notReusable, ThreadFragments } from './fragments.ts';

/** What the main thread creates and sends to every thread (SharedArrayBuffers are shared, not copied). */
export interface SharedFragmentsInit {
  /** SLOT_INTS Int32 per slot: word (hash30 << 2 | state), record offset, record length, unused. */
  table: SharedArrayBuffer;
  /** CONTROL_INTS Int32: arena top, entries. */
  control: SharedArrayBuffer;
  /** Growable: records and segments. */
  arena: SharedArrayBuffer;
}

const SLOT_INTS = 4;
const CONTROL_INTS = 4;
const TOP = 0;
const ENTRIES = 1;
const EMPTY = 0;
const CLAIMED = 1;
const READY = 2;
/** Not in shared memory: rendered each time (not reusable) or kept per thread (no room); both always correct. */
const NOT_SHARED = 3;
const RECORD_INLINE = -1;
const RECORD_LOCAL = -2;
/** Placeholder ids are arena offsets of 8 hex digits. */
const MAX_ARENA = 2 ** 32 - 1;
const INITIAL_ARENA = 1 << 20;

/** Table sized for `expected` distinct fragments at most half full; memory is touched only where used. */
export function createSharedFragments(expected: number): SharedFragmentsInit {
  let slots = 4096;
  while (slots < expected * 2) slots *= 2;
  return {
    table: new SharedArrayBuffer(slots * SLOT_INTS * 4),
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
    arena: new (SharedArrayBuffer as GrowableSharedArrayBufferConstructor)(INITIAL_ARENA, { maxByteLength: MAX_ARENA }),
  };
}

// ES2024 library types (this repository compiles against ES2023): growable SharedArrayBuffer, Atomics.waitAsync.
type GrowableSharedArrayBufferConstructor = new (
  length: number,
  options: { maxByteLength: number },
) => SharedArrayBuffer;
type Growable = SharedArrayBuffer & { grow(length: number): void };
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/** 32-bit FNV-1a over UTF-16 code units. */
function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

type Produced = Fragment | typeof INLINE;
type Capture = () => Promise<Part[]>;

const RENDER_INSTRUCTION = Symbol.for('astro:render');
let maybeHead: Instruction | undefined;
/**
 * A render instruction made as Astro's createRenderInstruction makes it (the same property order, so the same
 * hidden class: Astro's stringifyChunk meets every chunk of the page, and a new shape would slow all of them).
 */
function instruction(p: Instruction): Instruction {
  if (p.type === 'maybe-head') {
    maybeHead ??= Object.freeze(Object.assign({ type: 'maybe-head' }, { [RENDER_INSTRUCTION]: true }));
    return maybeHead;
  }
  const i = p.type === 'script' ? { type: p.type, id: p.id, content: p.content } : { ...p };
  (i as Record<symbol, unknown>)[RENDER_INSTRUCTION] = true;
  return i;
}
const align4 = (n: number) => (n + 3) & ~3;

export class SharedFragments implements FragmentStore {
  readonly splices = true;
  readonly counts: FragmentCounts;
  private readonly words: Int32Array;
  private readonly control: Int32Array;
  private readonly arena: Growable;
  private readonly marks: Placeholders;
  private readonly mark: (s: string) => unknown;
  private readonly bytes: Uint8Array;
  private readonly ints: DataView;
  private view: Buffer;
  private readonly mask: number;
  /** This thread's decoded fragments (and pending claims or waits). */
  private readonly local = new FragmentEntries();
  /** Components without a module id, and keys that found no room: kept per thread. */
  private readonly fallback: ThreadFragments;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  constructor(init: SharedFragmentsInit, marks: Placeholders, mark: (s: string) => unknown) {
    this.marks = marks;
    this.mark = mark;
    this.words = new Int32Array(init.table);
    this.control = new Int32Array(init.control);
    this.arena = init.arena as Growable;
    this.bytes = new Uint8Array(init.arena); // length-tracking: follows grow()
    this.ints = new DataView(init.arena);
    this.view = Buffer.from(init.arena, 0, init.arena.byteLength);
    this.mask = init.table.byteLength / (SLOT_INTS * 4) - 1;
    // Its placeholder ids are odd (4n + 1); arena offsets are multiples of 4.
    this.fallback = new ThreadFragments(marks, mark, true, true);
    this.counts = this.fallback.counts; // one set of counts for the thread
  }

  lookup(component: ComponentLike, key: string) {
    const hit = this.local.get(component, key);
    return hit ?? (component.moduleId ? undefined : this.fallback.lookup(component, key));
  }

  produce(component: ComponentLike, key: string, capture: Capture): Promise<Produced> {
    if (!component.moduleId) return this.fallback.produce(component, key, capture);
    const full = `${component.moduleId}\0${key}`;
    return this.local.remember(component, key, this.claimOrWait(component, full, key, capture));
  }

  private async claimOrWait(component: ComponentLike, full: string, key: string, capture: Capture): Promise<Produced> {
    const hash = hashKey(full);
    const tag = (hash & ~3) | 0;
    const words = this.words;
    let slot = Math.imul(hash, 0x9e3779b1) >>> 0;
    for (let probes = 0; probes <= this.mask; probes++, slot++) {
      const i = (slot & this.mask) * SLOT_INTS;
      let word = Atomics.load(words, i);
      if (word === EMPTY) {
        // At most half full: beyond that, keys stay per thread (correct, only not shared).
        if (Atomics.load(this.control, ENTRIES) * 2 > this.mask + 1) return this.viaFallback(component, key, capture);
        word = Atomics.compareExchange(words, i, EMPTY, tag | CLAIMED);
        if (word === EMPTY) {
          Atomics.add(this.control, ENTRIES, 1);
          return this.render(i, tag, full, capture, component, key);
        }
      }
      if ((word & ~3) !== tag) continue;
      while ((word & 3) === CLAIMED) {
        const w = waitAsync(words, i, word);
        if (w.async) {
          // A pending waitAsync does not keep Node's event loop alive: without this, a thread with nothing
          // else to do would exit before the claimer publishes.
          const alive = setInterval(() => {}, 2 ** 30);
          try {
            await w.value;
          } finally {
            clearInterval(alive);
          }
        }
        word = Atomics.load(words, i);
      }
      if ((word & 3) === NOT_SHARED) {
        // Rendered each time, or kept per thread: both correct even if the slot is another key's (same hash).
        return words[i + 1] === RECORD_INLINE ? INLINE : this.viaFallback(component, key, capture);
      }
      const f = this.read(words[i + 1], words[i + 2], full);
      if (f) {
        this.counts.reused++;
        this.counts.adopted++;
        return f;
      }
    }
    return this.viaFallback(component, key, capture);
  }

  private viaFallback(component: ComponentLike, key: string, capture: Capture): Promise<Produced> {
    const hit = this.fallback.lookup(component, key);
    return hit === undefined ? this.fallback.produce(component, key, capture) : Promise.resolve(hit);
  }

  /** This thread claimed slot i: render, write the record, publish, wake the waiters. */
  private async render(
    i: number,
    tag: number,
    full: string,
    capture: Capture,
    component: ComponentLike,
    key: string,
  ): Promise<Produced> {
    const words = this.words;
    const publish = (state: number, offset: number, length: number) => {
      words[i + 1] = offset;
      words[i + 2] = length;
      Atomics.store(words, i, tag | state);
      Atomics.notify(words, i);
    };
    let parts: Part[];
    try {
      parts = await capture();
    } catch (err) {
      publish(NOT_SHARED, RECORD_INLINE, 0); // the error fails this page; the others render it themselves
      throw err;
    }
    if (notReusable(parts) !== undefined) {
      publish(NOT_SHARED, RECORD_INLINE, 0);
      return INLINE;
    }
    const record = this.write(full, parts);
    if (!record) {
      publish(NOT_SHARED, RECORD_LOCAL, 0);
      return this.viaFallback(component, key, async () => parts);
    }
    publish(READY, record.offset, record.length);
    this.counts.rendered++;
    return record.fragment;
  }

  /** Allocates `size` bytes of the arena (4-aligned), growing it; undefined when it is full. */
  private alloc(size: number): number | undefined {
    const n = align4(size);
    let at = Atomics.load(this.control, TOP) >>> 0;
    for (;;) {
      if (at + n > MAX_ARENA) return undefined;
      const seen = Atomics.compareExchange(this.control, TOP, at | 0, (at + n) | 0) >>> 0;
      if (seen === at) break;
      at = seen;
    }
    const end = at + n;
    if (end > this.arena.byteLength) {
      const want = Math.min(MAX_ARENA, Math.max(end, Math.floor(this.arena.byteLength * 1.5)));
      try {
        this.arena.grow(want);
      } catch {
        if (end > this.arena.byteLength) return undefined; // another thread grew it less far, or no memory
      }
    }
    return at;
  }

  /**
   * Record: [u32 key length][key][u32 program length][program JSON], program = parts with every text
   * replaced by the arena offset of its segment ([u32 length][UTF-8 bytes]).
   */
  private write(full: string, parts: Part[]): { offset: number; length: number; fragment: Fragment } | undefined {
    const texts = parts.map((p) => (typeof p === 'string' ? this.encoder.encode(p) : undefined));
    const program: (number | Instruction)[] = [];
    for (let k = 0; k < parts.length; k++) {
      const t = texts[k];
      if (!t) {
        const ins = parts[k] as Instruction;
        program.push({
          type: ins.type,
          ...(ins.id !== undefined ? { id: ins.id } : {}),
          ...(ins.content !== undefined ? { content: ins.content } : {}),
        });
        continue;
      }
      const at = this.alloc(4 + t.byteLength);
      if (at === undefined) return undefined;
      this.ints.setUint32(at, t.byteLength, true);
      this.bytes.set(t, at + 4);
      this.counts.bytes += t.byteLength;
      program.push(at);
    }
    const key = this.encoder.encode(full);
    const prog = this.encoder.encode(JSON.stringify(program));
    const length = 8 + key.byteLength + prog.byteLength;
    const offset = this.alloc(length);
    if (offset === undefined) return undefined;
    this.ints.setUint32(offset, key.byteLength, true);
    this.bytes.set(key, offset + 4);
    this.ints.setUint32(offset + 4 + key.byteLength, prog.byteLength, true);
    this.bytes.set(prog, offset + 8 + key.byteLength);
    return { offset, length, fragment: this.decode(program) };
  }

  /** The fragment of a READY record, or undefined when the record is another key's. */
  private read(offset: number, length: number, full: string): Fragment | undefined {
    const keyLength = this.ints.getUint32(offset, true);
    const key = this.decoder.decode(this.bytes.subarray(offset + 4, offset + 4 + keyLength));
    if (key !== full) return undefined;
    const progAt = offset + 8 + keyLength;
    const progLength = this.ints.getUint32(progAt - 4, true);
    if (8 + keyLength + progLength !== length) throw new Error(`shared fragment record at ${offset} is inconsistent`);
    const program = JSON.parse(this.decoder.decode(this.bytes.subarray(progAt, progAt + progLength)));
    return this.decode(program as (number | Instruction)[]);
  }

  /** What this thread renders for a fragment: placeholders for segments, its own instruction objects. */
  private decode(program: (number | Instruction)[]): Fragment {
    return { out: program.map((p) => (typeof p === 'number' ? this.mark(this.marks.text(p)) : instruction(p))) };
  }

  /** A Buffer over the whole arena as far as it has grown (Buffer views have a fixed length). */
  private arenaView(end: number): Buffer {
    if (end > this.view.length) this.view = Buffer.from(this.arena, 0, this.arena.byteLength);
    if (end > this.view.length) throw new Error(`fragment placeholder names bytes ${end} beyond the shared arena`);
    return this.view;
  }
  segmentLength(id: number): number {
    if (id % 4 !== 0) return this.fallback.segmentLength(id);
    return this.arenaView(id + 4).readUInt32LE(id);
  }
  copySegment(id: number, out: Uint8Array, at: number): void {
    if (id % 4 !== 0) {
      this.fallback.copySegment(id, out, at);
      return;
    }
    const v = this.arenaView(id + 4);
    const start = id + 4;
    this.arenaView(start + v.readUInt32LE(id)).copy(out, at, start, start + v.readUInt32LE(id));
  }
}
