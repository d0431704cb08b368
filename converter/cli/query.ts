// poem-cache query FILE (--index N | --id N): one poem, its most similar poems and its diversity sequence.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { SectionName } from '../../cache/layout.ts';
import type { CacheReader } from '../../cache/reader.ts';
import { CacheFormatError } from '../../cache/validate.ts';
import { Failure, fileError, oneFile, oneLine, parse, UsageError, type CliIO } from './common.ts';
import { fmtInt, table } from './format.ts';

export async function query(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(
    'query',
    args,
    {
      id: { type: 'string' },
      index: { type: 'string' },
      k: { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  const path = oneFile('query', positionals);
  if ((values.id === undefined) === (values.index === undefined)) {
    const problem = values.id === undefined ? 'missing --index N (or --id N)' : 'give --index N or --id N, not both';
    throw new UsageError(problem, 'query');
  }
  const flag = values.index !== undefined ? 'index' : 'id';
  const n = Number(values[flag]);
  if (!Number.isInteger(n)) throw new UsageError(`--${flag} must be a whole number, got "${values[flag]}"`, 'query');
  const k = values.k === undefined ? 10 : Number(values.k);
  if (!Number.isInteger(k) || k < 0) {
    throw new UsageError(`--k must be a whole number >= 0, got "${values.k}"`, 'query');
  }
  try {
    statSync(path);
  } catch (e) {
    throw fileError(path, e);
  }
  const { openCache, AmbiguousIdError } = await import('../../cache/reader.ts');
  let reader: CacheReader;
  try {
    reader = openCache(path);
  } catch (e) {
    if (e instanceof CacheFormatError) throw new Failure(oneLine(e));
    throw fileError(path, e);
  }
  const has = (name: string) => reader.has(name);
  let row: number;
  if (flag === 'index') {
    row = reader.rowOfIndex(n);
    if (row < 0) throw new Failure(`${path}: no poem_index ${n} (poem_index runs 1..${fmtInt(reader.count)})`);
  } else {
    try {
      row = reader.rowOf(n);
    } catch (e) {
      if (!(e instanceof AmbiguousIdError)) throw e;
      const where = e.rows.map((r) => {
        const category = has(SectionName.category) && reader.category(r);
        return `${reader.describe(r)}${category ? ` in ${category}` : ''}`;
      });
      const many = `${e.rows.length} poems have it (${where.join(', ')})`;
      throw new Failure(`${path}: poem id ${n} is not unique: ${many}; ask with --index N`);
    }
    if (row < 0) throw new Failure(`${path}: no poem with id ${n} (${fmtInt(reader.count)} poems)`);
  }
  const titleOf = (r: number) => (has(SectionName.title) ? reader.title(r) : '');
  const pathOf = (r: number) => {
    const v = reader.fieldNames.includes('filepath') ? reader.field('filepath', r) : null;
    return typeof v === 'string' ? v : undefined;
  };
  const poem = (r: number) => ({ index: reader.index(r), id: reader.idOf(r), filepath: pathOf(r), title: titleOf(r) });
  const neighbours = (name: string, withScores: boolean) => {
    if (!has(name)) return null;
    const list = reader.list(name, row);
    const scores = withScores ? reader.listScores(name, row) : undefined;
    const items = Array.from(list.subarray(0, k), (r, j) => ({ ...poem(r), ...(scores ? { score: scores[j] } : {}) }));
    return { total: list.length, items };
  };
  const result = {
    file: resolve(path),
    ...poem(row),
    row,
    category: has(SectionName.category) ? reader.category(row) : undefined,
    date: has(SectionName.date) ? reader.date(row) : undefined,
    similar: neighbours(SectionName.similar, true),
    diversity: neighbours(SectionName.diversity, false),
  };
  if (values.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const label = (p: { filepath?: string; title: string; id: number }) =>
    [p.filepath, p.title ? JSON.stringify(p.title) : ''].filter(Boolean).join(' ') || `id ${p.id}`;
  const o: string[] = [];
  const extra = [result.category, result.date].filter(Boolean).join(', ');
  o.push(`poem_index ${result.index} (id ${result.id}) ${label(result)}${extra ? ` (${extra})` : ''}, row ${row}\n`);
  const list = (heading: string, l: typeof result.similar) => {
    if (!l) {
      o.push(`\n${heading}: not in this cache\n`);
      return;
    }
    o.push(`\n${heading} (${l.items.length} of ${fmtInt(l.total)}):\n`);
    if (l.items.length) {
      const scored = l.items.some((it) => 'score' in it);
      const score = (it: object) => (scored ? [(it as { score: number }).score.toFixed(4)] : []);
      o.push(
        table(
          l.items.map((it, j) => [`${j + 1}.`, `#${it.index}`, `id ${it.id}`, ...score(it), label(it)]),
          scored ? [true, true, true, true, false] : [true, true, true, false],
        ).replace(/^(?=.)/gm, '  '),
      );
    }
  };
  list('most similar', result.similar);
  list('diversity sequence', result.diversity);
  io.stdout.write(o.join(''));
  return 0;
}
