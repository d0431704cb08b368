// Stale data: poems.json and an input made from another poems.json (embeddings, similarity rankings, diversity
// sequences) disagree: numbers that name no poem, poems without an entry, counts that differ, an embedding whose
// id is not its poem's.
// onMismatch 'error' (default): the converter's error, reworded to name both files.
// onMismatch 'warn': each disagreeing input is rewritten into a consistent temporary copy under its reading
// (numbers naming no poem dropped, a missing embedding becomes zeros, a missing ranking an empty list, a
// missing sequence just the poem itself, metadata counts set to the poem count), converted from that copy,
// and each changed file gets ONE warning summarizing the counts and the first example.
import { readFile, writeFile } from 'node:fs/promises';
import { ConvertError } from './errors.ts';
import { KEY_READINGS, PoemIndex, READING_NAMES, type KeyMode, type KeyReading, type PoemList } from './identity.ts';
import type { KeyedRole } from './roles.ts';

export type MismatchMode = 'error' | 'warn';

/** True for the converter's errors that mean "this input disagrees with poems.json". */
export function isMismatch(err: unknown, poemsFile: string): err is ConvertError {
  return err instanceof ConvertError && err.file !== poemsFile && err.mismatch;
}

/** The same error with "poems.json" replaced by the poems file's path: the message names both files. */
export function nameBothFiles(err: ConvertError, poemsFile: string): ConvertError {
  const what = err.what.replaceAll('poems.json', poemsFile);
  const expected = err.expected?.replaceAll('poems.json', poemsFile);
  const e = new ConvertError(
    err.file,
    what,
    expected,
    { line: err.line, column: err.column, offset: err.offset },
    err.poem,
  );
  e.mismatch = true;
  e.message += ' (set onMismatch: "warn" to convert anyway)';
  return e;
}

export interface Reconciled {
  /** Whether anything was changed (false: the file agrees with poems.json and is used as it is). */
  changed: boolean;
  /** The reading the copy is written in (the conversion of the copy uses it). */
  reading: KeyReading;
  /** The one warning for this file (empty when unchanged). */
  warning: string;
}

/** The poems of poems.json (only on the warn path, after the converter read the file once). */
export async function readPoemList(poemsFile: string): Promise<PoemList> {
  const doc = JSON.parse(await readFile(poemsFile, 'utf8')) as {
    poems: { id: number; filepath?: unknown; category?: unknown }[];
  };
  return {
    ids: Int32Array.from(doc.poems, (p) => p.id),
    labels: doc.poems.map((p) =>
      typeof p.filepath === 'string' && p.filepath
        ? p.filepath
        : typeof p.category === 'string' && p.category
          ? `${p.category} id ${p.id}`
          : `id ${p.id}`,
    ),
  };
}

const COUNT_KEYS: Record<KeyedRole, string[]> = {
  embeddings: ['total_poems', 'num_poems', 'num_embeddings', 'total_embeddings', 'count'],
  similarity: ['total_poems'],
  diversity: ['num_poems'],
};

/**
 * The reading that names the most of these numbers (the forced one when not 'auto'); on a tie the pipeline's
 * own convention for the file wins (`preferred` first).
 */
function likeliestReading(
  index: PoemIndex,
  mode: KeyMode,
  numbers: Iterable<number>,
  preferred: KeyReading,
): KeyReading {
  if (mode !== 'auto') return mode;
  const misses: Record<KeyReading, number> = { index: 0, index0: 0, id: 0 };
  for (const v of numbers) for (const r of KEY_READINGS) if (index.rowOf(r, v) < 0) misses[r]++;
  const order = [preferred, ...KEY_READINGS.filter((r) => r !== preferred)];
  return order.reduce((best, r) => (misses[r] < misses[best] ? r : best));
}

/** The number that names `row` under a reading (for entries the copy adds). */
function refOf(index: PoemIndex, reading: KeyReading, row: number): number {
  return reading === 'index' ? row + 1 : reading === 'index0' ? row : index.ids[row];
}

/**
 * Writes a copy of `file` consistent with poems.json to `outFile`; returns what changed. Whole-file JSON.parse:
 * meant for the warn path only (about 3 x the input's size in memory).
 */
