// Option validation for poemCache(): every message names the option, the value and why it is wrong.
import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, nativeLoadError } from '../native/index.ts';
import { checkContainment, checkReliability, RELIABILITY_KEYS, type CheckedReliability, type ReliabilityOptions } from './reliability-options.ts';

export interface PoemCacheOptions extends ReliabilityOptions {
  /** poems.json, relative to the Astro project root (config.root) or absolute. Required. */
  poems: string;
  /** embeddings.json (optional). */
  embeddings?: string;
  /** similarity_rankings_cache.json (optional). */
  similarity?: string;
  /** diversity_cache.json (optional). */
  diversity?: string;
  /** The binary cache file. Default: `<Astro cacheDir>/poem-cache/poems.cache`. Relative paths are resolved against the project root. */
  cacheFile?: string;
  /** Worker threads that prerender pages. Default: available cores (`os.availableParallelism()`, at least 1): the
   * main thread is mostly idle while workers render. 0 = Astro's own prerenderer (main thread). */
  workers?: number;
  /** Neighbours per listing page (exported as `pageSize`). Default 100. */
  pageSize?: number;
  /** Most listing pages per poem (exported as `maxPagesPerPoem`). Default `Infinity` = no limit; 0 is rejected. */
  maxPagesPerPoem?: number;
  /**
   * How builds hand the cache to render threads. 'file' (default): every thread maps the cache file.
   * 'shm': at build start the file is copied into a POSIX shared-memory segment (mode 0600, random name,
   * unlinked at build end, on exit and on SIGINT/SIGTERM; stale ones swept) that threads map read-only.
   * Needs the native addon. Applies to `astro build`; the dev server always reads the file.
   */
  share?: 'file' | 'shm';
  /**
   * `<Reuse of={Component} …props />` (from virtual:poem-cache) renders each distinct fragment once per build
   * and splices its bytes into every page that uses it. Default true; false renders every use in place.
   */
  fragments?: boolean;
}

export const INPUT_ROLES = ['poems', 'embeddings', 'similarity', 'diversity'] as const;
export type InputRole = (typeof INPUT_ROLES)[number];

/** Options after validation, with defaults applied (paths still as given). */
export interface CheckedOptions extends CheckedReliability {
  poems: string;
  embeddings?: string;
  similarity?: string;
  diversity?: string;
  cacheFile?: string;
  workers: number;
  pageSize: number;
  maxPagesPerPoem: number;
  share: 'file' | 'shm';
  fragments: boolean;
}

/** Options with every path made absolute against the project root and the Astro cache directory. */
export interface ResolvedOptions extends CheckedOptions {
  root: string;
  cacheFile: string;
  inputs: { role: InputRole; file: string }[];
}

const KNOWN = new Set(['poems', 'embeddings', 'similarity', 'diversity', 'cacheFile', 'workers', 'pageSize', 'maxPagesPerPoem', ...RELIABILITY_KEYS, 'share', 'fragments']);

export class PoemCacheOptionError extends Error {
  constructor(message: string) {
    super(`poemCache: ${message}`);
    this.name = 'PoemCacheOptionError';
  }
}

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
};

/**
 * Default `workers`: one per available core. While workers render, the main thread only runs Astro's generate
 * loop and receives pages (~0.65 ms of CPU per page against ~4 ms of rendering in a worker on the example
 * site), so it needs about a sixth of a core per worker; cores − 1 left a core mostly idle (on 2 cores:
 * 1 worker ≈ 1.2× Astro's own prerenderer, 2 workers ≈ 1.7×, 3 workers slower than 2).
 */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/** Checks types and ranges (no file system access). Throws PoemCacheOptionError. */
