// The malformed-input corpus: exact messages on the default path, the same error class on the stream-json
// path, and after every failure the previous cache is untouched and no temp or spool file is left behind.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { convertCaches, ConvertError } from '../converter/index.ts';
import { BAD, GOOD, type Role } from './fixtures/converter/bad-cases.ts';
import { conversionError, removeTmpDirs, SET_FILES, tmp, write, writeInputs } from './fixtures/converter/gen.ts';

afterAll(removeTmpDirs);

const OLD = Buffer.from('previous cache bytes: must survive every failed conversion\n');

function setup(role: Role, text: string | Buffer) {
  const { dir, files } = writeInputs('conv-err-', { [role]: text });
  return { dir, files, out: write(dir, 'cache.bin', OLD) };
}

function expectUntouched(dir: string, out: string) {
  expect(readFileSync(out).equals(OLD)).toBe(true);
  expect(readdirSync(dir).sort()).toEqual(SET_FILES);
}

describe('malformed inputs', () => {
  it('has a corpus of at least 30 cases', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(30);
  });

  BAD.forEach((c, k) => {
    // worker threads cost a pool start-up per conversion: exercise them on every 8th case only
    const threads = k % 8 === 0 ? 2 : 0;
    it(`${c.name} (${c.role})`, async () => {
      const { dir, files, out } = setup(c.role, c.text);
      const expected = c.message.replaceAll('<file>', files[c.role]).replaceAll('<poems>', files.poems);
      // default path, in this thread and with worker threads, and with a tiny read buffer
      for (const extra of [{ workers: threads }, { workers: 0, chunkSize: 16 }]) {
        const err = await conversionError({ ...files, out, force: true, ...extra });
        expect(err).toBeInstanceOf(ConvertError);
        expect((err as Error).message).toBe(expected);
        expect((err as ConvertError).file).toBe(files[c.role]);
        expectUntouched(dir, out);
      }
      // stream-json path: the same error class (positions are not known there)
      for (const workers of [threads]) {
        const err = await conversionError({ ...files, out, force: true, parser: 'stream-json', workers });
        expect(err).toBeInstanceOf(ConvertError);
        expect((err as ConvertError).file).toBe(files[c.role]);
        expectUntouched(dir, out);
      }
    });
  });

  it('a missing input file', async () => {
    const { dir, files, out } = setup('poems', GOOD.poems);
    const missing = join(dir, 'nope.json');
    const err = await conversionError({ ...files, similarity: missing, out, force: true });
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toBe(`${missing}: cannot read the file (ENOENT), expected an existing JSON file`);
    expectUntouched(dir, out);
  });

  it('reports line:column in characters on non-ASCII lines, across tiny chunks', async () => {
    const text =
      '{"poems":[\n{"id":1,"content":"ünïcødé 詩 🌙"},\n{"id":2,"title":"日本","content":"b",  "category": 5}]}';
    const { files, out } = setup('poems', text);
    for (const chunkSize of [16, 1 << 20]) {
      const err = await conversionError({ ...files, out, force: true, workers: 0, chunkSize });
      expect((err as Error).message).toBe(
        `${files.poems}:3:50: category is number 5, expected a string or null (poem id 2)`,
      );
      expect((err as ConvertError).line).toBe(3);
      expect((err as ConvertError).column).toBe(50);
    }
  });

  it('locates a number out of range deep in a long list cut into many fast-path slices', async () => {
    const long = Array.from({ length: 5000 }, (_, i) => (i === 4321 ? 77 : [1, 2, 3][i % 3]));
    const text = `{"metadata":{"total_poems":3},"rankings":{"1":${JSON.stringify(long)},"2":[2],"3":[3]}}`;
    const { files, out } = setup('similarity', text);
    const column = text.indexOf(',77,') + 2;
    const zeroAt = text.indexOf(',3,') + 2; // the first 3: 0-based positions end at 2
    for (const chunkSize of [64, 1000, 1 << 20]) {
      for (const workers of chunkSize === 64 ? [0, 1] : [0]) {
        const err = await conversionError({
          poems: files.poems,
          similarity: files.similarity,
          out,
          force: true,
          workers,
          chunkSize,
        });
        expect((err as Error).message).toBe(
          `${files.similarity}:1:${column}: 77 names no poem in any reading: ` +
            'as 1-based poem_index, 77 is outside 1..3; as poem ids, id 1 names 2 poems (x/0001.txt, y/0001.txt); ' +
            `as 0-based positions, 3 is outside 0..2 (at 1:${zeroAt}), expected numbers that all name ` +
            `poems of ${files.poems} one way ` +
            '(set keys.similarity (--similarity-keys) to id, index or index0 to choose) ' +
            '(set onMismatch: "warn" to convert anyway)',
        );
      }
    }
  });
});

describe('readings of poem references', () => {
  it('a number outside the reading the user chose is an error at that number', async () => {
    const { files, out } = setup('similarity', GOOD.similarity);
    const err = await conversionError({ ...files, out, force: true, workers: 0, keys: { similarity: 'index0' } });
    expect((err as Error).message).toBe(
      `${files.similarity}:1:50: 3 is outside 0..2, expected a 0-based position in ${files.poems} (0..2) ` +
        `(keys.similarity (--similarity-keys) is "index0") (set onMismatch: "warn" to convert anyway)`,
    );
  });

  it('two readings that both fit and name different poems: an error naming both', async () => {
    // unique ids that are a permutation of 1..3: every number fits as an id and as a poem_index
    const dir = tmp('conv-err-');
    const poems = write(
      dir,
      'poems.json',
      '{"poems":[{"id":2,"content":"a"},{"id":3,"content":"b"},{"id":1,"content":"c"}]}',
    );
    const similarity = write(
      dir,
      'similarity.json',
      '{"metadata":{"total_poems":3},"rankings":{"1":[2,3],"2":[1,3],"3":[1,2]}}',
    );
    const err = await conversionError({ poems, similarity, out: join(dir, 'c.bin'), workers: 0 });
    expect((err as Error).message).toBe(
      `${similarity}: every number fits two readings that name different poems: ` +
        'as poem ids, 1 is poem_index 3 (id 1); as 1-based poem_index, 1 is poem_index 1 (id 2), ' +
        'expected one reading (set keys.similarity (--similarity-keys) to "id" or "index")',
    );
    // either choice converts
    const asIds = await convertCaches({
      poems,
      similarity,
      out: join(dir, 'a.bin'),
      workers: 0,
      keys: { similarity: 'id' },
    });
    expect(asIds.inputs[1].reading).toBe('id');
    const asIndex = await convertCaches({
      poems,
      similarity,
      out: join(dir, 'b.bin'),
      workers: 0,
      keys: { similarity: 'index' },
    });
    expect(asIndex.inputs[1].reading).toBe('index');
  });

  it('readings that agree are one answer: ids 1..N in order read as poem_index', async () => {
    const dir = tmp('conv-err-');
    const poems = write(
      dir,
      'poems.json',
      '{"poems":[{"id":1,"content":"a"},{"id":2,"content":"b"},{"id":3,"content":"c"}]}',
    );
    const similarity = write(
      dir,
      'similarity.json',
      '{"metadata":{"total_poems":3},"rankings":{"1":[2,3],"2":[1,3],"3":[1,2]}}',
    );
    const r = await convertCaches({ poems, similarity, out: join(dir, 'c.bin'), workers: 0 });
    expect(r.inputs[1].reading).toBe('index');
  });
});
