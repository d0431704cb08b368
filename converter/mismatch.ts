// Stale data: poems.json and a derived cache (embeddings, similarity rankings, diversity sequences) that
// disagree — ids the other file does not know, poems without an entry, counts that differ.
// onMismatch 'error' (default): the converter's error, reworded to name both files and the first id.
// onMismatch 'warn': the disagreeing inputs are rewritten into a consistent temporary copy (unknown ids
// dropped, a missing embedding becomes zeros, a missing ranking an empty list, a missing sequence just the
// poem itself, metadata counts set to the poem count), converted from that copy, and each changed file gets
// ONE warning summarizing the counts and the first mismatching id.
import { readFile, writeFile } from 'node:fs/promises';
import { ConvertError } from './errors.ts';

export type MismatchMode = 'error' | 'warn';

const MISMATCH = /^(unknown (poem )?id -?\d+|no (embedding|ranking|sequence) for poem id \d+|metadata\.\w+ is \d+ but poems\.json has \d+ poems)$/;

/** True for the converter's errors that mean "this input disagrees with poems.json". */
export function isMismatch(err: unknown, poemsFile: string): err is ConvertError {
  return err instanceof ConvertError && err.file !== poemsFile && MISMATCH.test(err.what);
}

/** The same error with "poems.json" replaced by the poems file's path: the message names both files. */
export function nameBothFiles(err: ConvertError, poemsFile: string): ConvertError {
  const what = err.what.replace('poems.json', poemsFile);
  const expected = err.expected?.replace('poems.json', poemsFile);
  const e = new ConvertError(err.file, what, expected, { line: err.line, column: err.column, offset: err.offset }, err.poemId);
  const mark = ' (set onMismatch: "warn" to convert anyway)';
  e.message += mark;
  return e;
}

type Role = 'embeddings' | 'similarity' | 'diversity';

export interface Reconciled {
  /** Whether anything was changed (false: the file agrees with poems.json and is used as it is). */
  changed: boolean;
  /** The one warning for this file (empty when unchanged). */
  warning: string;
}

/** Reads the poem ids of poems.json (only called on the warn path, after the converter read the file once). */
export async function readPoemIds(poemsFile: string): Promise<number[]> {
  const doc = JSON.parse(await readFile(poemsFile, 'utf8')) as { poems: { id: number }[] };
  return doc.poems.map((p) => p.id);
}

const COUNT_KEYS: Record<Role, string[]> = {
  embeddings: ['total_poems', 'num_poems', 'num_embeddings', 'total_embeddings', 'count'],
  similarity: ['total_poems'],
  diversity: ['num_poems'],
};

/**
 * Writes a copy of `file` consistent with `ids` to `outFile`; returns what changed. Whole-file JSON.parse:
 * meant for the warn path only.
 */
export async function reconcile(role: Role, file: string, poemsFile: string, ids: number[], outFile: string): Promise<Reconciled> {
  const doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const known = new Set(ids);
  const n = ids.length;
  const notes: string[] = [];
  let unknownIds = 0;
  let firstUnknown: string | undefined;
  let missing = 0;
  let firstMissing: number | undefined;
  const meta = (doc.metadata ?? {}) as Record<string, unknown>;
  const counts: string[] = [];
  for (const k of COUNT_KEYS[role]) {
    if (typeof meta[k] === 'number' && meta[k] !== n) {
      counts.push(`metadata.${k} ${meta[k]} set to ${n}`);
      meta[k] = n;
    }
  }
  if (role === 'embeddings') {
    const list = (doc.embeddings ?? []) as { poem_index: number; embedding: number[] }[];
    const kept = list.filter((e) => {
      if (known.has(e.poem_index)) return true;
      unknownIds++;
      firstUnknown ??= `${e.poem_index}`;
      return false;
    });
    const dim = (meta.embedding_dimension as number | undefined) ?? kept[0]?.embedding.length ?? 0;
    const have = new Set(kept.map((e) => e.poem_index));
    for (const id of ids) {
      if (have.has(id)) continue;
      missing++;
      firstMissing ??= id;
      kept.push({ poem_index: id, embedding: new Array(dim).fill(0) });
    }
    doc.embeddings = kept;
    if (unknownIds) notes.push(`${unknownIds} embedding(s) of unknown poem ids dropped (first: poem id ${firstUnknown})`);
    if (missing) notes.push(`${missing} poem(s) without an embedding given zeros (first: poem id ${firstMissing})`);
  } else {
    const key = role === 'similarity' ? 'rankings' : 'sequences';
    const lists = (doc[key] ?? {}) as Record<string, unknown[]>;
    const fixed: Record<string, unknown[]> = {};
    let unknownKeys = 0;
    let firstUnknownKey: string | undefined;
    for (const [k, list] of Object.entries(lists)) {
      if (!known.has(Number(k))) {
        unknownKeys++;
        firstUnknownKey ??= k;
        continue;
      }
      fixed[k] = list.filter((v) => {
        const id = typeof v === 'number' ? v : (v as { id?: number } | null)?.id;
        if (typeof id !== 'number' || known.has(id)) return true;
        unknownIds++;
        firstUnknown ??= `${id} (in the list of poem id ${k})`;
        return false;
      });
      if (role === 'diversity' && fixed[k].length === 0) fixed[k] = [Number(k)];
    }
    for (const id of ids) {
      if (String(id) in fixed) continue;
      missing++;
      firstMissing ??= id;
      fixed[String(id)] = role === 'diversity' ? [id] : [];
    }
    doc[key] = fixed;
    const noun = role === 'similarity' ? 'ranking' : 'sequence';
    if (unknownKeys) notes.push(`${unknownKeys} ${noun}(s) of unknown poem ids dropped (first: poem id ${firstUnknownKey})`);
    if (unknownIds) notes.push(`${unknownIds} unknown id(s) dropped from lists (first: ${firstUnknown})`);
    if (missing) notes.push(`${missing} poem(s) without a ${noun} given ${role === 'diversity' ? 'a sequence of just the poem' : 'an empty ranking'} (first: poem id ${firstMissing})`);
  }
  notes.push(...counts);
  if (notes.length === 0) return { changed: false, warning: '' };
  doc.metadata = meta;
  await writeFile(outFile, JSON.stringify(doc));
  return { changed: true, warning: `${file} disagrees with ${poemsFile}: ${notes.join('; ')} (onMismatch: "warn")` };
}
