// Stale data: poems.json and a derived cache disagree. Default: the build fails with a message naming both
// files and the first mismatching id. onMismatch 'warn': converted from a reconciled copy, one warning per
// disagreeing file.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { convertCaches, ConvertError } from '../converter/index.ts';
import { openCache } from '../cache/reader.ts';
import { GOOD, type Role } from './fixtures/converter/bad-cases.ts';
import { tmp, write } from './fixtures/converter/gen.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/poem-cache.mjs');
const HINT = ' (set onMismatch: "warn" to convert anyway)';

function setup(replace: Partial<Record<Role, string>> = {}) {
  const dir = tmp('stale-');
  const files = {} as Record<Role, string>;
  for (const r of Object.keys(GOOD) as Role[]) files[r] = write(dir, `${r}.json`, replace[r] ?? GOOD[r]);
  return { dir, files, out: join(dir, 'cache.bin') };
}

// poems.json has ids 1, 2, 5; the other files were made for ids 1, 2, 9 (poem 5 replaced by 9)
const STALE = {
  embeddings: GOOD.embeddings.replace('"poem_index":5', '"poem_index":9'),
  similarity: '{"metadata":{"total_poems":3},"rankings":{"1":[1,2,9],"2":[2,9,1],"9":[9,1,2]}}',
  diversity: '{"metadata":{"num_poems":3,"top_k":2},"sequences":{"1":[1,9],"2":[2,1],"9":[9,2]}}',
};

