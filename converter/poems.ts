// poems.json: {"metadata": {...}, "poems": [{"id", "content", "category", "filepath", "metadata": {...}, ...}]}.
// A poem is its position (row). Per row the reader keeps the id (ids may repeat: the real pipeline numbers
// poems per category), title (optional), content, category, date (metadata.creation_date, else creation_date)
// and every requested field (a dotted path to a scalar), each as a spooled column.
import { MAX_ID, type PoemList } from './identity.ts';
import type { JsonSource } from './json-source.ts';
import { FieldColumn, StringColumn, type FieldValue, type SpooledStrings } from './spool.ts';
import type { Ticker } from './ticker.ts';

const ID_EXPECTED = 'a poem id (an integer in 0..2147483647)';
const isId = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= MAX_ID;

/** Bytes of JSON text per fast-path batch: small batches measured fastest (the values stay in the young
 * generation and in cache). */
const POEM_BATCH = 32 << 10;

type Builtin = 'id' | 'title' | 'content' | 'category' | 'date' | 'topDate' | 'filepath';

/** A key path of the poem object: the built-in columns and fields that read the value there. */
interface PathNode {
  builtins: Builtin[];
  fields: number[];
  children?: Map<string, PathNode>;
  /** Every built-in and field below this node: a new value here replaces them all (as JSON.parse does). */
  below?: { builtins: Builtin[]; fields: number[] };
}

function pathTree(fields: readonly string[]): PathNode {
  const root: PathNode = { builtins: [], fields: [] };
  const at = (path: string[]): PathNode => {
    let node = root;
    for (const key of path) {
      node.children ??= new Map();
      let next = node.children.get(key);
      if (!next) node.children.set(key, (next = { builtins: [], fields: [] }));
      node = next;
    }
    return node;
  };
  for (const b of ['id', 'title', 'content', 'category', 'filepath'] as const) at([b]).builtins.push(b);
  at(['creation_date']).builtins.push('topDate');
  at(['metadata', 'creation_date']).builtins.push('date');
  fields.forEach((f, i) => {
    at(f.split('.')).fields.push(i);
  });
  const collect = (node: PathNode): { builtins: Builtin[]; fields: number[] } => {
    const all = { builtins: [] as Builtin[], fields: [] as number[] };
    for (const child of node.children?.values() ?? []) {
      const sub = collect(child);
      all.builtins.push(...child.builtins, ...sub.builtins);
      all.fields.push(...child.fields, ...sub.fields);
    }
    if (node.children) node.below = all;
    return all;
  };
  collect(root);
  return root;
}

/** Forgets what an earlier value of a repeated key put below `node` (a later duplicate key wins whole). */
function resetBelow(row: PoemRow, node: PathNode): void {
  if (!node.below) return;
  for (const i of node.below.fields) row.fields[i] = null;
  for (const b of node.below.builtins) {
    if (b === 'title') row.title = '';
    else if (b === 'category') row.category = '';
    else if (b === 'date') row.date = undefined;
    else if (b === 'topDate') row.topDate = undefined;
    else if (b === 'filepath') row.filepath = undefined;
  }
}

/** One poem as read: built-ins, then the fields in the order requested. */
interface PoemRow {
  id: number;
  title: string;
  content: string | undefined;
  category: string;
  date: string | undefined;
  topDate: string | undefined;
  filepath: string | undefined;
  fields: FieldValue[];
}

const describeValue = (v: unknown): string =>
  v === null
    ? 'null'
    : Array.isArray(v)
      ? 'an array'
      : typeof v === 'object'
        ? 'an object'
        : `${typeof v} ${JSON.stringify(v)}`;

/** Puts a scalar read at `node` into the row; returns an error (what, expected) or undefined. */
function assign(row: PoemRow, node: PathNode, v: unknown, names: readonly string[]): [string, string] | undefined {
  for (const i of node.fields) {
    if (v !== null && typeof v === 'object')
      return [`field "${names[i]}" is ${describeValue(v)}`, 'a string, number, boolean or null (fields hold scalars)'];
    row.fields[i] = v as FieldValue;
  }
  for (const b of node.builtins) {
    if (b === 'id') {
      if (typeof v !== 'number' || !isId(v)) return [`invalid poem id ${describeValue(v)}`, ID_EXPECTED];
      row.id = v;
    } else if (b === 'content') {
      if (typeof v !== 'string') return [`content is ${describeValue(v)}`, 'a string for content'];
      row.content = v;
    } else {
      if (v !== null && typeof v !== 'string')
        return [
          `${b === 'date' ? 'metadata.creation_date' : b === 'topDate' ? 'creation_date' : b} is ${describeValue(v)}`,
          'a string or null',
        ];
      const s = v ?? undefined;
      if (b === 'title') row.title = s ?? '';
      else if (b === 'category') row.category = s ?? '';
      else if (b === 'date') row.date = s;
      else if (b === 'topDate') row.topDate = s;
      else row.filepath = s;
    }
  }
  return undefined;
}

