// poemCache() options for reliability: limits (passed to the converter), onMismatch, and the containment of
// input and cache paths in the project root (allowOutsideRoot). Kept apart from options.ts, which only
// spreads these in.
import { realpathSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { LIMIT_NAMES, type Limits } from '../converter/limits.ts';

export interface ReliabilityOptions {
  /** Maxima for the converter's inputs: { maxFileBytes, maxPoems, maxDimension, maxListLength } (defaults: 8 GiB, 10 M, 65,536, 10 M). */
  limits?: Limits;
  /** When poems.json and another input disagree: 'error' (default) fails the build naming both files; 'warn' converts anyway and warns once per file. */
  onMismatch?: 'error' | 'warn';
  /** Allow input files and cacheFile outside the project root (default false). */
  allowOutsideRoot?: boolean;
}

export const RELIABILITY_KEYS = ['limits', 'onMismatch', 'allowOutsideRoot'] as const;

type Fail = (message: string) => Error;

export function checkReliability(o: Record<string, unknown>, fail: Fail): { limits?: Limits; onMismatch: 'error' | 'warn'; allowOutsideRoot: boolean } {
  let limits: Limits | undefined;
  if (o.limits !== undefined) {
    const l = o.limits;
    if (l === null || typeof l !== 'object' || Array.isArray(l)) throw fail(`option "limits" must be an object like { maxPoems: 1000000 }, got ${JSON.stringify(l) ?? String(l)}`);
    limits = {};
    for (const [k, v] of Object.entries(l)) {
      if (!(LIMIT_NAMES as string[]).includes(k)) throw fail(`option "limits": unknown limit "${k}" (known limits: ${LIMIT_NAMES.join(', ')})`);
      if (v === undefined) continue;
      if (typeof v !== 'number' || !(v === Infinity || (Number.isInteger(v) && v >= 1))) {
        throw fail(`option "limits.${k}" must be an integer >= 1 or Infinity (no limit), got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
      }
      limits[k as keyof Limits] = v;
    }
  }
  const onMismatch = o.onMismatch ?? 'error';
  if (onMismatch !== 'error' && onMismatch !== 'warn') throw fail(`option "onMismatch" must be "error" or "warn", got ${JSON.stringify(onMismatch) ?? String(onMismatch)}`);
  const allowOutsideRoot = o.allowOutsideRoot ?? false;
  if (typeof allowOutsideRoot !== 'boolean') throw fail(`option "allowOutsideRoot" must be true or false, got ${JSON.stringify(allowOutsideRoot) ?? String(allowOutsideRoot)}`);
  return { ...(limits ? { limits } : {}), onMismatch, allowOutsideRoot };
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

const real = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/**
 * Every input, and the cache file when the user gave one, must lie inside the project root (also after
 * following symbolic links) unless allowOutsideRoot. The default cache file lives in Astro's cacheDir and
 * is not checked.
 */
export function checkContainment(root: string, paths: { option: string; file: string; exists: boolean }[], allowOutsideRoot: boolean, fail: Fail): void {
  if (allowOutsideRoot) return;
  const realRoot = real(root);
  for (const { option, file, exists } of paths) {
    const hint = '(set allowOutsideRoot: true to allow it)';
    if (!inside(root, file)) throw fail(`option "${option}": ${file} is outside the project root ${root} ${hint}`);
    if (exists) {
      const r = real(file);
      if (!inside(realRoot, r)) throw fail(`option "${option}": ${file} is a link to ${r}, outside the project root ${root} ${hint}`);
    }
  }
}

export type CheckedReliability = ReturnType<typeof checkReliability>;