export async function reconcile(
  role: KeyedRole,
  file: string,
  poemsFile: string,
  poems: PoemList,
  mode: KeyMode,
  outFile: string,
): Promise<Reconciled> {
  const doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const index = new PoemIndex(poems);
  const n = index.count;
  const notes: string[] = [];
  const meta = (doc.metadata ?? {}) as Record<string, unknown>;
  const counts: string[] = [];
  for (const k of COUNT_KEYS[role]) {
    if (typeof meta[k] === 'number' && meta[k] !== n) {
      counts.push(`metadata.${k} ${meta[k]} set to ${n}`);
      meta[k] = n;
    }
  }
  let reading: KeyReading;
  if (role === 'embeddings') {
    type Entry = { poem_index?: number; id?: number; embedding?: number[] } | null;
    const raw = doc.embeddings ?? [];
    const list: Entry[] = Array.isArray(raw) ? raw : Object.values(raw as Record<string, Entry>);
    const named = list.filter((e): e is NonNullable<Entry> => e !== null && typeof e === 'object');
    reading = mode !== 'auto' ? mode : named.some((e) => typeof e.poem_index === 'number') ? 'index' : 'id';
    const refKey = reading === 'id' ? 'id' : 'poem_index';
    let dropped = 0;
    let firstDropped = '';
    const have = new Set<number>();
    const kept = named.filter((e) => {
      const v = (e[refKey] ?? (reading === 'id' ? e.poem_index : e.id)) as number;
      const row = index.rowOf(reading, v);
      const stale = row >= 0 && reading !== 'id' && typeof e.id === 'number' && index.ids[row] !== e.id;
      if (row >= 0 && !stale && Array.isArray(e.embedding) && !have.has(row)) {
        have.add(row);
        return true;
      }
      dropped++;
      firstDropped ||=
        row < 0
          ? index.whyNot(reading, v, `${refKey} ${v}`)
          : stale
            ? `${refKey} ${v} has id ${e.id}, its poem ${index.ids[row]}`
            : `${refKey} ${v} has no embedding`;
      return false;
    });
    const dim = (meta.embedding_dimension as number | undefined) ?? kept[0]?.embedding?.length ?? 0;
    let missing = 0;
    let firstMissing = '';
    for (let row = 0; row < n; row++) {
      if (have.has(row)) continue;
      missing++;
      firstMissing ||= index.describe(row);
      kept.push({ [refKey]: refOf(index, reading, row), embedding: new Array(dim).fill(0) });
    }
    doc.embeddings = kept;
    if (dropped)
      notes.push(
        `${dropped} embedding(s) that name no poem, or whose id is not their poem's, dropped (first: ${firstDropped})`,
      );
    if (missing) notes.push(`${missing} poem(s) without an embedding given zeros (first: ${firstMissing})`);
  } else {
    const key = role === 'similarity' ? 'rankings' : 'sequences';
    const noun = role === 'similarity' ? 'ranking' : 'sequence';
    const lists = (doc[key] ?? {}) as Record<string, unknown[]>;
    const refOfItem = (v: unknown) => (typeof v === 'number' ? v : (v as { id?: number } | null)?.id);
    reading = likeliestReading(
      index,
      mode,
      (function* () {
        for (const [k, list] of Object.entries(lists)) {
          yield Number(k);
          for (const v of list) {
            const r = refOfItem(v);
            if (typeof r === 'number') yield r;
          }
        }
      })(),
      role === 'diversity' ? 'index0' : 'index',
    );
    const fixed: Record<string, unknown[]> = {};
    const have = new Set<number>();
    let droppedKeys = 0;
    let firstKey = '';
    let droppedValues = 0;
    let firstValue = '';
    for (const [k, list] of Object.entries(lists)) {
      const row = index.rowOf(reading, Number(k));
      if (row < 0 || have.has(row)) {
        droppedKeys++;
        firstKey ||= `"${k}"`;
        continue;
      }
      have.add(row);
      fixed[k] = list.filter((v) => {
        const r = refOfItem(v);
        if (typeof r === 'number' && index.rowOf(reading, r) >= 0) return true;
        droppedValues++;
        firstValue ||= `${String(r)} in the ${noun} of "${k}"`;
        return false;
      });
      if (role === 'diversity' && fixed[k].length === 0) fixed[k] = [Number(k)];
    }
    let missing = 0;
    let firstMissing = '';
    for (let row = 0; row < n; row++) {
      if (have.has(row)) continue;
      missing++;
      firstMissing ||= index.describe(row);
      const ref = refOf(index, reading, row);
      fixed[String(ref)] = role === 'diversity' ? [ref] : [];
    }
    doc[key] = fixed;
    if (droppedKeys) notes.push(`${droppedKeys} ${noun}(s) of keys that name no poem dropped (first: ${firstKey})`);
    if (droppedValues)
      notes.push(`${droppedValues} number(s) that name no poem dropped from lists (first: ${firstValue})`);
    if (missing)
      notes.push(
        `${missing} poem(s) without a ${noun} given ` +
          `${role === 'diversity' ? 'a sequence of just the poem' : 'an empty ranking'} (first: ${firstMissing})`,
      );
  }
  notes.push(...counts);
  if (notes.length === 0) return { changed: false, reading, warning: '' };
  doc.metadata = meta;
  await writeFile(outFile, JSON.stringify(doc));
  return {
    changed: true,
    reading,
    warning:
      `${file} disagrees with ${poemsFile} (read as ${READING_NAMES[reading]}): ` +
      `${notes.join('; ')} (onMismatch: "warn")`,
  };
}
