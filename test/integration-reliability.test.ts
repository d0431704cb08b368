// poemCache() reliability options: limits and onMismatch (validated, passed to the converter by
// ensureCache), and the containment of input and cache paths in the project root (allowOutsideRoot).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOptions, resolveOptions } from '../integration/options.ts';
import { ensureCache } from '../integration/convert.ts';
import { GOOD } from './fixtures/converter/bad-cases.ts';

const base = mkdtempSync(join(tmpdir(), 'poem-cache-rel-'));
const root = join(base, 'site');
const outside = join(base, 'elsewhere');
mkdirSync(join(root, 'data'), { recursive: true });
mkdirSync(outside);
for (const [role, text] of Object.entries(GOOD)) {
  writeFileSync(join(root, 'data', `${role}.json`), text);
  writeFileSync(join(outside, `${role}.json`), text);
}
symlinkSync(outside, join(root, 'linked'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const cacheDir = join(root, 'node_modules', '.astro');
const resolveWith = (o: Record<string, unknown>) =>
  resolveOptions(checkOptions({ poems: 'data/poems.json', ...o }), root, cacheDir);

describe('limits and onMismatch options', () => {
  it('defaults and valid values', () => {
    expect(checkOptions({ poems: 'p.json' })).toMatchObject({ onMismatch: 'error', allowOutsideRoot: false });
    expect(checkOptions({ poems: 'p.json' }).limits).toBeUndefined();
    expect(
      checkOptions({
        poems: 'p.json',
        limits: { maxPoems: 5, maxFileBytes: Infinity },
        onMismatch: 'warn',
        allowOutsideRoot: true,
      }),
    ).toMatchObject({ limits: { maxPoems: 5, maxFileBytes: Infinity }, onMismatch: 'warn', allowOutsideRoot: true });
  });

  it.each([
    [{ limits: 5 }, 'poemCache: option "limits" must be an object like { maxPoems: 1000000 }, got 5'],
    [
      { limits: { maxRows: 5 } },
      'poemCache: option "limits": unknown limit "maxRows" (known limits: maxFileBytes, maxPoems, maxDimension, ' +
        'maxListLength)',
    ],
    [
      { limits: { maxPoems: 0 } },
      'poemCache: option "limits.maxPoems" must be an integer >= 1 or Infinity (no limit), got 0',
    ],
    [
      { limits: { maxDimension: '9' } },
      'poemCache: option "limits.maxDimension" must be an integer >= 1 or Infinity (no limit), got "9"',
    ],
    [{ onMismatch: 'ignore' }, 'poemCache: option "onMismatch" must be "error" or "warn", got "ignore"'],
    [{ allowOutsideRoot: 'yes' }, 'poemCache: option "allowOutsideRoot" must be true or false, got "yes"'],
  ])('rejects %j', (o, message) => {
    expect(() => checkOptions({ poems: 'p.json', ...o })).toThrow(message);
  });

  it('ensureCache passes limits and onMismatch to the converter; warnings go to the logger', async () => {
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), debug() {}, error() {} } as never;
    const limited = resolveWith({ cacheFile: 'cache/a.cache', limits: { maxPoems: 2 } });
    await expect(ensureCache(limited, logger)).rejects.toThrow(
      `${join(root, 'data', 'poems.json')}: the poem count 3 exceeds the limit maxPoems = 2 (set limits.maxPoems to ` +
        'raise it)',
    );
    // a ranking that names a fourth poem (made from a poems.json with more poems)
    writeFileSync(join(root, 'data', 'stale-similarity.json'), GOOD.similarity.replace('"2":[1,3]', '"2":[1,4]'));
    const stale = { similarity: 'data/stale-similarity.json', cacheFile: 'cache/b.cache' };
    const file = join(root, 'data', 'stale-similarity.json');
    const poems = join(root, 'data', 'poems.json');
    await expect(ensureCache(resolveWith(stale), logger)).rejects.toThrow(
      `${file}:1:60: 4 names no poem in any reading: as 1-based poem_index, 4 is outside 1..3; ` +
        'as poem ids, id 1 names 2 poems (x/0001.txt, y/0001.txt); ' +
        'as 0-based positions, 3 is outside 0..2 (at 1:50), expected numbers that all name ' +
        `poems of ${poems} one way ` +
        '(set keys.similarity (--similarity-keys) to id, index or index0 to choose) ' +
        '(set onMismatch: "warn" to convert anyway)',
    );
    const r = await ensureCache(resolveWith({ ...stale, onMismatch: 'warn' }), logger);
    expect(r.rows).toBe(3);
    expect(warnings).toEqual([
      `${file} disagrees with ${poems} (read as 1-based poem_index): ` +
        '1 number(s) that name no poem dropped from lists ' +
        '(first: 4 in the ranking of "2") (onMismatch: "warn")',
    ]);
  });
});

describe('paths inside the project root', () => {
  it("accepts paths inside the root, and the default cache file in Astro's cacheDir wherever it is", () => {
    expect(
      resolveWith({ similarity: './data/similarity.json', cacheFile: join(root, 'c', 'x.cache') }).inputs,
    ).toHaveLength(2);
    expect(resolveOptions(checkOptions({ poems: 'data/poems.json' }), root, join(outside, '.astro')).cacheFile).toBe(
      join(outside, '.astro', 'poem-cache', 'poems.cache'),
    );
  });

  it.each([
    ['poems', { poems: '../elsewhere/poems.json' }, join(outside, 'poems.json')],
    ['similarity', { similarity: join(outside, 'similarity.json') }, join(outside, 'similarity.json')],
    ['diversity', { diversity: '../elsewhere/missing.json' }, join(outside, 'missing.json')],
    ['cacheFile', { cacheFile: '../elsewhere/poems.cache' }, join(outside, 'poems.cache')],
    ['cacheFile', { cacheFile: '/tmp/poems.cache' }, '/tmp/poems.cache'],
  ])('rejects option "%s" outside the root', (option, o, abs) => {
    expect(() => resolveWith(o)).toThrow(
      `poemCache: option "${option}": ${abs} is outside the project root ${root} (set allowOutsideRoot: true to ` +
        'allow it)',
    );
  });

  it('follows symbolic links: an input inside the root that links outside is rejected', () => {
    expect(() => resolveWith({ embeddings: 'linked/embeddings.json' })).toThrow(
      `poemCache: option "embeddings": ${join(root, 'linked', 'embeddings.json')} is a link to ` +
        `${join(outside, 'embeddings.json')}, outside the project root ${root} (set allowOutsideRoot: true to allow ` +
        'it)',
    );
  });

  it('allowOutsideRoot: true allows all of them', () => {
    const r = resolveWith({
      poems: '../elsewhere/poems.json',
      embeddings: 'linked/embeddings.json',
      cacheFile: '../elsewhere/poems.cache',
      allowOutsideRoot: true,
    });
    expect(r.inputs.map((i) => i.file)).toEqual([join(outside, 'poems.json'), join(root, 'linked', 'embeddings.json')]);
    expect(r.cacheFile).toBe(join(outside, 'poems.cache'));
  });
});
