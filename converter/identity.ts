// Poem identity. A poem is its position in poems.json: row r (0-based) is poem_index r + 1, the number the
// pipeline's own files use. The other inputs name poems in one of three ways, a "reading" of their numbers:
//   id      the poem's "id" (unique only within a category in the real pipeline: it restarts per category)
//   index   the 1-based poem_index (embeddings' poem_index, the similarity rankings' keys and values)
//   index0  the 0-based position (the diversity cache's keys and values)
// With keys: 'auto' the readings that fit every number of a file are kept as it streams; the file's reading
// is the one left at its end (readings that agree on every poem are one answer).
import { closeSync, openSync, readSync } from 'node:fs';
import { ConvertError } from './errors.ts';

export const KEY_READINGS = ['id', 'index', 'index0'] as const;
export type KeyReading = (typeof KEY_READINGS)[number];
export const KEY_MODES = ['auto', ...KEY_READINGS] as const;
export type KeyMode = (typeof KEY_MODES)[number];

export const MAX_ID = 0x7fffffff;

/** How a reading is spelled in messages. */
export const READING_NAMES: Record<KeyReading, string> = {
  id: 'poem ids',
  index: '1-based poem_index',
  index0: '0-based positions',
};

/** What the other inputs need to know of poems.json: every poem's id and a label for messages. */
export interface PoemList {
  ids: Int32Array;
  /** Per row: the poem's filepath when poems.json has one, else its category and id. */
  labels: string[];
}

const NO_ROW = -1;
const AMBIGUOUS = -2;

/** The poems of poems.json as other files name them. */
export class PoemIndex {
  readonly count: number;
  readonly ids: Int32Array;
  readonly labels: string[];
  /** id -> row, AMBIGUOUS (-2) for ids that name several poems, NO_ROW (-1) for none; dense when compact. */
  private readonly dense?: Int32Array;
  private readonly base: number = 0;
  private readonly map?: Map<number, number>;
  /** Ids that name more than one poem. */
  readonly repeatedIds: number;

  constructor(list: PoemList) {
    this.ids = list.ids;
    this.labels = list.labels;
    this.count = list.ids.length;
    let min = MAX_ID;
    let max = 0;
    for (const id of this.ids) {
      if (id < min) min = id;
      if (id > max) max = id;
    }
    let repeated = 0;
    if (this.count > 0 && max - min + 1 <= 4 * this.count + 1024) {
      this.base = min;
      const t = (this.dense = new Int32Array(max - min + 1).fill(NO_ROW));
      for (let r = 0; r < this.count; r++) {
        const k = this.ids[r] - min;
        if (t[k] === NO_ROW) t[k] = r;
        else if (t[k] !== AMBIGUOUS) {
          t[k] = AMBIGUOUS;
          repeated++;
        }
      }
    } else {
      const m = (this.map = new Map());
      for (let r = 0; r < this.count; r++) {
        const prev = m.get(this.ids[r]);
        if (prev === undefined) m.set(this.ids[r], r);
        else if (prev !== AMBIGUOUS) {
          m.set(this.ids[r], AMBIGUOUS);
          repeated++;
        }
      }
    }
    this.repeatedIds = repeated;
  }

  /** The row of a poem id: -1 when no poem has it, -2 when several do. */
  rowOfId(id: number): number {
    if (this.dense) {
      const k = id - this.base;
      return k >= 0 && k < this.dense.length ? this.dense[k] : NO_ROW;
    }
    return this.map!.get(id) ?? NO_ROW;
  }

  /** Every row with this id (for messages; a scan). */
  rowsOfId(id: number): number[] {
    const rows: number[] = [];
    for (let r = 0; r < this.count; r++) if (this.ids[r] === id) rows.push(r);
    return rows;
  }

  /** The row a number names under a reading, or -1 (-2: an id several poems have). */
  rowOf(reading: KeyReading, v: number): number {
    if (reading === 'index') return v >= 1 && v <= this.count ? v - 1 : NO_ROW;
    if (reading === 'index0') return v >= 0 && v < this.count ? v : NO_ROW;
    return this.rowOfId(v);
  }

  /** "poem_index 57 (fediverse/0058.txt)" */
  describe(row: number): string {
    return `poem_index ${row + 1} (${this.labels[row]})`;
  }

