import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E, FORMAT_MAJOR, H, HEADER_SIZE, IDS_REPEATED, SECTION_ENTRY_SIZE, SectionKind } from '../cache/layout.ts';
import { CacheWriter, encodeJson, encodeStrings, writeCache, type CacheData } from '../cache/writer.ts';
import { AmbiguousIdError, forgetCache, openCache, readerFromBytes } from '../cache/reader.ts';
import { CacheFormatError, parseCache } from '../cache/validate.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'poem-cache-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Ids with gaps, non-ASCII text, an empty list, scores on one list section only.
function sample(): CacheData {
  const ids = [3, 7, 8, 20, 21];
  const dim = 4;
  const values = new Float32Array(ids.length * dim).map((_, i) => (i % 7) - 2.5 + i / 100);
  return {
    ids,
    embeddings: { dim, values },
    similar: { lists: [[1, 2], [0], [], [4, 0, 1], [3]], scores: [[0.9, 0.5], [0.75], [], [0.25, 0.125, -1], [1]] },
    diversity: { lists: [[0, 4, 2], [1, 3], [2], [3, 1], [4, 0]] },
    title: ['静夜思', 'Psalm 23', '', 'Ünïcödé — “quotes”', 'emoji 🌙'],
    text: ['床前明月光，\n疑是地上霜。', 'The LORD is my shepherd;\nI shall not want.', '', 'x', 'y'],
    category: ['五言绝句', 'Psalms', '', 'c', 'c'],
    date: ['618–907', '', '', '2024-01-01', ''],
    meta: { source: 'test', counts: { poems: 5 } },
  };
}

function expectSample(r: ReturnType<typeof openCache>) {
  const d = sample();
  expect(r.count).toBe(5);
  expect(r.dim).toBe(4);
  for (let row = 0; row < 5; row++) {
    expect(r.idOf(row)).toBe(d.ids[row]);
    expect(r.rowOf(d.ids[row])).toBe(row);
    expect(Array.from(r.embedding(row))).toEqual(Array.from(d.embeddings!.values.subarray(row * 4, row * 4 + 4)));
    expect(Array.from(r.similar(row))).toEqual(d.similar!.lists[row]);
    expect(Array.from(r.similarScores(row)!)).toEqual(Array.from(Float32Array.from(d.similar!.scores![row])));
    expect(Array.from(r.diversity(row))).toEqual(d.diversity!.lists[row]);
    expect(r.title(row)).toBe(d.title![row]);
    expect(r.text(row)).toBe(d.text![row]);
    expect(r.category(row)).toBe(d.category![row]);
    expect(r.date(row)).toBe(d.date![row]);
  }
  expect(r.rowOf(4)).toBe(-1);
  expect(r.rowOf(0)).toBe(-1);
  expect(r.rowOf(1e9)).toBe(-1);
  expect(r.rowOf(1.5)).toBe(-1);
  expect(r.metadata).toEqual({ source: 'test', counts: { poems: 5 } });
}

