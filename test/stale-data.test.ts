// Stale data: poems.json and a derived cache disagree. Default: the build fails with a message naming both
// files and what disagrees. onMismatch 'warn': converted from a reconciled copy, one warning per
// disagreeing file.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { convertCaches, ConvertError } from '../converter/index.ts';
import { openCache } from '../cache/reader.ts';
import { GOOD, type Role } from './fixtures/converter/bad-cases.ts';
import { removeTmpDirs, SET_FILES, writeInputs } from './fixtures/converter/gen.ts';

afterAll(removeTmpDirs);

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/poem-cache.mjs');
const HINT = ' (set onMismatch: "warn" to convert anyway)';

function setup(replace: Partial<Record<Role, string>> = {}) {
  const { dir, files } = writeInputs('stale-', replace);
  return { dir, files, out: join(dir, 'cache.bin') };
}

// The other files were made from a poems.json with a fourth poem (as when the pipeline re-extracts: 7,790 -> 7,792)
const STALE = {
  embeddings: `${GOOD.embeddings.slice(0, -2)},{"poem_index":4,"id":3,"embedding":[0.7,0.8]}]}`,
  similarity: '{"metadata":{"total_poems":4},"rankings":{"1":[2,4],"2":[4,1],"3":[1,2],"4":[3,1]}}',
  diversity: '{"metadata":{"num_poems":4,"top_k":2},"sequences":{"0":[0,3],"1":[1,0],"2":[2,1],"3":[3,2]}}',
};
const SIM_WARNING = (f: Record<Role, string>) =>
  `${f.similarity} disagrees with ${f.poems} (read as 1-based poem_index): 1 ranking(s) of keys that name no ` +
  'poem dropped (first: "4"); 2 number(s) that name no poem dropped from lists (first: 4 in the ranking of "1"); ' +
  'metadata.total_poems 4 set to 3 (onMismatch: "warn")';