  /** Why `v` names no poem under `reading` (one clause); `label` says what `v` is ("poem_index 9"). */
  whyNot(reading: KeyReading, v: number, label = String(v)): string {
    if (reading === 'index') return `${label} is outside 1..${this.count}`;
    if (reading === 'index0') return `${label} is outside 0..${this.count - 1}`;
    const rows = this.rowsOfId(v);
    if (rows.length === 0) return `no poem has id ${v}`;
    const shown = rows
      .slice(0, 4)
      .map((r) => this.labels[r])
      .join(', ');
    return `id ${v} names ${rows.length} poems (${shown}${rows.length > 4 ? ', …' : ''})`;
  }

  /** What a number read this way must be (for "expected ..."). */
  expected(reading: KeyReading): string {
    if (reading === 'index') return `a 1-based poem_index of poems.json (1..${this.count})`;
    if (reading === 'index0') return `a 0-based position in poems.json (0..${this.count - 1})`;
    return 'the id of exactly one poem of poems.json';
  }

  /** True when two readings name the same poem for every number either accepts. */
  agree(a: KeyReading, b: KeyReading): boolean {
    if (a === b) return true;
    if (a !== 'id' && b !== 'id') return this.count === 0;
    const offset = a === 'index' || b === 'index' ? 1 : 0;
    if (this.repeatedIds > 0) return false;
    for (let r = 0; r < this.count; r++) if (this.ids[r] !== r + offset) return false;
    return true;
  }

  /**
   * A table for ByteSource.readIdRows: value -> value for the numbers every reading in `readings` accepts,
   * -1 for the rest, so the fast path copies the raw numbers and stops at the first one a reading refuses.
   */
  acceptTable(readings: ReadonlySet<KeyReading>): Int32Array {
    let hi = Math.max(0, this.count);
    if (readings.has('id')) {
      for (const id of this.ids) if (id > hi) hi = id;
      // sparse ids: a bounded table (numbers beyond it take the precise path, which asks rowOf)
      hi = Math.min(hi, 4 * this.count + 1024);
    }
    const t = new Int32Array(hi + 1).fill(-1);
    for (let v = 0; v <= hi; v++) {
      let ok = true;
      for (const reading of readings) {
        if (this.rowOf(reading, v) < 0) {
          ok = false;
          break;
        }
      }
      if (ok) t[v] = v;
    }
    return t;
  }

  /** The rows of raw numbers under a reading, in place (every number was accepted by the reading). */
  toRows(reading: KeyReading, values: Int32Array): void {
    if (reading === 'index0') return;
    if (reading === 'index') {
      for (let i = 0; i < values.length; i++) values[i] -= 1;
      return;
    }
    const dense = this.dense;
    if (!dense) {
      for (let i = 0; i < values.length; i++) values[i] = this.rowOfId(values[i]);
      return;
    }
    // the hot case of id-keyed lists (every number was accepted: it is in the table)
    const base = this.base;
    for (let i = 0; i < values.length; i++) values[i] = dense[values[i] - base];
  }
}

/** Where a number was met: a key (its token offset) or an element of the list whose '[' is at `offset`. */
export interface Place {
  offset?: number;
  element?: number;
}

interface Violation {
  value: number;
  place: Place;
}

/**
 * line:column of a byte offset, or of element `element` of the array whose '[' is at that offset (columns
 * in characters). Read from the file on demand: only messages need it.
 */
