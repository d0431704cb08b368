// Limits: maxFileBytes (before reading), maxPoems, maxDimension, maxListLength; exact messages; the previous
// cache survives; the CLI takes them as flags and as a config-file "limits" key.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { convertCaches, ConvertError } from '../converter/index.ts';
import { DEFAULT_LIMITS, resolveLimits } from '../converter/limits.ts';
import { GOOD, type Role } from './fixtures/converter/bad-cases.ts';
import { conversionError, removeTmpDirs, SET_FILES, write, writeInputs } from './fixtures/converter/gen.ts';

afterAll(removeTmpDirs);

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/poem-cache.mjs');
const OLD = Buffer.from('previous cache bytes\n');

function setup(replace: Partial<Record<Role, string>> = {}) {
  const { dir, files } = writeInputs('limits-', replace);
  return { dir, files, out: write(dir, 'cache.bin', OLD) };
}

function untouched(dir: string, out: string) {
  expect(readFileSync(out).equals(OLD)).toBe(true);
  expect(readdirSync(dir).sort()).toEqual(SET_FILES);
}

describe('limits', () => {
  it('has the documented defaults', () => {
    expect(resolveLimits(undefined)).toEqual({
      maxFileBytes: 8 * 2 ** 30,
      maxPoems: 10_000_000,
      maxDimension: 65_536,
      maxListLength: 10_000_000,
    });
    expect(resolveLimits({ maxPoems: 5 })).toEqual({ ...DEFAULT_LIMITS, maxPoems: 5 });
  });

  it('maxFileBytes: checked before the file is read (a too-large broken file gets the limit error)', async () => {
    const { dir, files, out } = setup({ similarity: `{"metadata":${' '.repeat(2000)}` });
    for (const workers of [0, 2]) {
      const err = await conversionError({ ...files, out, force: true, workers, limits: { maxFileBytes: 1000 } });
      expect(err).toBeInstanceOf(ConvertError);
      expect(err.message).toBe(
        `${files.similarity}: the file size 2,012 bytes exceeds the limit maxFileBytes = 1,000 (set ` +
          'limits.maxFileBytes to raise it)',
      );
      untouched(dir, out);
    }
  });

  it('maxPoems', async () => {
    const { dir, files, out } = setup();
    const err = await conversionError({ ...files, out, force: true, workers: 0, limits: { maxPoems: 2 } });
    expect(err.message).toBe(
      `${files.poems}: the poem count 3 exceeds the limit maxPoems = 2 (set limits.maxPoems to raise it)`,
    );
    untouched(dir, out);
  });

  it('maxDimension', async () => {
    const { dir, files, out } = setup();
    for (const workers of [0, 2]) {
      const err = await conversionError({ ...files, out, force: true, workers, limits: { maxDimension: 1 } });
      expect(err).toBeInstanceOf(ConvertError);
      expect(err.message).toBe(
        `${files.embeddings}: the embedding dimension 2 exceeds the limit maxDimension = 1 (set limits.maxDimension ` +
          'to raise it)',
      );
      untouched(dir, out);
    }
  });

  it('maxListLength: rankings and sequences', async () => {
    const { dir, files, out } = setup({ similarity: GOOD.similarity.replace('"2":[1,3]', '"2":[1,3,1]') });
    let err = await conversionError({ ...files, out, force: true, workers: 0, limits: { maxListLength: 2 } });
    expect(err.message).toBe(
      `${files.similarity}: the ranking of poem_index 2 (x/0002.txt) (3 entries) exceeds the limit maxListLength = 2 ` +
        '(set limits.maxListLength to raise it)',
    );
    untouched(dir, out);
    err = await conversionError({
      poems: files.poems,
      diversity: files.diversity,
      out,
      force: true,
      workers: 0,
      limits: { maxListLength: 1 },
    });
    expect(err.message).toBe(
      `${files.diversity}: the sequence of poem_index 1 (x/0001.txt) (2 entries) exceeds the limit maxListLength = 1 ` +
        '(set limits.maxListLength to raise it)',
    );
    untouched(dir, out);
  });

  it('limits at the exact values pass', async () => {
    const { files, out } = setup();
    const r = await convertCaches({
      ...files,
      out,
      workers: 0,
      limits: {
        maxFileBytes: Math.max(...Object.values(files).map((f) => statSync(f).size)),
        maxPoems: 3,
        maxDimension: 2,
        maxListLength: 2,
      },
    });
    expect(r.rows).toBe(3);
  });

  it('rejects bad limit values with a clear message', async () => {
    const { files, out } = setup();
    await expect(convertCaches({ ...files, out, limits: { maxPoems: 0 } })).rejects.toThrow(
      'convertCaches: limits.maxPoems must be an integer >= 1 or Infinity, got 0',
    );
    await expect(convertCaches({ ...files, out, limits: { maxPoem: 5 } as never })).rejects.toThrow(
      'convertCaches: limits: unknown limit "maxPoem" (known: maxFileBytes, maxPoems, maxDimension, maxListLength)',
    );
  });

  it('CLI: --max-* flags and the config "limits" key', () => {
    const { dir, files, out } = setup();
    const cli = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [BIN, 'convert', '--poems', files.poems, '--embeddings', files.embeddings, '--out', out, '--quiet', ...args],
        { encoding: 'utf8' },
      );
    let r = cli('--max-dimension', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `poem-cache: ${files.embeddings}: the embedding dimension 2 exceeds the limit maxDimension = 1 (set ` +
        `limits.maxDimension to raise it)\n`,
    );
    r = cli('--max-poems', 'two');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^poem-cache: --max-poems must be a whole number >= 1, got "two"\n/);
    const config = write(dir, 'convert.json', JSON.stringify({ limits: { maxPoems: 2 } }));
    r = cli('--config', config);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `poem-cache: ${files.poems}: the poem count 3 exceeds the limit maxPoems = 2 (set limits.maxPoems to raise it)\n`,
    );
    r = cli('--config', config, '--max-poems', '3', '--max-file-bytes', '100000', '--max-list-length', '5');
    expect(r.status, r.stderr).toBe(0);
    const bad = write(dir, 'bad.json', JSON.stringify({ limits: { maxRows: 2 } }));
    r = cli('--config', bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /unknown limit "maxRows" \(allowed: maxFileBytes, maxPoems, maxDimension, maxListLength\)/,
    );
  });
});
