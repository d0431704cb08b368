// CacheReader.pageKey: keys for Astro's incremental builds, over real cache files.
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCaches } from '../converter/index.ts';
import { SectionKind } from '../cache/layout.ts';
import { encodeCacheData, encodeStrings, writeCache, type CacheData } from '../cache/writer.ts';
import { type CacheReader, forgetCache, openCache, readerFromBytes } from '../cache/reader.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'poem-cache-digest-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;
async function open(data: CacheData | ReturnType<typeof encodeCacheData>): Promise<CacheReader> {
  const file = join(dir, `c${serial++}.cache`);
  await writeCache(file, data);
  return openCache(file, { fallback: true });
}

function sample(): CacheData {
  return {
    ids: [3, 7, 8, 20, 21, 22],
    embeddings: { dim: 2, values: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) },
    similar: { lists: [[1, 2], [0], [], [4, 0, 1], [3], [0]] },
    title: ['静夜思', 'Psalm 23', '', 'Ünïcödé', 'emoji 🌙', 't5'],
    text: ['床前明月光', 'The LORD is my shepherd', '', 'x', 'y', 'z'],
    category: ['五言绝句', 'Psalms', '', 'c', 'c', 'c'],
    date: ['618–907', '', '', '2024-01-01', '', ''],
    fields: {
      'metadata.author': ['李白', 'David', null, 'a', 'b', 'c'],
      'metadata.is_golden_poem': [true, false, null, true, false, 1.5],
    },
    meta: { source: 'test' },
  };
}

// Pages as the rows they show; row 3 is on some of them.
const PAGES = [[0], [1], [2, 3], [0, 4], [5, 1], [3, 4, 5], [3], [4, 2, 0]];
const keys = (r: CacheReader) => PAGES.map((rows) => r.pageKey(rows, 'page'));
function setField(d: CacheData, path: string, row: number, value: string): void {
  d.fields![path] = d.fields![path].map((v, i) => (i === row ? value : v));
}
const withRow3 = PAGES.map((rows) => rows.includes(3));