export interface PoemsResult extends PoemList {
  strings: Record<'title' | 'text' | 'category' | 'date', SpooledStrings>;
  fields: { path: string; column: SpooledStrings; types: FieldColumn['types'] }[];
  sourceMeta: unknown;
  crc: number;
  bytes: number;
}

/** A string, or undefined for null or absent; false for anything else (the precise reader reports it). */
const optString = (v: unknown): string | undefined | false =>
  v === undefined || v === null ? undefined : typeof v === 'string' ? v : false;

export async function readPoems(
  src: JsonSource,
  fieldPaths: readonly string[],
  spoolPath: (what: string) => string,
  ticker: Ticker,
): Promise<PoemsResult> {
  const tree = pathTree(fieldPaths);
  const split = fieldPaths.map((f) => f.split('.'));
  const cols = {
    title: new StringColumn(spoolPath('title')),
    text: new StringColumn(spoolPath('text')),
    category: new StringColumn(spoolPath('category')),
    date: new StringColumn(spoolPath('date')),
  };
  const fieldCols = fieldPaths.map((f, i) => new FieldColumn(f, spoolPath(`field${i}`)));
  let ids = new Int32Array(1024);
  const labels: string[] = [];
  let n = 0;
  let sourceMeta: unknown = null;
  let sawPoems = false;

  const add = (p: PoemRow): void => {
    if (n === ids.length) {
      const bigger = new Int32Array(n * 2);
      bigger.set(ids);
      ids = bigger;
    }
    ids[n++] = p.id;
    labels.push(p.filepath || (p.category ? `${p.category} id ${p.id}` : `id ${p.id}`));
    cols.title.push(p.title);
    cols.text.push(p.content!);
    cols.category.push(p.category);
    cols.date.push(p.date ?? p.topDate ?? '');
    for (let i = 0; i < fieldCols.length; i++) fieldCols[i].push(p.fields[i]);
  };
  const newRow = (): PoemRow => ({
    id: -1,
    title: '',
    content: undefined,
    category: '',
    date: undefined,
    topDate: undefined,
    filepath: undefined,
    fields: new Array<FieldValue>(fieldPaths.length).fill(null),
  });

  // The precise reader: exact positions for every error.
  const readAt = (row: PoemRow, node: PathNode, key: string): void => {
    resetBelow(row, node);
    const kind = src.peek();
    if (kind === 'object' && node.children) {
      const bad = node.fields.length ? `field "${fieldPaths[node.fields[0]]}" is an object` : undefined;
      if (bad)
        src.fail(bad, 'a string, number, boolean or null (fields hold scalars)', row.id >= 0 ? row.id : undefined);
      src.beginObject(`an object for ${key}`);
      for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
        const child = node.children.get(k);
        if (child) readAt(row, child, `${key}.${k}`);
        else src.skipValue();
      }
      return;
    }
    if (kind === 'object' || kind === 'array') {
      // only a container of others
      if (node.builtins.length === 0 && node.fields.length === 0) {
        src.skipValue();
        return;
      }
    }
    if (kind === 'number' && node.builtins.includes('id')) {
      const v = src.readNumber(ID_EXPECTED);
      if (!isId(v)) src.fail(`invalid poem id ${v}`, ID_EXPECTED);
      assign(row, node, v, fieldPaths);
      return;
    }
    const v =
      kind === 'string'
        ? src.readString(`a value for ${key}`)
        : kind === 'number'
          ? src.readNumber(`a value for ${key}`)
          : kind === 'literal'
            ? src.readValue()
            : undefined;
    if (v === undefined) {
      // an object or array where a scalar belongs: report it where it starts
      const problem = assign(row, node, kind === 'array' ? [] : {}, fieldPaths) ?? [
        `${key} is ${kind === 'array' ? 'an array' : 'an object'}`,
        'a scalar',
      ];
      src.fail(problem[0], problem[1], row.id >= 0 ? row.id : undefined);
    }
    const problem = assign(row, node, v, fieldPaths);
    if (problem) src.fail(problem[0], problem[1], row.id >= 0 ? row.id : undefined);
  };
  const readOne = (): void => {
    src.beginObject('a poem object');
    const row = newRow();
    for (let k = src.nextKey(); k !== null; k = src.nextKey()) {
      const node = tree.children!.get(k);
      if (node) readAt(row, node, k);
      else src.skipValue();
    }
    if (row.id < 0) src.fail(`poem #${n + 1} has no "id"`, 'an "id" key');
    if (row.content === undefined) src.fail(`poem #${n + 1} has no "content"`, 'a "content" string', row.id);
    add(row);
  };

  // The fast path: a parsed batch whose poems are all plainly valid is taken as is; else the precise reader
  // reads it from the first doubtful poem on (it reports the error). Both keep the last of repeated keys, so a
  // batch with duplicate keys gives what the precise reader gives.
  const takeBatch = (vals: unknown[]): number => {
    const rows: PoemRow[] = [];
    for (let i = 0; i < vals.length; i++) {
      const p = vals[i] as Record<string, unknown>;
      if (typeof p !== 'object' || p === null || Array.isArray(p)) return i + 1;
      const id = p.id;
      const content = p.content;
      if (typeof id !== 'number' || !isId(id) || typeof content !== 'string') return i + 1;
      const title = optString(p.title);
      const category = optString(p.category);
      const filepath = optString(p.filepath);
      const topDate = optString(p.creation_date);
      if (title === false || category === false || filepath === false || topDate === false) return i + 1;
      let date: string | undefined | false;
      const m = p.metadata; // anything but an object holds no creation_date (the precise reader skips it too)
      if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
        date = optString((m as Record<string, unknown>).creation_date);
        if (date === false) return i + 1;
      }
      const fields = new Array<FieldValue>(split.length);
      for (let f = 0; f < split.length; f++) {
        let v: unknown = p;
        const path = split[f];
        for (let k = 0; k < path.length && v !== undefined; k++) {
          v =
            v !== null && typeof v === 'object' && !Array.isArray(v)
              ? (v as Record<string, unknown>)[path[k]]
              : undefined;
        }
        if (v !== null && typeof v === 'object') return i + 1;
        fields[f] = v === undefined ? null : (v as FieldValue);
      }
      rows.push({
        id,
        title: title ?? '',
        content,
        category: category ?? '',
        date: date as string | undefined,
        topDate,
        filepath,
        fields,
      });
    }
    for (const row of rows) add(row);
    return -1;
  };

  src.beginObject('a JSON object with a "poems" array');
  for (let key = src.nextKey(); key !== null; key = src.nextKey()) {
    if (key === 'poems') {
      if (sawPoems) src.fail('duplicate key "poems"', 'one "poems" array');
      sawPoems = true;
      src.beginArray('an array of poems');
      for (;;) {
        const b = src.nextBatch?.(POEM_BATCH);
        let slow = 1;
        if (b) {
          const p = ticker.tick(src, b.count);
          if (p) await p;
          slow = b.count;
          if (b.values) {
            const k = takeBatch(b.values);
            if (k < 0) continue;
            src.rewindBatch!();
            slow = k;
          }
        } else {
          const p = ticker.tick(src);
          if (p) await p;
        }
        let more = true;
        for (; slow > 0 && (more = src.nextItem()); slow--) readOne();
        if (!more) break;
      }
    } else if (key === 'metadata') {
      sourceMeta = src.readValue();
    } else src.skipValue();
  }
  if (!sawPoems) src.fail('no "poems" key', 'a "poems" array');
  src.end();
  ticker.done(src);
  return {
    ids: ids.slice(0, n),
    labels,
    strings: {
      title: cols.title.finish(),
      text: cols.text.finish(),
      category: cols.category.finish(),
      date: cols.date.finish(),
    },
    fields: fieldCols.map((c) => ({ path: c.path, types: c.types, column: c.finish() })),
    sourceMeta,
    crc: src.crc,
    bytes: src.totalBytes,
  };
}