describe('stale data', () => {
  it("'error' (default): names both files and what disagrees", async () => {
    const { files, out } = setup(STALE);
    for (const workers of [0, 2]) {
      const err = await convertCaches({ ...files, out, workers }).catch((e) => e);
      expect(err).toBeInstanceOf(ConvertError);
      // the first input to fail depends on thread timing with workers; all name both files
      expect([
        `${files.embeddings}:1:205: poem_index 4 is outside 1..3, expected a 1-based poem_index of ${files.poems} ` +
          `(1..3)${HINT}`,
        `${files.similarity}:1:28: metadata.total_poems is 4 but ${files.poems} has 3 poems, expected 3${HINT}`,
        `${files.diversity}:1:26: metadata.num_poems is 4 but ${files.poems} has 3 poems, expected 3${HINT}`,
      ]).toContain((err as Error).message);
      if (workers === 0) expect((err as ConvertError).file).toBe(files.embeddings);
    }
    // one stale file at a time, each in its own words
    const noCount = setup({ similarity: STALE.similarity.replace('"total_poems":4', '"total_poems":3') });
    expect((await convertCaches({ ...noCount.files, out: noCount.out, workers: 0 }).catch((e) => e)).message).toBe(
      `${noCount.files.similarity}:1:50: 4 names no poem in any reading: ` +
        'as 0-based positions, 4 is outside 0..2; as poem ids, id 1 names 2 poems (x/0001.txt, y/0001.txt); ' +
        'as 1-based poem_index, 4 is outside 1..3 (at 1:50), expected numbers that all ' +
        `name poems of ${noCount.files.poems} ` +
        `one way (set keys.similarity (--similarity-keys) to id, index or index0 to choose)${HINT}`,
    );
    const missing = setup({ similarity: '{"metadata":{"total_poems":3},"rankings":{"1":[2,3],"2":[1,3]}}' });
    expect((await convertCaches({ ...missing.files, out: missing.out, workers: 0 }).catch((e) => e)).message).toBe(
      `${missing.files.similarity}: no ranking for poem_index 3 (y/0001.txt), ` +
        `expected one ranking per poem of ${missing.files.poems} ` +
        `(its numbers read as 1-based poem_index)${HINT}`,
    );
    const shifted = setup({ embeddings: GOOD.embeddings.replace('"poem_index":2,"id":2', '"poem_index":2,"id":5') });
    expect((await convertCaches({ ...shifted.files, out: shifted.out, workers: 0 }).catch((e) => e)).message).toBe(
      `${shifted.files.embeddings}:1:120: this entry's id is 5, but poem_index 2 (x/0002.txt) has id 2, ` +
        `expected the ids of ${shifted.files.poems} ` +
        `(the embeddings were made from another ${shifted.files.poems})${HINT}`,
    );
  });

  it("'warn': converts a reconciled copy under each file's reading and warns once per disagreeing file", async () => {
    const { dir, files, out } = setup(STALE);
    for (const workers of [0, 2]) {
      const warnings: string[] = [];
      const r = await convertCaches({
        ...files,
        out,
        workers,
        force: true,
        onMismatch: 'warn',
        onWarning: (m) => warnings.push(m),
      });
      expect(r.skipped).toBe(false);
      expect(r.inputs.map((i) => i.file).sort()).toEqual(Object.values(files).sort());
      expect(warnings).toEqual([
        `${files.embeddings} disagrees with ${files.poems} (read as 1-based poem_index): ` +
          "1 embedding(s) that name no poem, or whose id is not their poem's, " +
          'dropped (first: poem_index 4 is outside 1..3) (onMismatch: "warn")',
        SIM_WARNING(files),
        `${files.diversity} disagrees with ${files.poems} (read as 0-based positions): ` +
          '1 sequence(s) of keys that name no poem dropped (first: "3"); ' +
          '1 number(s) that name no poem dropped from lists (first: 3 in the sequence of "0"); ' +
          'metadata.num_poems 4 set to 3 (onMismatch: "warn")',
      ]);
      const c = openCache(out);
      expect(Array.from(c.similar(0))).toEqual([1]);
      expect(Array.from(c.similar(1))).toEqual([0]);
      expect(Array.from(c.similar(2))).toEqual([0, 1]);
      expect(Array.from(c.diversity(0))).toEqual([0]);
      expect(Array.from(c.diversity(2))).toEqual([2, 1]);
      expect(Array.from(c.embedding(1))).toEqual([Math.fround(0.3), Math.fround(0.4)]);
      // no reconciled copies or spools left behind
      expect(readdirSync(dir).sort()).toEqual(SET_FILES);
    }
    // a poem without an embedding gets zeros; a missing sequence is just the poem
    const gaps = setup({
      embeddings: GOOD.embeddings.replace(',{"poem_index":3,"id":1,"embedding":[0.5,0.6]}', ''),
      diversity: GOOD.diversity.replace(',"2":[2,1]', ''),
    });
    const warnings: string[] = [];
    await convertCaches({
      ...gaps.files,
      out: gaps.out,
      workers: 0,
      onMismatch: 'warn',
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([
      `${gaps.files.embeddings} disagrees with ${gaps.files.poems} (read as 1-based poem_index): ` +
        '1 poem(s) without an embedding given zeros ' +
        `(first: poem_index 3 (y/0001.txt)) (onMismatch: "warn")`,
      `${gaps.files.diversity} disagrees with ${gaps.files.poems} (read as 0-based positions): ` +
        '1 poem(s) without a sequence given a sequence of ' +
        `just the poem (first: poem_index 3 (y/0001.txt)) (onMismatch: "warn")`,
    ]);
    const c = openCache(gaps.out);
    expect(Array.from(c.embedding(2))).toEqual([0, 0]);
    expect(Array.from(c.diversity(2))).toEqual([2]);
  });

  it("'warn' with consistent inputs: no warning, and the cache is up to date next time", async () => {
    const { files, out } = setup();
    const warnings: string[] = [];
    expect(
      (await convertCaches({ ...files, out, workers: 0, onMismatch: 'warn', onWarning: (m) => warnings.push(m) }))
        .skipped,
    ).toBe(false);
    expect(
      (await convertCaches({ ...files, out, workers: 0, onMismatch: 'warn', onWarning: (m) => warnings.push(m) }))
        .skipped,
    ).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("'warn' keeps other errors: a broken file is still an error", async () => {
    const { files, out } = setup({ similarity: '{"metadata":{"total_poems":4},"rankings":{"1":[2,3],' });
    const err = await convertCaches({ ...files, out, workers: 0, onMismatch: 'warn', onWarning: () => {} }).catch(
      (e) => e,
    );
    expect(err.message).toBe(
      `${files.similarity}:1:28: metadata.total_poems is 4 but ${files.poems} has 3 poems, expected 3${HINT}`,
    );
    const syntax = setup({ similarity: '{"metadata":{"total_poems":3},"rankings":{"1":[2,3],"2":[1,3],"3":[1,2]}' });
    const err2 = await convertCaches({
      ...syntax.files,
      out: syntax.out,
      workers: 0,
      onMismatch: 'warn',
      onWarning: () => {},
    }).catch((e) => e);
    expect(err2).toBeInstanceOf(ConvertError);
    expect(err2.file).toBe(syntax.files.similarity);
    expect(err2.message).not.toContain('onMismatch');
    await expect(convertCaches({ ...files, out, onMismatch: 'ignore' as never })).rejects.toThrow(
      'convertCaches: onMismatch must be "error" or "warn", got "ignore"',
    );
  });

  it('CLI: --on-mismatch warn prints the warnings on stderr; the default fails', () => {
    const { files, out } = setup({ similarity: STALE.similarity });
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [BIN, 'convert', '--poems', files.poems, '--similarity', files.similarity, '--out', out, '--quiet', ...args],
        { encoding: 'utf8' },
      );
    let r = cli();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `poem-cache: ${files.similarity}:1:28: metadata.total_poems is 4 but ${files.poems} has 3 poems, expected ` +
        `3${HINT}\n`,
    );
    r = cli('--on-mismatch', 'warn');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(`poem-cache: warning: ${SIM_WARNING(files)}\n`);
    expect(readFileSync(out).length).toBeGreaterThan(0);
    r = cli('--on-mismatch', 'maybe');
    expect(r.status).toBe(2);
  });
});