export function locate(file: string, place: Place): { line: number; column: number; offset: number } | undefined {
  if (place.offset === undefined || place.offset < 0) return undefined;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let line = 1;
    let column = 1;
    let pos = 0;
    // inside the array: depth (1 = its elements), commas still to pass, in a string, after a backslash
    let depth = 0;
    let commas = place.element ?? 0;
    let inString = false;
    let escaped = false;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return undefined;
      for (let i = 0; i < n; i++, pos++) {
        const c = buf[i];
        if (pos === place.offset && place.element === undefined) return { line, column, offset: pos };
        if (pos >= place.offset) {
          if (pos === place.offset)
            depth = 0; // the '['
          else if (inString) {
            if (escaped) escaped = false;
            else if (c === 0x5c) escaped = true;
            else if (c === 0x22) inString = false;
          } else if (depth === 1 && commas === 0 && c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
            return c === 0x5d ? undefined : { line, column, offset: pos };
          } else if (c === 0x22) inString = true;
          else if (c === 0x2c && depth === 1) commas--;
          if (!inString && (c === 0x5b || c === 0x7b)) depth++;
          else if (!inString && (c === 0x5d || c === 0x7d) && --depth === 0) return undefined;
        }
        if (c === 0x0a) {
          line++;
          column = 1;
        } else if ((c & 0xc0) !== 0x80) column++;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Tracks which readings still fit a file's numbers. Numbers go through `accepts` (or, in bulk on the fast
 * path, through the table of acceptTable()); the first number a reading refuses rules it out and is kept for
 * the message. A number that rules out the last reading is an error at that number (the caller throws it).
 */
export class ReadingTracker {
  readonly mode: KeyMode;
  private readonly index: PoemIndex;
  private readonly viable: Set<KeyReading>;
  private readonly ruledOut = new Map<KeyReading, Violation>();
  private table?: Int32Array;
  private readonly file: string;
  private readonly option: string;

  /** `option`: how the user sets the reading, for messages (e.g. 'keys.similarity (--similarity-keys)'). */
  constructor(index: PoemIndex, mode: KeyMode, file: string, option: string) {
    this.index = index;
    this.mode = mode;
    this.file = file;
    this.option = option;
    this.viable = new Set(mode === 'auto' ? KEY_READINGS : [mode]);
    // ids that name several poems cannot be read as ids: rule that out before the first number
    if (mode === 'auto' && index.repeatedIds > 0) {
      const first = index.ids.find((id) => index.rowOfId(id) === -2)!;
      this.ruledOut.set('id', { value: first, place: {} });
      this.viable.delete('id');
    }
  }

  /** The readings still possible. */
  get readings(): ReadonlySet<KeyReading> {
    return this.viable;
  }

  /** For readIdRows: raw value -> raw value when every remaining reading accepts it, else -1. */
  acceptTable(): Int32Array {
    return (this.table ??= this.index.acceptTable(this.viable));
  }

  /**
   * Checks one number; returns undefined when some reading still fits, else the error's what/expected (the
   * caller raises it at the number: src.fail for keys, ElementError for list elements).
   */
  accepts(v: number, place: Place): { what: string; expected: string; mismatch: boolean } | undefined {
    let changed = false;
    for (const reading of this.viable) {
      if (this.index.rowOf(reading, v) >= 0) continue;
      if (this.viable.size === 1) return this.noReading(reading, v);
      this.viable.delete(reading);
      this.ruledOut.set(reading, { value: v, place });
      changed = true;
    }
    if (changed) this.table = undefined;
    return undefined;
  }

  private noReading(last: KeyReading, v: number): { what: string; expected: string; mismatch: boolean } {
    // a number no poem has (not one that names several) is what a file made from another poems.json has
    const mismatch = this.index.rowOf(last, v) === -1;
    if (this.mode !== 'auto') {
      return {
        what: this.index.whyNot(last, v),
        expected: `${this.index.expected(last)} (${this.option} is "${this.mode}")`,
        mismatch,
      };
    }
    const others = KEY_READINGS.filter((r) => r !== last && this.ruledOut.has(r)).map((r) => {
      const o = this.ruledOut.get(r)!;
      const at = locate(this.file, o.place);
      return `as ${READING_NAMES[r]}, ${this.index.whyNot(r, o.value)}${at ? ` (at ${at.line}:${at.column})` : ''}`;
    });
    return {
      what:
        `${v} names no poem in any reading: as ${READING_NAMES[last]}, ${this.index.whyNot(last, v)}` +
        (others.length ? `; ${others.join('; ')}` : ''),
      expected:
        'numbers that all name poems of poems.json one way ' + `(set ${this.option} to id, index or index0 to choose)`,
      mismatch,
    };
  }

  /**
   * The file's reading, once every number went through accepts(). Two readings that both fit and name
   * different poems are an error naming both.
   */
  decide(sample?: number): KeyReading {
    const left = [...this.viable];
    if (left.length === 1) return left[0];
    const [a, b] = left;
    if (left.every((r) => this.index.agree(a, r))) return left.includes('index') ? 'index' : left[0];
    const v = sample ?? 1;
    const name = (r: KeyReading) => {
      const row = this.index.rowOf(r, v);
      return row >= 0 ? this.index.describe(row) : 'no poem';
    };
    throw new ConvertError(
      this.file,
      `every number fits two readings that name different poems: as ${READING_NAMES[a]}, ${v} is ${name(a)}; ` +
        `as ${READING_NAMES[b]}, ${v} is ${name(b)}`,
      `one reading (set ${this.option} to "${a}" or "${b}")`,
    );
  }
}
