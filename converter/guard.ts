// What runs around every conversion (convertCaches in index.ts calls runGuarded with the conversion proper):
// the file-size limit before anything is read; the per-output lock, under which run the removal of dead
// converters' leftovers, the freshness check and the conversion (so of two builds started at once one
// converts and the other finds the cache fresh); and the poems.json-vs-cache mismatch policy.
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { removeDeadLeftovers } from './cleanup.ts';
import { ConvertError } from './errors.ts';
import { checkFileSizes, resolveLimits, type Limits } from './limits.ts';
import { withLock, type LockOptions } from './lock.ts';
import type { KeyMode } from './identity.ts';
import { isMismatch, nameBothFiles, readPoemList, reconcile, type MismatchMode } from './mismatch.ts';
import { KEYED_ROLES, type KeyedRole } from './roles.ts';

export interface ReliabilityOptions {
  /** Maxima for the inputs (defaults in converter/limits.ts). */
  limits?: Limits;
  /**
   * poems.json and another input disagree: 'error' (default) fails naming both files; 'warn' converts a reconciled
   * copy and warns once per file.
   */
  onMismatch?: MismatchMode;
  /** Where warnings go (default: console.warn). */
  onWarning?: (message: string) => void;
  /** Cross-process lock of the output (`${out}.lock`); false disables it. */
  lock?: LockOptions | false;
}

type Opts = ReliabilityOptions & {
  poems: string;
  embeddings?: string;
  similarity?: string;
  diversity?: string;
  out: string;
  signal?: AbortSignal;
  force?: boolean;
  keys?: Partial<Record<KeyedRole, KeyMode>>;
};
type Result = { out: string; inputs: { role: string; file: string }[] };

export async function runGuarded<O extends Opts, R extends Result>(o: O, convert: (o: O) => Promise<R>): Promise<R> {
  if (!o.poems || !o.out) return convert(o); // the converter's own "required" errors
  const mode = o.onMismatch ?? 'error';
  if (mode !== 'error' && mode !== 'warn')
    throw new TypeError(`convertCaches: onMismatch must be "error" or "warn", got ${JSON.stringify(mode)}`);
  const limits = resolveLimits(o.limits, 'convertCaches: limits');
  const out = resolve(o.out);
  const poems = resolve(o.poems);
  const files = [o.poems, o.embeddings, o.similarity, o.diversity]
    .filter((f): f is string => !!f)
    .map((f) => resolve(f));
  await checkFileSizes(files, limits);

  const once = async (): Promise<R> => {
    // under the lock: no other converter of this output (on any host sharing the directory) is running, and
    // of this host's processes only dead ones' files are removed
    await removeDeadLeftovers(out);
    try {
      return await convert(o);
    } catch (err) {
      if (!isMismatch(err, poems)) throw err;
      if (mode === 'error') throw nameBothFiles(err, poems);
      return convertReconciled(o, poems, out, convert, err);
    }
  };
  if (o.lock === false) return once();
  try {
    return await withLock(out, once, { signal: o.signal, ...o.lock });
  } catch (err) {
    // no directory to lock in: the converter reports that itself
    if (
      (err as NodeJS.ErrnoException).code === 'ENOENT' &&
      (err as NodeJS.ErrnoException).path?.startsWith(`${out}.tmp-`)
    )
      return once();
    throw err;
  }
}

async function convertReconciled<O extends Opts, R extends Result>(
  o: O,
  poems: string,
  out: string,
  convert: (o: O) => Promise<R>,
  first: ConvertError,
): Promise<R> {
  // the converter read poems.json fine; an input that JSON.parse cannot read gets the converter's error
  const unreadable = () => nameBothFiles(first, poems);
  const list = await readPoemList(poems).catch(() => Promise.reject(unreadable()));
  const prefix = `${basename(out)}.spool-${process.pid}-${randomBytes(6).toString('hex')}-reconciled-`;
  const copies = new Map<string, string>(); // copy -> original
  const changed: Partial<Record<KeyedRole, string>> = {};
  const keys: Partial<Record<KeyedRole, KeyMode>> = { ...o.keys };
  const warnings: string[] = [];
  try {
    for (const role of KEYED_ROLES) {
      if (!o[role]) continue;
      const file = resolve(o[role]!);
      const copy = join(dirname(out), `${prefix}${role}.json`);
      const r = await reconcile(role, file, poems, list, o.keys?.[role] ?? 'auto', copy).catch(() =>
        Promise.reject(unreadable()),
      );
      if (!r.changed) continue;
      changed[role] = copy;
      keys[role] = r.reading; // the copy is written in this reading
      copies.set(copy, file);
      warnings.push(r.warning);
    }
    let result: R;
    try {
      result = await convert({ ...o, ...changed, keys, force: true });
    } catch (err) {
      if (err instanceof ConvertError && copies.has(err.file)) {
        const original = copies.get(err.file)!;
        throw new ConvertError(
          original,
          `${err.what} (in its copy reconciled with ${poems})`,
          err.expected,
          {},
          err.poem,
        );
      }
      throw err;
    }
    const warn = o.onWarning ?? ((m: string) => console.warn(m));
    for (const w of warnings) warn(w);
    return {
      ...result,
      inputs: result.inputs.map((i) => (copies.has(i.file) ? { ...i, file: copies.get(i.file)! } : i)),
    };
  } finally {
    await Promise.all([...copies.keys()].map((c) => unlink(c).catch(() => {})));
  }
}
