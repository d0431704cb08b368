// poemCache() options: one zod schema (Astro's zod) with every default and every message, and their
// resolution against the project (paths, containment in the root, the default cache file).
// Every message names the option, the value and why it is wrong. Adding an option: one line in the schema,
// with its doc comment (which is what editors show for PoemCacheOptions).
import { existsSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'astro/zod';
import { fieldPathProblem } from '../converter/fields.ts';
import { KEY_MODES } from '../converter/identity.ts';
import type { Limits } from '../converter/limits.ts';
import { INPUT_ROLES, KEYED_ROLES, type InputRole } from '../converter/roles.ts';
import { loadNative, nativeLoadError } from '../native/index.ts';

export class PoemCacheOptionError extends Error {
  constructor(message: string) {
    super(`poemCache: ${message}`);
    this.name = 'PoemCacheOptionError';
  }
}

/** A value as messages show it. */
const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
};

type Issue = { path?: PropertyKey[]; input?: unknown };
/** A zod error function: `option "<path>" <what>, got <value>`. */
const expected = (what: string) => (iss: Issue) => `option "${iss.path?.join('.')}" ${what}, got ${show(iss.input)}`;

const pathString = (required = false) => {
  const error = expected(`must be a non-empty path string${required ? ' (it is required)' : ''}`);
  return z.string({ error }).refine((s) => s.trim() !== '', { error });
};

/** An integer >= min. */
const integer = (min: number) => {
  const error = expected(`must be an integer >= ${min}`);
  return z.number({ error }).refine((n) => Number.isInteger(n) && n >= min, { error });
};

/** An integer >= min, or Infinity for "no limit". */
const integerOrInfinity = (min: number) => {
  const error = expected(`must be an integer >= ${min} or Infinity (no limit)`);
  const finite = z.number({ error }).refine((n) => Number.isInteger(n) && n >= min, { error });
  return z.union([finite, z.literal(Infinity)], { error });
};

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: expected(`must be ${values.map((v) => `"${v}"`).join(' or ')}`) });

/** An object of known keys: `noun` is what its keys are called in messages, `example` shows one. */
const objectOf = <S extends z.ZodRawShape>(shape: S, noun: string, example: string) =>
  z.strictObject(shape, {
    error: (iss) => {
      const at = iss.path?.length ? `option "${iss.path.join('.')}"` : '';
      if (iss.code === 'unrecognized_keys') {
        const unknown = `unknown ${noun} "${iss.keys[0]}" (known ${noun}s: ${Object.keys(shape).join(', ')})`;
        return at ? `${at}: ${unknown}` : unknown;
      }
      return `${at ? `${at} must be an object` : 'expected an options object'} like ${example}, got ${show(iss.input)}`;
    },
  });

/**
 * Default `workers`: one per available core. While workers render, the main thread only runs Astro's generate
 * loop and receives pages (about a sixth of a worker's CPU per page on the example site), so cores − 1 left
 * a core mostly idle; more workers than cores is slower (BENCHMARKS.md).
 */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

const limits = objectOf(
  {
    maxFileBytes: integerOrInfinity(1).optional(),
    maxPoems: integerOrInfinity(1).optional(),
    maxDimension: integerOrInfinity(1).optional(),
    maxListLength: integerOrInfinity(1).optional(),
  } satisfies Record<keyof Limits, unknown>,
  'limit',
  '{ maxPoems: 1000000 }',
);

const keyMode = z.enum(KEY_MODES, { error: expected(`must be ${KEY_MODES.map((v) => `"${v}"`).join(', ')}`) });
const keys = objectOf(
  Object.fromEntries(KEYED_ROLES.map((r) => [r, keyMode.optional()])) as Record<
    (typeof KEYED_ROLES)[number],
    z.ZodOptional<typeof keyMode>
  >,
  'input',
  '{ similarity: "index" }',
);
const fieldPath = z
  .string({ error: expected('must be a dotted path string such as "metadata.author"') })
  .refine((path) => fieldPathProblem(path) === undefined, {
    error: (iss) => `option "${iss.path?.join('.')}": ${fieldPathProblem(iss.input)}`,
  });