describe('pageKey', () => {
  it('is 32 hex characters, the same across two writes of the same data and every way of opening', async () => {
    const a = await open(sample());
    const b = await open(sample());
    expect(a.source).not.toBe(b.source);
    expect(a.pageKey([0])).toMatch(/^[0-9a-f]{32}$/);
    expect(keys(b)).toEqual(keys(a));
    const mapped = openCache(b.source); // the native mapping when the addon is there
    forgetCache(b.source);
    const inMemory = readerFromBytes(new Uint8Array(readFileSync(b.source)), 'elsewhere');
    expect(keys(mapped)).toEqual(keys(a));
    expect(keys(inMemory)).toEqual(keys(a));
    // Every page differs from every other (different rows).
    expect(new Set(keys(a)).size).toBe(PAGES.length);
  });

  it('is the same across two conversions of the same poems.json (other paths, other mtimes)', async () => {
    const poems = {
      poems: [
        { id: 1, content: 'one', category: 'fediverse', filepath: 'f/1.txt', metadata: { author: 'x' } },
        { id: 1, content: 'uno', category: 'messages', filepath: 'm/1.txt', metadata: { is_golden_poem: true } },
        { id: 2, content: 'two', category: 'fediverse', filepath: 'f/2.txt', metadata: {} },
      ],
    };
    const readers: CacheReader[] = [];
    for (const name of ['one', 'two']) {
      const sub = mkdtempSync(join(dir, `conv-${name}-`));
      const file = join(sub, 'poems.json');
      writeFileSync(file, JSON.stringify(poems));
      utimesSync(file, new Date(), new Date(Date.now() - (name === 'one' ? 0 : 86_400_000)));
      const out = join(sub, 'poems.cache');
      await convertCaches({ poems: file, out, workers: 0, fields: ['metadata.author'] });
      readers.push(openCache(out));
    }
    const [a, b] = readers;
    expect(a.metadata).not.toEqual(b.metadata); // the converter records its inputs: the keys must not see that
    expect(a.fieldNames).toContain('metadata.author');
    for (const rows of [[0], [1], [2], [2, 0, 1]]) expect(b.pageKey(rows, 'x', 1)).toBe(a.pageKey(rows, 'x', 1));
    expect(a.pageKey([0])).not.toBe(a.pageKey([1])); // same id, other poem
  });

  const changes: [string, (d: CacheData) => void][] = [
    ['text', (d) => void (d.text![3] = 'x!')],
    ['title', (d) => void (d.title![3] = 'Ünïcödé ')],
    ['category', (d) => void (d.category![3] = 'd')],
    ['date', (d) => void (d.date![3] = '2024-01-02')],
    ['a field value', (d) => setField(d, 'metadata.author', 3, 'A')],
    ['a field value null -> ""', (d) => setField(d, 'metadata.author', 2, '')],
    ['a field type (true -> "true")', (d) => setField(d, 'metadata.is_golden_poem', 3, 'true')],
    ['its id', (d) => void ((d.ids as number[])[3] = 99)],
  ];
  for (const [what, change] of changes) {
    it(`changes exactly the keys of the pages that show a poem whose ${what} changed`, async () => {
      const before = keys(await open(sample()));
      const d = sample();
      change(d);
      const after = keys(await open(d));
      const row = what.includes('null') ? 2 : 3;
      const expected = PAGES.map((rows) => rows.includes(row));
      expect(after.map((k, i) => k !== before[i])).toEqual(expected);
    });
  }

  it('does not change when only lists or embeddings change (pages pass the rows they show)', async () => {
    const before = keys(await open(sample()));
    const d = sample();
    d.similar!.lists[3] = [5];
    d.embeddings!.values[7] = -1;
    expect(keys(await open(d))).toEqual(before);
  });

  it('changes every key when a field path names another column', async () => {
    const before = keys(await open(sample()));
    const d = sample();
    d.fields = { 'metadata.writer': d.fields!['metadata.author'], ...d.fields };
    delete d.fields['metadata.author'];
    const after = keys(await open(d));
    expect(after.every((k, i) => k !== before[i])).toBe(true);
  });

  it('covers strings sections the reader has no name for', async () => {
    const sections = (notes: string[]) => [...encodeCacheData(sample()), encodeStrings('notes', notes)];
    const a = await open(sections(['n0', 'n1', 'n2', 'n3', 'n4', 'n5']));
    expect(a.sections.find((s) => s.name === 'notes')?.kind).toBe(SectionKind.strings);
    const b = await open(sections(['n0', 'n1', 'n2', 'n3!', 'n4', 'n5']));
    expect(keys(b).map((k, i) => k !== keys(a)[i])).toEqual(withRow3);
    expect(keys(a)).not.toEqual(keys(await open(sample())));
  });

  it('tells string boundaries apart, across sections and across rows', async () => {
    const one = (title: string[], text: string[]) => open({ ids: [1, 2], title, text });
    const a = await one(['ab', 'x'], ['c', 'y']);
    const b = await one(['a', 'x'], ['bc', 'y']);
    expect(a.pageKey([0])).not.toBe(b.pageKey([0]));
    expect(a.pageKey([1])).toBe(b.pageKey([1]));
    const c = await one(['ab', 'c'], ['', '']);
    const d = await one(['a', 'bc'], ['', '']);
    expect(c.pageKey([0, 1])).not.toBe(d.pageKey([0, 1]));
    // Lengths, not just the section names between the strings, mark the boundaries: "" + "<text frame>z"
    // against "<text frame>" + "z", where <text frame> is the name "text" as a digest without lengths frames it.
    const framed = '\x04\0\0\0text';
    const g = await one(['', 'x'], [`${framed}\0\0\0\0z`, 'y']);
    const h = await one([`${framed}\0\0\0\0`, 'x'], ['z', 'y']);
    expect(g.pageKey([0])).not.toBe(h.pageKey([0]));
    // The same bytes under another section name are other data.
    const e = await open({ ids: [1, 2], title: ['ab', 'x'] });
    const f = await open({ ids: [1, 2], text: ['ab', 'x'] });
    expect(e.pageKey([0])).not.toBe(f.pageKey([0]));
  });

  it('tells apart two poems that hold the same id and the same strings (a poem is its poem_index)', async () => {
    const r = await open({ ids: [5, 5, 6], title: ['same', 'same', 'other'], text: ['t', 't', 't'] });
    expect(r.pageKey([0])).not.toBe(r.pageKey([1]));
    expect(r.pageKey([0, 2])).not.toBe(r.pageKey([1, 2]));
  });

  it('depends on the order of the rows and on how often one appears', async () => {
    const r = await open(sample());
    expect(r.pageKey([1, 2])).not.toBe(r.pageKey([2, 1]));
    expect(r.pageKey([1, 2])).toBe(r.pageKey(Int32Array.from([1, 2])));
    expect(r.pageKey([1])).not.toBe(r.pageKey([1, 1]));
    expect(r.pageKey([])).not.toBe(r.pageKey([0]));
  });

  it('depends on extra: value, type, boundaries and count', async () => {
    const r = await open(sample());
    const k = (...extra: (string | number)[]) => r.pageKey([0, 1], ...extra);
    const all = [k(), k(''), k('a'), k('b'), k('1'), k(1), k(1.5), k('ab'), k('a', 'b'), k('', 'ab'), k('ab', '')];
    expect(new Set(all).size).toBe(all.length);
    expect(k('a', 2)).toBe(k('a', 2));
    expect(r.pageKey([0], 'a')).not.toBe(r.pageKey([0, 1], 'a'));
  });

  it('refuses invalid rows with the reader row error, and extra values that are not strings or numbers', async () => {
    const r = await open(sample());
    for (const bad of [-1, 6, 1.5, Number.NaN]) {
      let expected: unknown;
      try {
        r.idOf(bad);
      } catch (err) {
        expected = err;
      }
      expect(expected).toBeInstanceOf(RangeError);
      expect(() => r.pageKey([0, bad])).toThrow(expected as Error);
    }
    expect(() => r.pageKey([0], {} as unknown as string)).toThrow(TypeError);
  });
});
