// The poetry pipeline's JSON text, byte for byte as its writers produce it (facts in issue #10 and
// docs of the pipeline, gabrilend/ai-stuff neocities-modernization; nothing copied from it):
//   - dkjson (Lua): poems.json and embeddings.json with {indent = true}, diversity_cache.json compact.
//     Object keys come in Lua's pairs() order (LuaKeyOrder models it), numbers are Lua's tostring(): C's
//     "%.14g" (g14), strings escape only what dkjson's quotestring escapes (dkString), no trailing newline.
//   - C fprintf (vk_similarity.c): similarity_rankings_cache.json, `": "` spacing, one line per ranking,
//     trailing newline (cRankingsHead / cRankingLine / C_RANKINGS_TAIL).
// Large files go through DkjsonWriter over an Out (bounded memory); small values through dkjson().
import type { Out } from './out.ts';

// ---------------------------------------------------------------- numbers

/** C's %g layout of a nonzero magnitude given as significant digits (no trailing zeros) and decimal exponent. */
function layoutG(neg: boolean, digits: string, exp: number, precision: number): string {
  let s: string;
  if (exp < -4 || exp >= precision) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    s = `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp >= 0) {
    const int = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits.padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    s = frac ? `${int}.${frac}` : int;
  } else {
    s = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  return neg ? `-${s}` : s;
}

/** Significant digits (trailing zeros dropped) and decimal exponent of a positive number's JS text. */
function splitDecimal(text: string): { digits: string; exp: number } {
  let digits: string;
  let exp: number;
  const e = text.indexOf('e');
  if (e >= 0) {
    digits = text.slice(0, e).replace('.', '');
    exp = Number(text.slice(e + 1));
  } else {
    const dot = text.indexOf('.');
    const int = dot < 0 ? text : text.slice(0, dot);
    const frac = dot < 0 ? '' : text.slice(dot + 1);
    if (int !== '0') {
      digits = int + frac;
      exp = int.length - 1;
    } else {
      const lead = frac.length - frac.replace(/^0+/, '').length;
      digits = frac.slice(lead);
      exp = -lead - 1;
    }
  }
  return { digits: digits.replace(/0+$/, '') || '0', exp };
}

/** True when the double x is exactly digits × 10^(exp - digits.length + 1). */
function isExactly(x: number, digits: string, exp: number): boolean {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  const mant = biased === 0 ? frac : frac | (1n << 52n);
  const e2 = (biased === 0 ? 1 : biased) - 1075;
  const q = exp - digits.length + 1;
  const left = BigInt(digits) * 10n ** BigInt(Math.max(q, 0)) * 2n ** BigInt(Math.max(-e2, 0));
  const right = mant * 2n ** BigInt(Math.max(e2, 0)) * 10n ** BigInt(Math.max(-q, 0));
  return left === right;
}

/**
 * C's printf("%.14g", x), which is what Lua (5.1, LuaJIT) tostring() and so dkjson print for a number:
 * 14 significant digits rounded to nearest (exact ties to even, as glibc), trailing zeros dropped,
 * exponent form when the exponent is below -4 or at least 14, at least two exponent digits.
 */
export function g14(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const neg = x < 0;
  const a = Math.abs(x);
  let { digits, exp } = splitDecimal(String(a));
  if (a < 2.2250738585072014e-308) {
    // subnormal: fewer than 53 bits, so the shortest text is no guide to the 14 digits (5e-324)
    ({ digits, exp } = splitDecimal(a.toExponential(13)));
  } else if (digits.length > 14) {
    // The shortest round-trip text has more than 14 digits: round. A tie (the exact value has 15 digits
    // ending in 5) is the only case where toExponential (ties away from zero) and glibc (ties to even) differ.
    if (digits.length === 15 && digits.endsWith('5') && isExactly(a, digits, exp)) {
      let kept = BigInt(digits.slice(0, 14));
      if (kept % 2n === 1n) kept += 1n;
      let text = String(kept);
      if (text.length > 14) {
        exp += 1;
        text = text.slice(0, 14);
      }
      digits = text.replace(/0+$/, '');
    } else {
      ({ digits, exp } = splitDecimal(a.toExponential(13)));
    }
  }
  return layoutG(neg, digits, exp, 14);
}

/**
 * A float32 value as the pipeline's embeddings hold it: the model server sends the shortest decimal that
 * reads back as the same float32 (e.g. -4.797619e-05), Lua reads it as a double and prints it with %.14g
 * (at most 9 digits, so they survive unchanged). `x` must be a float32 value (Math.fround(x) === x).
 */
export function f32Text(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  if (!Number.isFinite(x)) throw new Error(`f32Text: not finite: ${x}`);
  let best = '';
  for (let p = 7; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) {
      best = s;
      // 7 digits read back: fewer might too (rare: values with short decimal forms)
      for (let q = 6; p === 7 && q >= 1; q--) {
        const t = x.toPrecision(q);
        if (Math.fround(Number(t)) !== x) break;
        best = t;
      }
      break;
    }
  }
  if (!best) throw new Error(`f32Text: ${x} is not a float32 value`);
  const neg = best.startsWith('-');
  const { digits, exp } = splitDecimal(neg ? best.slice(1) : best);
  return layoutG(neg, digits, exp, 14);
}

// ---------------------------------------------------------------- strings

// dkjson's quotestring: C0 controls, '"', '\', DEL, then (as UTF-8 sequences) U+0080-009F, U+00AD,
// U+0600-0604, U+070F, U+17B4-17B5, U+200C-200F, U+2028-202F, U+2060-206F, U+FEFF, U+FFF0-FFFF.
// Everything else, '/' included, is written raw. \b \f \n \r \t have short forms; the rest \u%.4x.
const DK_ESCAPED = new RegExp(
  '[\\u0000-\\u001f"\\\\\\u007f-\\u009f\\u00ad\\u0600-\\u0604\\u070f\\u17b4\\u17b5' +
    '\\u200c-\\u200f\\u2028-\\u202f\\u2060-\\u206f\\ufeff\\ufff0-\\uffff]',
  'g',
);
const DK_SHORT: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};
const dkEscape = (c: string): string => DK_SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A string as dkjson writes it, quotes included. */
export function dkString(s: string): string {
  DK_ESCAPED.lastIndex = 0;
  return DK_ESCAPED.test(s) ? `"${s.replace(DK_ESCAPED, dkEscape)}"` : `"${s}"`;
}

// ---------------------------------------------------------------- key order

/** How the keys of one object are ordered when written. */
export interface KeyOrder {
  order(keys: readonly string[]): string[];
}

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A model of Lua's pairs() order: keys sit in hash slots of a table whose size is a power of two, so the
 * order looks arbitrary, is the same for every table with the same keys in one run, changes with the set's
 * size class, and changes between runs (another Lua version, another insertion history). Here: keys sorted
 * by a hash of (run, size class, key). Never alphabetical by design.
 */
export class LuaKeyOrder implements KeyOrder {
  private readonly cache = new Map<string, string[]>();
  readonly run: number;
  constructor(run: number) {
    this.run = run >>> 0;
  }
  private rank(key: string, sizeClass: number): number {
    let h = mix32((this.run ^ Math.imul(sizeClass + 1, 0x9e3779b1)) >>> 0) ^ 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return mix32(h >>> 0);
  }
  order(keys: readonly string[]): string[] {
    const id = keys.length < 64 ? keys.join('\u0000') : '';
    const hit = id ? this.cache.get(id) : undefined;
    if (hit) return hit;
    const sizeClass = Math.ceil(Math.log2(Math.max(1, keys.length)));
    const ranks = new Map(keys.map((k) => [k, this.rank(k, sizeClass)]));
    const out = [...keys].sort((a, b) => ranks.get(a)! - ranks.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
    if (id) this.cache.set(id, out);
    return out;
  }
}

/** Keys as given (for writers whose order is fixed, and for tests). */
export const INSERTION_ORDER: KeyOrder = { order: (keys) => [...keys] };

// ---------------------------------------------------------------- dkjson values

export interface DkOptions {
  /** dkjson's {indent = true}: newline and two spaces per level before every object key. */
  indent: boolean;
  order: KeyOrder;
}

/** Text that is already one encoded value (e.g. a dkNumbers array), written as is. */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** A JSON value as Lua holds it: undefined members are absent (nil); an empty object is an empty table. */
export type LuaValue =
  | string
  | number
  | boolean
  | null
  | undefined
  | RawJson
  | readonly LuaValue[]
  | { readonly [k: string]: LuaValue };

const pad = (level: number) => `\n${'  '.repeat(level)}`;

/**
 * dkjson.encode(value, {indent}) of a small value. `level` is dkjson's nesting level of the value (0 at the
 * top): an object's keys go at level + 1, its closing brace at level; arrays stay on one line. Numbers print
 * as %.14g, NaN and infinities as null (dkjson's rule); an empty object or array is an empty Lua table: [].
 */
export function dkjson(value: LuaValue, o: DkOptions, level = 0): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return dkString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? g14(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) {
    let s = '[';
    for (let i = 0; i < value.length; i++) s += (i ? ',' : '') + dkjson(value[i], o, level + 1);
    return `${s}]`;
  }
  const obj = value as { readonly [k: string]: LuaValue };
  const keys = o.order.order(Object.keys(obj).filter((k) => obj[k] !== undefined));
  if (keys.length === 0) return '[]';
  let s = '{';
  keys.forEach((k, i) => {
    s += `${i ? ',' : ''}${o.indent ? pad(level + 1) : ''}${dkString(k)}:${dkjson(obj[k], o, level + 1)}`;
  });
  return `${s}${o.indent ? pad(level) : ''}}`;
}

/** An array of numbers as dkjson writes it, each through `text` (default %.14g). */
export function dkNumbers(values: ArrayLike<number>, text: (x: number) => string = g14): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = text(values[i]);
  return `[${parts.join(',')}]`;
}

// ---------------------------------------------------------------- streaming dkjson

interface Frame {
  kind: 'object' | 'array';
  level: number;
  count: number;
  keyed: boolean;
}

/**
 * dkjson output written piece by piece: open objects and arrays, write keys and complete values (or text
 * already encoded), close. The caller chooses key order (from the same KeyOrder) for streamed objects.
 */
export class DkjsonWriter {
  private readonly stack: Frame[] = [];
  private done = false;
  readonly out: Out;
  readonly o: DkOptions;
  constructor(out: Out, o: DkOptions) {
    this.out = out;
    this.o = o;
  }

  /** The level a value written now has (dkjson's `level` argument). */
  private slot(): number {
    const top = this.stack.at(-1);
    if (!top) {
      if (this.done) throw new Error('DkjsonWriter: the top-level value is complete');
      return 0;
    }
    if (top.kind === 'object') {
      if (!top.keyed) throw new Error('DkjsonWriter: a value inside an object needs a key first');
      top.keyed = false;
    } else if (top.count++ > 0) {
      this.out.write(',');
    }
    return top.level + 1;
  }
  private finished(): void {
    if (this.stack.length === 0) this.done = true;
  }

  key(k: string): this {
    const top = this.stack.at(-1);
    if (top?.kind !== 'object' || top.keyed) {
      throw new Error(`DkjsonWriter: key ${JSON.stringify(k)} outside an object`);
    }
    this.out.write(`${top.count++ ? ',' : ''}${this.o.indent ? pad(top.level + 1) : ''}${dkString(k)}:`);
    top.keyed = true;
    return this;
  }
  value(v: LuaValue): this {
    this.out.write(dkjson(v, this.o, this.slot()));
    this.finished();
    return this;
  }
  /** Text that is already one encoded value (e.g. dkNumbers output). */
  raw(text: string): this {
    this.slot();
    this.out.write(text);
    this.finished();
    return this;
  }
  /** `count` array elements already encoded (comma-separated text, e.g. from a worker thread). */
  rawItems(text: string | Uint8Array, count: number): this {
    const top = this.stack.at(-1);
    if (top?.kind !== 'array') throw new Error('DkjsonWriter: rawItems outside an array');
    if (count === 0) return this;
    if (top.count > 0) this.out.write(',');
    top.count += count;
    this.out.write(text);
    return this;
  }
  /** The dkjson level a value written now has (for values encoded elsewhere). */
  nextLevel(): number {
    const top = this.stack.at(-1);
    return top ? top.level + 1 : 0;
  }
  openObject(): this {
    const level = this.slot();
    this.out.write('{');
    this.stack.push({ kind: 'object', level, count: 0, keyed: false });
    return this;
  }
  openArray(): this {
    const level = this.slot();
    this.out.write('[');
    this.stack.push({ kind: 'array', level, count: 0, keyed: false });
    return this;
  }
  close(): this {
    const top = this.stack.pop();
    if (!top) throw new Error('DkjsonWriter: nothing to close');
    if (top.kind === 'object') {
      // dkjson writes an empty table as []: a streamed object must not be empty
      if (top.count === 0) throw new Error('DkjsonWriter: an empty object is written as [] by dkjson; give it a key');
      this.out.write(`${this.o.indent ? pad(top.level) : ''}}`);
    } else {
      this.out.write(']');
    }
    this.finished();
    return this;
  }
}

// ---------------------------------------------------------------- the C rankings file

export interface RankingsMeta {
  total_poems: number;
  sort_threads: number;
  /** Absent in the older writer (all N - 1 neighbours, no top_k line); 0 = all. */
  top_k?: number;
  algorithm?: string;
  format?: string;
  description?: string;
}

/** vk_similarity.c's header, up to and including the `"rankings": {` line. */
export function cRankingsHead(m: RankingsMeta): string {
  const description =
    m.description ??
    (m.top_k === undefined
      ? 'Pre-sorted similarity rankings for fast HTML generation'
      : 'Pre-sorted similarity rankings, top-K neighbours per poem (top_k=0 means all)');
  return (
    '{\n  "metadata": {\n' +
    `    "total_poems": ${m.total_poems},\n` +
    `    "algorithm": "${m.algorithm ?? 'gpu_vulkan_parallel_c'}",\n` +
    `    "format": "${m.format ?? 'pre_sorted_rankings'}",\n` +
    `    "sort_threads": ${m.sort_threads},\n` +
    (m.top_k === undefined ? '' : `    "top_k": ${m.top_k},\n`) +
    `    "description": "${description}"\n` +
    '  },\n  "rankings": {\n'
  );
}

/** One ranking line: `    "17": [5, 903, 12],` (no comma after the last), `texts` maps a value to its text. */
export function cRankingLine(key: number, values: ArrayLike<number>, last: boolean, texts?: readonly string[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = texts ? texts[values[i]] : String(values[i]);
  return `    "${key}": [${parts.join(', ')}]${last ? '' : ','}\n`;
}

export const C_RANKINGS_TAIL = '  }\n}\n';