const SHAPE = {
  /** poems.json, relative to the Astro project root (config.root) or absolute. Required. */
  poems: pathString(true),
  /** embeddings.json (optional). */
  embeddings: pathString().optional(),
  /** similarity_rankings_cache.json (optional). */
  similarity: pathString().optional(),
  /** diversity_cache.json (optional). */
  diversity: pathString().optional(),
  /** The binary cache file. Default: `<Astro cacheDir>/poem-cache/poems.cache`. Relative to the project root. */
  cacheFile: pathString().optional(),
  /** Worker threads that prerender pages. Default: available cores (`os.availableParallelism()`, at least 1).
   * 0 = Astro's own prerenderer (main thread). */
  workers: integer(0).default(defaultWorkers),
  /** Neighbours per listing page (exported as `pageSize`). Default 100. */
  pageSize: integer(1).default(100),
  /** Most listing pages per poem (exported as `maxPagesPerPoem`). Default `Infinity` = no limit; 0 is rejected. */
  maxPagesPerPoem: integerOrInfinity(1).default(Infinity),
  /**
   * How each input names poems: 'auto' (default: read from the data and logged once per file), 'id' (the poems'
   * "id"), 'index' (1-based poem_index, as the pipeline's embeddings and rankings do) or 'index0' (0-based
   * position, as its diversity cache does). A poem is its position in poems.json; ids may repeat. docs/INPUTS.md
   */
  keys: keys.optional(),
  /** Poem fields to store besides the defaults (filepath, content_warning, metadata.is_golden_poem, …): dotted
   * paths to scalars of a poem object, read in pages with `getCache().field(path, row)`. */
  fields: z.array(fieldPath, { error: expected('must be an array of dotted path strings') }).default([]),
  // limits and onMismatch go to convertCaches as they are (convert.ts): the converter's ReliabilityOptions
  // (converter/guard.ts) is their one type.
  /** Maxima for the converter's inputs (converter/limits.ts: defaults 8 GiB, 10 M poems, 65,536, 10 M). */
  limits: limits.optional(),
  /** When poems.json and another input disagree: 'error' (default) fails the build naming both files; 'warn'
   * converts anyway and warns once per file. */
  onMismatch: oneOf(['error', 'warn']).default('error'),
  /** Allow input files and cacheFile outside the project root (default false). */
  allowOutsideRoot: z.boolean({ error: expected('must be true or false') }).default(false),
  /**
   * How builds hand the cache to render threads. 'file' (default): every thread maps the cache file.
   * 'shm': at build start the file is copied into a POSIX shared-memory segment (mode 0600, random name,
   * unlinked at build end, on exit and on SIGINT/SIGTERM; stale ones swept) that threads map read-only.
   * Needs the native addon. Applies to `astro build`; the dev server always reads the file.
   */
  share: oneOf(['file', 'shm'])
    .default('file')
    .refine((v) => v !== 'shm' || loadNative() !== undefined, {
      error: () =>
        'option "share" is "shm", which needs the native addon poem_cache.node, and it is not available ' +
        `(${nativeLoadError ?? 'unknown reason'}); use share: "file" or build the addon (npm run build:native)`,
    }),
  /** `<Reuse of={C} …props />` (from virtual:poem-cache) renders each distinct fragment once per build and reuses
   * its bytes on every page and thread (default true); false: every use renders in place (the same output). */
  fragments: z.boolean({ error: expected('must be true or false') }).default(true),
};

const optionsSchema = objectOf(SHAPE, 'option', '{ poems: "data/poems.json" }');

export type PoemCacheOptions = z.input<typeof optionsSchema>;
/** Options after validation, with defaults applied (paths still as given). */
export type CheckedOptions = z.output<typeof optionsSchema>;

/** Options with every path made absolute against the project root and the Astro cache directory. */
export interface ResolvedOptions extends CheckedOptions {
  root: string;
  cacheFile: string;
  inputs: { role: InputRole; file: string }[];
}

/** Checks types and ranges (no file system access). Throws PoemCacheOptionError naming the first problem. */
export function checkOptions(input: unknown): CheckedOptions {
  const result = optionsSchema.safeParse(input);
  if (result.success) return result.data;
  // An unknown key is reported before the values (a misspelt option explains the rest).
  const issues = result.error.issues;
  const first = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  throw new PoemCacheOptionError(first.message);
}

const toPath = (p: string | URL): string => (p instanceof URL ? fileURLToPath(p) : p);

/** The cache file when the `cacheFile` option is not given: the one rule for where the integration keeps it. */
export function defaultCacheFile(cacheDir: string | URL): string {
  return join(toPath(cacheDir), 'poem-cache', 'poems.cache');
}

/** Resolves paths against the Astro root and cache dir, and checks that every input file exists. */
export function resolveOptions(checked: CheckedOptions, rootIn: string | URL, cacheDir: string | URL): ResolvedOptions {
  const root = toPath(rootIn);
  const contain = (option: string, file: string) => {
    if (!checked.allowOutsideRoot) checkContainment(root, option, file);
  };
  const inputs: { role: InputRole; file: string }[] = [];
  for (const role of INPUT_ROLES) {
    const given = checked[role];
    if (given === undefined) continue;
    const file = resolve(root, given);
    contain(role, file);
    const where = `("${given}" resolved against the project root ${root})`;
    if (!existsSync(file)) throw new PoemCacheOptionError(`option "${role}": file not found: ${file} ${where}`);
    if (!statSync(file).isFile()) throw new PoemCacheOptionError(`option "${role}": ${file} is not a file ${where}`);
    inputs.push({ role, file });
  }
  const given = checked.cacheFile;
  const cacheFile = given === undefined ? defaultCacheFile(cacheDir) : resolve(root, given);
  if (inputs.some((i) => i.file === cacheFile)) {
    throw new PoemCacheOptionError(`option "cacheFile" (${cacheFile}) must not be one of the input files`);
  }
  // The default cache file lives in Astro's cacheDir, wherever that is.
  if (given !== undefined) contain('cacheFile', cacheFile);
  return { ...checked, root, cacheFile, inputs };
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

/** A path an option names must lie inside the project root, also after following symbolic links. */
function checkContainment(root: string, option: string, file: string): void {
  const hint = '(set allowOutsideRoot: true to allow it)';
  if (!inside(root, file)) {
    throw new PoemCacheOptionError(`option "${option}": ${file} is outside the project root ${root} ${hint}`);
  }
  if (!existsSync(file)) return;
  const target = real(file);
  if (!inside(real(root), target)) {
    const outside = `${file} is a link to ${target}, outside the project root ${root}`;
    throw new PoemCacheOptionError(`option "${option}": ${outside} ${hint}`);
  }
}