describe('stale data', () => {
  it("'error' (default): names both files and the first mismatching id", async () => {
    const { files, out } = setup(STALE);
    for (const workers of [0, 2]) {
      const err = await convertCaches({ ...files, out, workers }).catch((e) => e);
      expect(err).toBeInstanceOf(ConvertError);
      // the first input to fail depends on thread timing with workers; all name both files and an id
      expect([
        `${files.embeddings}:1:145: unknown poem id 9, expected an id from ${files.poems} (poem id 9)${HINT}`,
        `${files.similarity}:1:52: unknown id 9, expected an id from ${files.poems} (poem id 1)${HINT}`,
        `${files.diversity}:1:59: unknown id 9, expected an id from ${files.poems} (poem id 1)${HINT}`,
      ]).toContain((err as Error).message);
      if (workers === 0) expect((err as ConvertError).file).toBe(files.embeddings);
    }
    // one stale file at a time, each in its own words
    const s = setup({ similarity: STALE.similarity });
    expect((await convertCaches({ ...s.files, out: s.out, workers: 0 }).catch((e) => e)).message)
      .toBe(`${s.files.similarity}:1:52: unknown id 9, expected an id from ${s.files.poems} (poem id 1)${HINT}`);
    const missing = setup({ similarity: '{"metadata":{"total_poems":3},"rankings":{"1":[1,2,5],"2":[2,1,5]}}' });
    expect((await convertCaches({ ...missing.files, out: missing.out, workers: 0 }).catch((e) => e)).message)
      .toBe(`${missing.files.similarity}: no ranking for poem id 5, expected one ranking per poem of ${missing.files.poems} (poem id 5)${HINT}`);
    const count = setup({ diversity: GOOD.diversity.replace('"num_poems":3', '"num_poems":4') });
    expect((await convertCaches({ ...count.files, out: count.out, workers: 0 }).catch((e) => e)).message)
      .toBe(`${count.files.diversity}:1:26: metadata.num_poems is 4 but ${count.files.poems} has 3 poems, expected 3${HINT}`);
  });

  it("'warn': converts a reconciled copy and warns once per disagreeing file", async () => {
    const { dir, files, out } = setup({ ...STALE, similarity: STALE.similarity.replace('"total_poems":3', '"total_poems":4') });
    for (const workers of [0, 2]) {
      const warnings: string[] = [];
      const r = await convertCaches({ ...files, out, workers, force: true, onMismatch: 'warn', onWarning: (m) => warnings.push(m) });
      expect(r.skipped).toBe(false);
      expect(r.inputs.map((i) => i.file).sort()).toEqual(Object.values(files).sort());
      expect(warnings).toEqual([
        `${files.embeddings} disagrees with ${files.poems}: 1 embedding(s) of unknown poem ids dropped (first: poem id 9); 1 poem(s) without an embedding given zeros (first: poem id 5) (onMismatch: "warn")`,
        `${files.similarity} disagrees with ${files.poems}: 1 ranking(s) of unknown poem ids dropped (first: poem id 9); 2 unknown id(s) dropped from lists (first: 9 (in the list of poem id 1)); 1 poem(s) without a ranking given an empty ranking (first: poem id 5); metadata.total_poems 4 set to 3 (onMismatch: "warn")`,
        `${files.diversity} disagrees with ${files.poems}: 1 sequence(s) of unknown poem ids dropped (first: poem id 9); 1 unknown id(s) dropped from lists (first: 9 (in the list of poem id 1)); 1 poem(s) without a sequence given a sequence of just the poem (first: poem id 5) (onMismatch: "warn")`,
      ]);
      const c = openCache(out);
      const ids = (rows: Int32Array) => Array.from(rows, (row) => c.idOf(row));
      expect(ids(c.similar(c.rowOf(1)))).toEqual([1, 2]);
      expect(ids(c.similar(c.rowOf(2)))).toEqual([2, 1]);
      expect(ids(c.similar(c.rowOf(5)))).toEqual([]);
      expect(ids(c.diversity(c.rowOf(1)))).toEqual([1]);
      expect(ids(c.diversity(c.rowOf(5)))).toEqual([5]);
      expect(Array.from(c.embedding(c.rowOf(5)))).toEqual([0, 0]);
      expect(Array.from(c.embedding(c.rowOf(2)))).toEqual([Math.fround(0.3), Math.fround(0.4)]);
      // no reconciled copies or spools left behind
      expect(readdirSync(dir).sort()).toEqual(['cache.bin', 'diversity.json', 'embeddings.json', 'poems.json', 'similarity.json']);
    }
  });

  it("'warn' with consistent inputs: no warning, and the cache is up to date next time", async () => {
    const { files, out } = setup();
    const warnings: string[] = [];
    expect((await convertCaches({ ...files, out, workers: 0, onMismatch: 'warn', onWarning: (m) => warnings.push(m) })).skipped).toBe(false);
    expect((await convertCaches({ ...files, out, workers: 0, onMismatch: 'warn', onWarning: (m) => warnings.push(m) })).skipped).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("'warn' keeps other errors: a broken file is still an error", async () => {
    const { files, out } = setup({ similarity: '{"metadata":{"total_poems":4},"rankings":{"1":[1,2,5],' });
    const err = await convertCaches({ ...files, out, workers: 0, onMismatch: 'warn', onWarning: () => {} }).catch((e) => e);
    expect(err.message).toBe(`${files.similarity}:1:28: metadata.total_poems is 4 but ${files.poems} has 3 poems, expected 3${HINT}`);
    const syntax = setup({ similarity: '{"metadata":{"total_poems":3},"rankings":{"1":[1,2,5],"2":[2,1,5],"5":[5,1,2]}' });
    const err2 = await convertCaches({ ...syntax.files, out: syntax.out, workers: 0, onMismatch: 'warn', onWarning: () => {} }).catch((e) => e);
    expect(err2).toBeInstanceOf(ConvertError);
    expect(err2.file).toBe(syntax.files.similarity);
    expect(err2.message).not.toContain('onMismatch');
    await expect(convertCaches({ ...files, out, onMismatch: 'ignore' as never })).rejects.toThrow('convertCaches: onMismatch must be "error" or "warn", got "ignore"');
  });

  it('CLI: --on-mismatch warn prints the warnings on stderr; the default fails', () => {
    const { files, out } = setup({ similarity: STALE.similarity });
    const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, 'convert', '--poems', files.poems, '--similarity', files.similarity, '--out', out, '--quiet', ...args], { encoding: 'utf8' });
    let r = cli();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`poem-cache: ${files.similarity}:1:52: unknown id 9, expected an id from ${files.poems} (poem id 1)${HINT}\n`);
    r = cli('--on-mismatch', 'warn');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(`poem-cache: warning: ${files.similarity} disagrees with ${files.poems}: 1 ranking(s) of unknown poem ids dropped (first: poem id 9); 2 unknown id(s) dropped from lists (first: 9 (in the list of poem id 1)); 1 poem(s) without a ranking given an empty ranking (first: poem id 5) (onMismatch: "warn")\n`);
    expect(readFileSync(out).length).toBeGreaterThan(0);
    r = cli('--on-mismatch', 'maybe');
    expect(r.status).toBe(2);
  });
});