export function checkOptions(input: unknown): CheckedOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new PoemCacheOptionError(`expected an options object like { poems: "data/poems.json" }, got ${show(input)}`);
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) {
      throw new PoemCacheOptionError(`unknown option "${key}" (known options: ${[...KNOWN].join(', ')})`);
    }
  }
  const path = (name: string, required: boolean): string | undefined => {
    const v = o[name];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.trim() === '') {
      throw new PoemCacheOptionError(
        `option "${name}" must be a non-empty path string${required ? ' (it is required)' : ''}, got ${v === undefined ? 'undefined' : show(v)}`,
      );
    }
    return v;
  };
  const int = (name: string, min: number, dflt: number, allowInfinity = false): number => {
    const v = o[name];
    if (v === undefined) return dflt;
    const ok = typeof v === 'number' && ((Number.isInteger(v) && v >= min) || (allowInfinity && v === Infinity));
    if (!ok) {
      throw new PoemCacheOptionError(
        `option "${name}" must be an integer >= ${min}${allowInfinity ? ' or Infinity (no limit)' : ''}, got ${show(v)}`,
      );
    }
    return v as number;
  };
  const bool = (name: string, dflt: boolean): boolean => {
    const v = o[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw new PoemCacheOptionError(`option "${name}" must be true or false, got ${show(v)}`);
    return v;
  };
  const share = (): 'file' | 'shm' => {
    const v = o.share;
    if (v === undefined) return 'file';
    if (v !== 'file' && v !== 'shm') throw new PoemCacheOptionError(`option "share" must be "file" or "shm", got ${show(v)}`);
    if (v === 'shm' && !loadNative()) {
      throw new PoemCacheOptionError(`option "share" is "shm", which needs the native addon poem_cache.node, and it is not available (${nativeLoadError ?? 'unknown reason'}); use share: "file" or build the addon (npm run build:native)`);
    }
    return v;
  };
  return {
    poems: path('poems', true)!,
    embeddings: path('embeddings', false),
    similarity: path('similarity', false),
    diversity: path('diversity', false),
    cacheFile: path('cacheFile', false),
    workers: int('workers', 0, defaultWorkers()),
    pageSize: int('pageSize', 1, 100),
    maxPagesPerPoem: int('maxPagesPerPoem', 1, Infinity, true),
    ...checkReliability(o, (m) => new PoemCacheOptionError(m)),
    share: share(),
    fragments: bool('fragments', true),
  };
}

const toPath = (p: string | URL): string => (p instanceof URL ? fileURLToPath(p) : p);

/** Resolves paths against the Astro root and cache dir, and checks that every input file exists. */
export function resolveOptions(checked: CheckedOptions, rootIn: string | URL, cacheDirIn: string | URL): ResolvedOptions {
  const root = toPath(rootIn);
  const cacheDir = toPath(cacheDirIn);
  const inputs: { role: InputRole; file: string }[] = [];
  for (const role of INPUT_ROLES) {
    const given = checked[role];
    if (given === undefined) continue;
    const file = resolve(root, given);
    checkContainment(root, [{ option: role, file, exists: existsSync(file) }], checked.allowOutsideRoot, (m) => new PoemCacheOptionError(m));
    if (!existsSync(file)) {
      throw new PoemCacheOptionError(`option "${role}": file not found: ${file} ("${given}" resolved against the project root ${root})`);
    }
    if (!statSync(file).isFile()) {
      throw new PoemCacheOptionError(`option "${role}": ${file} is not a file ("${given}" resolved against the project root ${root})`);
    }
    inputs.push({ role, file });
  }
  const cacheFile = checked.cacheFile === undefined
    ? join(cacheDir, 'poem-cache', 'poems.cache')
    : isAbsolute(checked.cacheFile) ? checked.cacheFile : resolve(root, checked.cacheFile);
  if (inputs.some((i) => i.file === cacheFile)) {
    throw new PoemCacheOptionError(`option "cacheFile" (${cacheFile}) must not be one of the input files`);
  }
  if (checked.cacheFile !== undefined) checkContainment(root, [{ option: 'cacheFile', file: cacheFile, exists: existsSync(cacheFile) }], checked.allowOutsideRoot, (m) => new PoemCacheOptionError(m));
  return { ...checked, root, cacheFile, inputs };
}