for (const mode of ['fallback', 'default'] as const) {
  describe(`round trip (${mode} path)`, () => {
    const opts = { fallback: mode === 'fallback' };

    it('reads back every section kind', async () => {
      const file = join(dir, `sample-${mode}.cache`);
      await writeCache(file, sample());
      const r = openCache(file, opts);
      expectSample(r);
      expect(r.similarScores(2)).toHaveLength(0);
      expect(r.diversity(2)).toHaveLength(1);
      expect(r.has('similar')).toBe(true);
      expect(r.has('nope')).toBe(false);
    });

    it('uses a sorted index when ids are sparse and finds every id', async () => {
      const file = join(dir, `sparse-${mode}.cache`);
      const ids = [1_000_000, 5, 2_000_000_000, 77, 12345];
      await writeCache(file, { ids, title: ids.map(String) });
      const r = openCache(file, opts);
      const ids2 = r.sections.find((s) => s.name === 'ids')!;
      expect(ids2.flags & 1).toBe(0);
      ids.forEach((id, row) => {
        expect(r.rowOf(id)).toBe(row);
      });
      expect(r.rowOf(6)).toBe(-1);
      expect(r.rowOf(2_000_000_001)).toBe(-1);
      expect(r.title(2)).toBe('2000000000');
    });

    it('returns views into one image, not copies', async () => {
      const file = join(dir, `views-${mode}.cache`);
      await writeCache(file, sample());
      const r = openCache(file, opts);
      const a = r.embedding(1);
      const b = r.embedding(1);
      expect(a.buffer).toBe(r.bytes.buffer);
      expect(b.buffer).toBe(a.buffer);
      expect(a.byteOffset).toBe(b.byteOffset);
      expect(r.similar(0).buffer).toBe(r.bytes.buffer);
      expect(r.diversity(3).buffer).toBe(r.bytes.buffer);
      expect(r.bytes.byteLength).toBe(statSync(file).size);
    });

    it('opens once per thread for the same file version, again after the file is replaced', async () => {
      const file = join(dir, `idem-${mode}.cache`);
      await writeCache(file, sample());
      const r1 = openCache(file, opts);
      expect(openCache(file, opts)).toBe(r1);
      await new Promise((res) => setTimeout(res, 20));
      await writeCache(file, { ...sample(), title: ['a', 'b', 'c', 'd', 'e'] });
      const r2 = openCache(file, opts);
      expect(r2).not.toBe(r1);
      expect(r2.title(0)).toBe('a');
      expect(r1.title(0)).toBe('静夜思'); // the old image stays readable after the rename
      forgetCache(file);
      expect(openCache(file, opts)).not.toBe(r2);
    });

    it('rejects rows out of range and missing sections clearly', async () => {
      const file = join(dir, `range-${mode}.cache`);
      await writeCache(file, { ids: [1, 2], title: ['a', 'b'] });
      const r = openCache(file, opts);
      expect(() => r.title(2)).toThrow(/row 2 is outside 0\.\.1/);
      expect(() => r.title(-1)).toThrow(RangeError);
      expect(() => r.similar(0)).toThrow(/has no "similar" section/);
      expect(() => r.embedding(0)).toThrow(/has no "embeddings" section/);
    });
  });
}

