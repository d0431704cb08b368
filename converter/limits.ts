// Configurable maxima for what the converter accepts: a hostile or runaway input fails early with a
// message naming the file, the value, the limit and how to raise it, instead of exhausting memory or disk.
import { stat } from 'node:fs/promises';
import { ConvertError } from './errors.ts';

export interface Limits {
  /** Largest input file in bytes. Default 8 GiB. Checked before the file is read. */
  maxFileBytes?: number;
  /** Most poems in poems.json. Default 10,000,000. */
  maxPoems?: number;
  /** Largest embedding dimension. Default 65,536. */
  maxDimension?: number;
  /** Longest similarity ranking or diversity sequence. Default 10,000,000. */
  maxListLength?: number;
}

export const DEFAULT_LIMITS: Required<Limits> = {
  maxFileBytes: 8 * 2 ** 30,
  maxPoems: 10_000_000,
  maxDimension: 65_536,
  maxListLength: 10_000_000,
};

export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/** The limits with defaults applied; throws a TypeError naming a bad key or value. */
export function resolveLimits(given: Limits | undefined, where = 'limits'): Required<Limits> {
  const out = { ...DEFAULT_LIMITS };
  if (given === undefined) return out;
  if (given === null || typeof given !== 'object' || Array.isArray(given))
    throw new TypeError(`${where}: expected an object with ${LIMIT_NAMES.join(', ')}`);
  for (const [k, v] of Object.entries(given)) {
    if (!(LIMIT_NAMES as string[]).includes(k))
      throw new TypeError(`${where}: unknown limit "${k}" (known: ${LIMIT_NAMES.join(', ')})`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v === Infinity || (Number.isInteger(v) && v >= 1))) {
      throw new TypeError(`${where}.${k} must be an integer >= 1 or Infinity, got ${JSON.stringify(v) ?? String(v)}`);
    }
    out[k as keyof Limits] = v;
  }
  return out;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** `<file>: <what> exceeds the limit <name> = N (set limits.<name> to raise it)` */
export function limitError(file: string, what: string, name: keyof Limits, limit: number): ConvertError {
  const err = new ConvertError(
    file,
    `${what} exceeds the limit ${name} = ${fmt(limit)} (set limits.${name} to raise it)`,
  );
  return err;
}

/** Checks every input's size before anything is read (files that cannot be stat'ed are left to the converter). */
export async function checkFileSizes(files: string[], limits: Required<Limits>): Promise<void> {
  for (const file of files) {
    const st = await stat(file).catch(() => undefined);
    if (st && st.size > limits.maxFileBytes)
      throw limitError(file, `the file size ${fmt(st.size)} bytes`, 'maxFileBytes', limits.maxFileBytes);
  }
}

export function checkPoemCount(file: string, poems: number, limits: Required<Limits>): void {
  if (poems > limits.maxPoems) throw limitError(file, `the poem count ${fmt(poems)}`, 'maxPoems', limits.maxPoems);
}

/** Checks a parsed input's dimension and list lengths (the converter's per-input results). */
export function checkInputResult(
  r: { role: string; matrix?: { dim: number }; ragged?: { lengths: Uint32Array } },
  file: string,
  limits: Required<Limits>,
  poems?: { describe(row: number): string },
): void {
  if (r.matrix && r.matrix.dim > limits.maxDimension)
    throw limitError(file, `the embedding dimension ${fmt(r.matrix.dim)}`, 'maxDimension', limits.maxDimension);
  if (r.ragged) {
    const lengths = r.ragged.lengths;
    for (let i = 0; i < lengths.length; i++) {
      if (lengths[i] > limits.maxListLength) {
        const noun = r.role === 'diversity' ? 'sequence' : 'ranking';
        throw limitError(
          file,
          `the ${noun} of ${poems ? poems.describe(i) : `row ${i}`} (${fmt(lengths[i])} entries)`,
          'maxListLength',
          limits.maxListLength,
        );
      }
    }
  }
}