describe('writer', () => {
  it('writes an empty cache and empty sections', async () => {
    const file = join(dir, 'empty.cache');
    await writeCache(file, {
      ids: [],
      title: [],
      similar: { lists: [] },
      embeddings: { dim: 768, values: new Float32Array(0) },
    });
    const r = openCache(file, { fallback: true });
    expect(r.count).toBe(0);
    expect(r.dim).toBe(768);
    expect(r.rowOf(0)).toBe(-1);
  });

  it('aligns every section and every array to 64 bytes and records checksums', async () => {
    const file = join(dir, 'aligned.cache');
    await writeCache(file, sample());
    const bytes = new Uint8Array(readFileSync(file));
    const parsed = parseCache(bytes, file);
    for (const s of parsed.sections) {
      expect(s.offset % 64).toBe(0);
      for (const p of Object.values(s.parts)) expect(p.offset % 64).toBe(0);
      expect(crc32(bytes.subarray(s.offset, s.offset + s.byteLength))).toBe(s.checksum);
    }
    expect(parsed.sections.map((s) => s.name)).toEqual([
      'ids',
      'embeddings',
      'similar',
      'diversity',
      'title',
      'text',
      'category',
      'date',
      'meta',
    ]);
  });

  it('streams parts from files and async iterables', async () => {
    const src = join(dir, 'part.bin');
    const strings = encodeStrings('title', ['a', 'bb', 'ccc']);
    writeFileSync(src, strings.parts[1] as Uint8Array);
    async function* offsets() {
      const o = strings.parts[0] as Uint32Array;
      yield new Uint8Array(o.buffer, 0, 4);
      yield new Uint8Array(o.buffer, 4, o.byteLength - 4);
    }
    const file = join(dir, 'streamed.cache');
    const w = await CacheWriter.create(file);
    await w.addSection({
      name: 'ids',
      kind: SectionKind.ids,
      flags: 1,
      count: 3,
      param: 0,
      param2: 3,
      parts: [Int32Array.of(0, 1, 2), Int32Array.of(0, 1, 2)],
    });
    await w.addSection({ ...strings, parts: [offsets(), { file: src }] });
    await w.finish();
    const r = openCache(file, { fallback: true });
    expect([r.title(0), r.title(1), r.title(2)]).toEqual(['a', 'bb', 'ccc']);
  });

  it('refuses a part of the wrong size and leaves no file behind', async () => {
    const file = join(dir, 'bad-part.cache');
    const w = await CacheWriter.create(file);
    await expect(
      w.addSection({
        name: 'title',
        kind: SectionKind.strings,
        count: 2,
        param: 3,
        parts: [Uint32Array.of(0, 1, 3), new Uint8Array(2)],
      }),
    ).rejects.toThrow('section "title" part "bytes": expected 3 bytes, got 2');
    await w.abort();
    expect(readdirSync(dir).filter((f) => f.startsWith('bad-part'))).toEqual([]);
  });

  it('replaces an existing cache by rename, never writing into it', async () => {
    const file = join(dir, 'replace.cache');
    await writeCache(file, sample());
    const before = statSync(file);
    const old = readFileSync(file);
    const w = await CacheWriter.create(file);
    await w.addSection(encodeJson('meta', { v: 2 }));
    // Until finish(), the target is untouched and the temp file lives beside it.
    expect(readFileSync(file).equals(old)).toBe(true);
    expect(readdirSync(dir).some((f) => f.startsWith('replace.cache.tmp-'))).toBe(true);
    await w.abort();
    expect(readdirSync(dir).some((f) => f.startsWith('replace.cache.tmp-'))).toBe(false);
    await writeCache(file, { ids: [1] });
    expect(statSync(file).ino).not.toBe(before.ino);
  });

  it(
    'repeated ids (per-category numbering): ' + 'a sorted index by id then row; rowOf refuses them, rowsOf lists them',
    async () => {
      const p = join(dir, 'dup.cache');
      await writeCache(p, {
        ids: [1, 2, 1, 3, 1],
        fields: { filepath: ['a/0001.txt', 'a/0002.txt', 'b/0001.txt', null, 'c/0001.txt'] },
      });
      for (const fallback of [true, false]) {
        const c = openCache(p, { fallback });
        expect(c.idsRepeat).toBe(true);
        expect(c.sections.find((s) => s.name === 'ids')!.flags).toBe(IDS_REPEATED);
        expect(c.rowsOf(1)).toEqual([0, 2, 4]);
        expect(c.rowsOf(2)).toEqual([1]);
        expect(c.rowsOf(4)).toEqual([]);
        expect(c.rowOf(2)).toBe(1);
        expect(c.rowOf(3)).toBe(3);
        expect(c.rowOf(0)).toBe(-1);
        expect(c.rowOf(4)).toBe(-1);
        expect(() => c.rowOf(1)).toThrow(AmbiguousIdError);
        expect(() => c.rowOf(1)).toThrow(
          `${p}: poem id 1 is not unique: 3 poems have it (poem_index 1 (a/0001.txt), poem_index 3 (b/0001.txt), ` +
            'poem_index 5 (c/0001.txt)); ' +
            'use rowsOf(id), or rowOfIndex(poem_index): a poem is its position in poems.json',
        );
        expect([
          c.index(0),
          c.index(4),
          c.rowOfIndex(1),
          c.rowOfIndex(5),
          c.rowOfIndex(0),
          c.rowOfIndex(6),
          c.rowOfIndex(2.5),
        ]).toEqual([1, 5, 0, 4, -1, -1, -1]);
        forgetCache(p);
      }
      // unique ids keep the dense index
      await writeCache(join(dir, 'uniq.cache'), { ids: [1, 2, 3] });
      expect(openCache(join(dir, 'uniq.cache')).idsRepeat).toBe(false);
    },
  );

  it(
    'fields: strings, numbers, booleans and null read back as written; ' +
      'unknown names are an error naming the fields',
    async () => {
      const p = join(dir, 'fields.cache');
      const values = ['x', '', 'ü 🌙', null, 'n'];
      await writeCache(p, {
        ids: [1, 2, 3, 4, 5],
        fields: {
          content_warning: values,
          'metadata.is_golden_poem': [true, false, null, true, false],
          'metadata.word_count': [0, -1.5, 1e21, null, 42],
        },
      });
      const c = openCache(p);
      expect(c.fieldNames).toEqual(['content_warning', 'metadata.is_golden_poem', 'metadata.word_count']);
      expect(values.map((_, r) => c.field('content_warning', r))).toEqual(values);
      const golden = [0, 1, 2, 3, 4].map((r) => c.field('metadata.is_golden_poem', r));
      expect(golden).toEqual([true, false, null, true, false]);
      expect([0, 1, 2, 3, 4].map((r) => c.field('metadata.word_count', r))).toEqual([0, -1.5, 1e21, null, 42]);
      expect(() => c.field('metadata.author', 0)).toThrow(
        `${p}: no field "metadata.author" in this cache (its fields: content_warning, ` +
          'metadata.is_golden_poem, metadata.word_count); ' +
          'add it to the fields option (converter --fields) and convert again',
      );
      expect(() => c.field('content_warning', 5)).toThrow(RangeError);
    },
  );
});

describe('validation errors name the file, the byte and what was expected', () => {
  let good: Uint8Array;
  let file: string;
  beforeAll(async () => {
    file = join(dir, 'good.cache');
    await writeCache(file, sample());
    good = new Uint8Array(readFileSync(file));
  });

  const fixChecksums = (b: Uint8Array) => {
    const v = new DataView(b.buffer, b.byteOffset);
    const count = v.getUint32(H.sectionCount, true);
    v.setUint32(H.tableChecksum, crc32(b.subarray(HEADER_SIZE, HEADER_SIZE + count * SECTION_ENTRY_SIZE)), true);
    v.setUint32(H.headerChecksum, crc32(b.subarray(0, H.headerChecksum)), true);
    return b;
  };
  const mutate = (f: (v: DataView, b: Uint8Array) => void) => {
    const b = good.slice();
    f(new DataView(b.buffer), b);
    return b;
  };
  const entry = (i: number) => HEADER_SIZE + i * SECTION_ENTRY_SIZE;
  const openBytes = (b: Uint8Array, name: string, fallback: boolean) => {
    const p = join(dir, name);
    writeFileSync(p, b);
    return () => openCache(p, { fallback });
  };

  for (const fallback of [true, false]) {
    const tag = fallback ? 'fallback' : 'default';
    it(`truncated file (${tag})`, () => {
      expect(openBytes(good.subarray(0, good.length - 64), `trunc-${tag}.cache`, fallback)).toThrow(
        new RegExp(
          `trunc-${tag}\\.cache: byte 24: expected file size ${good.length - 64} \\(truncated or extended ` +
            `file\\?\\), found ${good.length}`,
        ),
      );
    });
    it(`tiny and empty files (${tag})`, () => {
      expect(openBytes(good.subarray(0, 10), `tiny-${tag}.cache`, fallback)).toThrow(
        /byte 0: expected a 64-byte header, found a file of 10 bytes/,
      );
      expect(openBytes(new Uint8Array(0), `zero-${tag}.cache`, fallback)).toThrow(
        /byte 0: expected a 64-byte header, found a file of 0 bytes/,
      );
    });
    it(`not a cache (${tag})`, () => {
      expect(openBytes(new TextEncoder().encode('{"poems": []}'.padEnd(100)), `json-${tag}.cache`, fallback)).toThrow(
        /byte 0: expected magic "POEMCACH"/,
      );
    });
    it(`corrupted header checksum (${tag})`, () => {
      expect(
        openBytes(
          mutate((v) => v.setUint32(H.flags, 5, true)),
          `hdr-${tag}.cache`,
          fallback,
        ),
      ).toThrow(/byte 60: expected header checksum 0x[0-9a-f]{8}, found 0x/);
    });
    it(`newer major version (${tag})`, () => {
      const b = fixChecksums(mutate((v) => v.setUint16(H.major, FORMAT_MAJOR + 1, true)));
      expect(openBytes(b, `major-${tag}.cache`, fallback)).toThrow(
        new RegExp(
          'byte 8: expected format major version 1, found 2\\.1: ' +
            'written by a newer astro-poem-cache, upgrade this package to read it',
        ),
      );
    });
    it(`section past the end of the file (${tag})`, () => {
      const b = fixChecksums(mutate((v) => v.setBigUint64(entry(1) + E.byteLength, BigInt(good.length), true)));
      expect(openBytes(b, `bounds-${tag}.cache`, fallback)).toThrow(
        /section 1 "embeddings": \d+ bytes at \d+ to end inside the file/,
      );
    });
    it(`misaligned section (${tag})`, () => {
      const b = fixChecksums(
        mutate((v) => v.setBigUint64(entry(2) + E.offset, v.getBigUint64(entry(2) + E.offset, true) + 4n, true)),
      );
      expect(openBytes(b, `align-${tag}.cache`, fallback)).toThrow(
        /section 2 "similar": an offset that is a multiple of 64/,
      );
    });
  }

  it('string offsets outside their bytes', () => {
    const parsed = parseCache(good, 'x');
    const title = parsed.sections.find((s) => s.name === 'title')!;
    const b = good.slice();
    new DataView(b.buffer).setUint32(title.parts.offsets.offset + 4, 0xffffff, true);
    expect(() => parseCache(b, 'f.cache')).toThrow(CacheFormatError);
    expect(() => parseCache(b, 'f.cache')).toThrow(
      /f\.cache: byte \d+: expected section 4 "title": string offset 1 in 0\.\.\d+, found 16777215/,
    );
  });

  it('names the first string offset that breaks the rule: not 0, decreasing, or past the bytes', () => {
    // title: 5 rows, offsets[0..5]; each case sets some of them.
    const title = parseCache(good, 'x').sections.find((s) => s.name === 'title')!;
    const at = title.parts.offsets.offset;
    const end = title.param;
    const offsets = [...new Uint32Array(good.buffer.slice(good.byteOffset + at, good.byteOffset + at + 24))];
    const messageWith = (set: Record<number, number>) => {
      const b = good.slice();
      for (const [r, v] of Object.entries(set)) new DataView(b.buffer).setUint32(at + Number(r) * 4, v, true);
      try {
        parseCache(b, 'f');
      } catch (e) {
        return (e as Error).message.replace(/^f: byte \d+: expected section 4 "title": /, '');
      }
      return 'accepted';
    };
    expect(messageWith({ 0: 1 })).toBe('string offset 0 to be 0, found 1');
    const below = offsets[1] - 1;
    expect(messageWith({ 2: below })).toBe(`string offset 2 in ${offsets[1]}..${end}, found ${below}`);
    // Past the end and then decreasing again: the row past the end is named, not the decrease after it.
    expect(messageWith({ 2: end + 1 })).toBe(`string offset 2 in ${offsets[1]}..${end}, found ${end + 1}`);
    expect(messageWith({ 1: end + 1, 2: end + 2, 3: end + 3 })).toBe(`string offset 1 in 0..${end}, found ${end + 1}`);
    const rising = { 3: end + 5, 4: end + 6, 5: end + 7 };
    expect(messageWith(rising)).toBe(`string offset 3 in ${offsets[2]}..${end}, found ${end + 5}`);
    expect(messageWith({ 5: end - 1 })).toBe(`last string offset ${end}, found ${end - 1}`);
    expect(messageWith({ 5: end })).toBe('accepted');
  });

  it('finds the failing row in large sections: past the first 8,192 entries and past 65,536 string rows', async () => {
    // Min/max run over chunks of 8,192 and string tables of up to 65,536 rows are checked by sorting a copy:
    // a bad entry deep in a large section must be found either way, and named.
    const file2 = join(dir, 'large.cache');
    const rows = 70_000;
    await writeCache(file2, {
      ids: Array.from({ length: rows }, (_, r) => r),
      similar: { lists: Array.from({ length: rows }, (_, r) => [(r + 1) % rows]) },
      title: Array.from({ length: rows }, (_, r) => `t${r}`),
      category: Array.from({ length: 20_000 }, () => 'c').concat(Array.from({ length: rows - 20_000 }, () => '')),
    });
    const large = new Uint8Array(readFileSync(file2));
    const parsed = parseCache(large, 'big');
    const part = (name: string, p: string) => parsed.sections.find((x) => x.name === name)!.parts[p];
    const edited = (name: string, p: string, index: number, value: number) => {
      const b = large.slice();
      new DataView(b.buffer).setUint32(part(name, p).offset + index * 4, value >>> 0, true);
      try {
        parseCache(b, 'big');
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(edited('ids', 'index', 15_000, rows)).toMatch(/"ids": row -1\.\.69999 for id 15000, found 70000$/);
    expect(edited('ids', 'index', 15_000, -2)).toMatch(/"ids": row -1\.\.69999 for id 15000, found -2$/);
    expect(edited('ids', 'index', 15_000, -1)).toBe('accepted');
    expect(edited('similar', 'lengths', 17_000, 60_000)).toMatch(
      /"similar": row 17000 list \(start 17000, length 60000\) inside 70000 values$/,
    );
    expect(edited('similar', 'lengths', 17_000, 2)).toBe('accepted'); // largest start + longest list > values, no row
    const cat = part('category', 'offsets');
    const catAt = (r: number) => new DataView(large.buffer).getUint32(cat.offset + r * 4, true);
    expect(edited('category', 'offsets', 12_000, catAt(11_999) - 1)).toMatch(
      /"category": string offset 12000 in 11999\.\.20000, found 11998$/,
    );
    const title = part('title', 'offsets');
    const titleAt = (r: number) => new DataView(large.buffer).getUint32(title.offset + r * 4, true);
    const below = titleAt(67_999) - 1;
    expect(edited('title', 'offsets', 68_000, below)).toMatch(
      new RegExp(`"title": string offset 68000 in ${below + 1}\\.\\.\\d+, found ${below}$`),
    );
  });

  it('ragged list outside its values', () => {
    const parsed = parseCache(good, 'x');
    const sim = parsed.sections.find((s) => s.name === 'similar')!;
    const b = good.slice();
    new DataView(b.buffer).setUint32(sim.parts.lengths.offset + 8, 1000, true);
    expect(() => parseCache(b, 'f.cache')).toThrow(
      /expected section 2 "similar": row 2 list \(start 3, length 1000\) inside 7 values/,
    );
  });

  it('unknown sections and kinds are skipped (forward compatible)', async () => {
    const file2 = join(dir, 'future.cache');
    const w = await CacheWriter.create(file2);
    for (const s of [...(await import('../cache/writer.ts')).encodeCacheData({ ids: [1, 2], title: ['a', 'b'] })])
      await w.addSection(s);
    await w.addSection({ ...encodeJson('future-json', { x: 1 }), name: 'future' });
    await w.finish();
    // Rewrite the "future" section's kind to one this reader does not know.
    const b = new Uint8Array(readFileSync(file2));
    const v = new DataView(b.buffer);
    v.setUint16(entry(2) + E.kind, 99, true);
    v.setUint16(entry(2) + E.elementType, 77, true);
    const r = readerFromBytes(fixChecksums(b), 'future');
    expect(r.title(1)).toBe('b');
    expect(r.sections[2].known).toBe(false);
    expect(r.has('future')).toBe(false);
  });

  it('a meta section that is not a JSON object is a format error naming the file', async () => {
    for (const [meta, found] of [
      [[1], 'an array'],
      ['x', 'string'],
      [null, 'null'],
    ] as const) {
      const p = join(dir, 'meta-kind.cache');
      await writeCache(p, { ids: [1], meta });
      const r = openCache(p, { fallback: true });
      expect(() => r.metadata).toThrow(
        new RegExp(`meta-kind\\.cache: byte \\d+: expected section "meta" to hold a JSON object, found ${found}$`),
      );
    }
  });

  it('a cache without an ids section is refused', async () => {
    const file2 = join(dir, 'noids.cache');
    await writeCache(file2, [encodeStrings('title', ['a'])]);
    expect(() => openCache(file2, { fallback: true })).toThrow(/byte 0: expected an "ids" section/);
  });

  it('a section whose row count disagrees with ids is refused', async () => {
    const file2 = join(dir, 'rows.cache');
    const { encodeIds } = await import('../cache/writer.ts');
    await writeCache(file2, [encodeIds([1, 2, 3]), encodeStrings('title', ['a'])]);
    expect(() => openCache(file2, { fallback: true })).toThrow(
      /expected section "title" to have 3 rows like "ids", found 1/,
    );
  });

  it('copying a valid file keeps it valid (sanity for the mutations above)', () => {
    const p = join(dir, 'copy.cache');
    copyFileSync(file, p);
    expectSample(openCache(p, { fallback: true }));
  });
});
