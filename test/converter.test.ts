// Round trips through openCache for every accepted input shape, byte-identical caches from the fast path
// and the stream-json path, freshness (skip / force) and abort.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertCaches, isFresh, AbortError, type ConvertOptions } from '../converter/index.ts';
import { openCache } from '../cache/reader.ts';
import * as g from './fixtures/converter/gen.ts';

afterAll(g.removeTmpDirs);

interface Expect {
  poems: g.Poem[];
  emb?: number[][];
  rank?: { row: number; similarity: number }[][];
  objects?: boolean;
  seq?: number[][];
}

function check(out: string, e: Expect) {
  const c = openCache(out, { fallback: true });
  expect(c.count).toBe(e.poems.length);
  e.poems.forEach((p, row) => {
    expect(c.index(row)).toBe(row + 1);
    expect(c.rowOfIndex(row + 1)).toBe(row);
    expect(c.idOf(row)).toBe(p.id);
    expect(c.rowsOf(p.id)).toContain(row);
    if (c.rowsOf(p.id).length === 1) expect(c.rowOf(p.id)).toBe(row);
    else expect(() => c.rowOf(p.id)).toThrow(/is not unique/);
    expect(c.title(row)).toBe(p.title ?? '');
    expect(c.text(row)).toBe(p.content);
    expect(c.category(row)).toBe(p.category ?? '');
    expect(c.date(row)).toBe(p.date ?? '');
    expect(c.field('filepath', row)).toBe(p.filepath ?? null);
    expect(c.field('content_warning', row)).toBe(p.contentWarning ?? null);
    expect(c.field('metadata.is_golden_poem', row)).toBe(p.golden ?? null);
    if (e.emb) expect([...c.embedding(row)]).toEqual(e.emb[row].map(Math.fround));
    if (e.rank) {
      expect([...c.similar(row)]).toEqual(e.rank[row].map((x) => x.row));
      const scores = c.similarScores(row);
      if (e.objects) expect([...scores!]).toEqual(e.rank[row].map((x) => Math.fround(x.similarity)));
      else expect(scores).toBeUndefined();
    }
    if (e.seq) expect([...c.diversity(row)]).toEqual(e.seq[row]);
  });
  expect(c.has('embeddings')).toBe(!!e.emb);
  expect(c.has('similar')).toBe(!!e.rank);
  expect(c.has('diversity')).toBe(!!e.seq);
  return c;
}

/** Converts with both parsers, in this thread and in workers, with big and tiny buffers: all byte-identical. */
async function convertAllWays(dir: string, files: Omit<ConvertOptions, 'out'>, e: Expect) {
  const variants: Partial<ConvertOptions>[] = [
    { workers: 0 },
    { workers: 0, chunkSize: 16 },
    { workers: 0, chunkSize: 1000 },
    { workers: 2 },
    { workers: 0, parser: 'stream-json' },
    { workers: 0, parser: 'stream-json', chunkSize: 37 },
  ];
  let first: Buffer | undefined;
  for (const [k, v] of variants.entries()) {
    const out = join(dir, `cache-${k}.bin`);
    const r = await convertCaches({ ...files, out, ...v });
    expect(r.skipped).toBe(false);
    expect(r.rows).toBe(e.poems.length);
    expect(r.size).toBe(statSync(out).size);
    const bytes = readFileSync(out);
    if (!first) {
      first = bytes;
      check(out, e);
    } else expect(bytes.equals(first), `variant ${JSON.stringify(v)} differs`).toBe(true);
  }
  // nothing but inputs and caches in the directory: spool and temp files are gone
  expect(readdirSync(dir).filter((n) => !n.endsWith('.json') && !/^cache-\d+\.bin$/.test(n))).toEqual([]);
  return join(dir, 'cache-0.bin');
}

describe('convertCaches round trips', () => {
  it(
    "the pipeline's shapes: " + 'ids repeat per category, poem_index embeddings and rankings, 0-based sequences',
    async () => {
      const dir = g.tmp();
      const ids = [1, 2, 4, 5, 1, 2, 3, 1, 2];
      const poems = g.makePoems(ids);
      const emb = g.makeEmbeddings(ids.length, 7);
      const rank = g.makeRankings(ids.length);
      const seq = g.makeSequences(ids.length, 5);
      const files = {
        poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
        embeddings: g.write(dir, 'embeddings.json', g.embeddingsJson(emb, poems)),
        similarity: g.write(dir, 'similarity.json', g.rankingsJson(rank, g.refOf(poems, 'index'))),
        diversity: g.write(dir, 'diversity.json', g.sequencesJson(seq, g.refOf(poems, 'index0'), { shuffle: true })),
      };
      const out = await convertAllWays(dir, files, { poems, emb, rank, seq });
      const r = await convertCaches({ ...files, out: join(dir, 'x.bin'), workers: 0 });
      expect(r.sections).toEqual([
        'ids',
        'title',
        'text',
        'category',
        'date',
        'field.0',
        'field.1',
        'field.2',
        'field.3',
        'field.4',
        'field.5',
        'embeddings',
        'similar',
        'diversity',
        'meta',
      ]);
      expect(r.inputs.map((i) => [i.role, i.reading])).toEqual([
        ['poems', undefined],
        ['embeddings', 'index'],
        ['similarity', 'index'],
        ['diversity', 'index0'],
      ]);
      const c = openCache(out, { fallback: true });
      const meta = c.metadata as {
        converter: { version: unknown };
        readings: unknown;
        sources: Record<string, unknown>;
        inputs: Record<string, { size: number }>;
      };
      expect(meta.converter.version).toBeTypeOf('string');
      expect(meta.readings).toEqual({ embeddings: 'index', similarity: 'index', diversity: 'index0' });
      expect(meta.sources.embeddings).toEqual({
        embedding_dimension: 7,
        embedding_model: 'test-model',
        total_poems: 9,
      });
      expect(meta.sources.similarity).toEqual({ total_poems: 9, algorithm: 'test' });
      expect(meta.sources.diversity).toEqual({ num_poems: 9, top_k: 5 });
      expect(Object.keys(meta.inputs)).toEqual(['poems', 'embeddings', 'similarity', 'diversity']);
      expect(meta.inputs.poems.size).toBe(statSync(files.poems).size);
      expect(c.idsRepeat).toBe(true);
      expect(c.rowsOf(1)).toEqual([0, 4, 7]);
      expect(c.rowsOf(99)).toEqual([]);
      expect(c.rowOf(99)).toBe(-1);
      expect(c.rowOf(4)).toBe(2);
      expect(c.fieldNames).toEqual([
        'filepath',
        'content_warning',
        'metadata.is_golden_poem',
        'metadata.is_boost',
        'metadata.original_uri',
        'metadata.source_file',
      ]);
    },
  );

  it(
    'legacy shapes read as ids: ' +
      'id-only embeddings, {id, similarity} objects, top-K, metadata last, shuffled, pretty-printed, gapped ids',
    async () => {
      const dir = g.tmp();
      const ids = [1000, 7, 52, 8, 13, 2_000_000_000, 0, 44];
      const poems = g.makePoems(ids);
      const emb = g.makeEmbeddings(ids.length, 5, 9);
      const rank = g.makeRankings(ids.length, 3, 8);
      const seq = g.makeSequences(ids.length, 3, 7);
      const byId = g.refOf(poems, 'id');
      const files = {
        poems: g.write(dir, 'poems.json', g.poemsJson(poems, 2)),
        embeddings: g.write(
          dir,
          'embeddings.json',
          g.embeddingsJson(emb, poems, { reading: 'id', metaLast: true, shuffle: true, indent: 2 }),
        ),
        similarity: g.write(
          dir,
          'similarity.json',
          g.rankingsJson(rank, byId, { objects: true, metaLast: true, shuffle: true, indent: 2 }),
        ),
        diversity: g.write(
          dir,
          'diversity.json',
          g.sequencesJson(seq, byId, { metaLast: true, shuffle: true, indent: 4 }),
        ),
      };
      await convertAllWays(dir, files, { poems, emb, rank, objects: true, seq });
      const r = await convertCaches({ ...files, out: join(dir, 'y.bin'), workers: 0 });
      expect(r.inputs.slice(1).map((i) => i.reading)).toEqual(['id', 'id', 'id']);
    },
  );

  it('plain top-K lists, absent optional inputs, each reading forced', async () => {
    const dir = g.tmp();
    const ids = [5, 6, 7, 100, 101];
    const poems = g.makePoems(ids);
    const rank = g.makeRankings(ids.length, 2);
    const onlyPoems = { poems: g.write(dir, 'poems.json', g.poemsJson(poems)) };
    await convertAllWays(dir, onlyPoems, { poems });
    for (const reading of ['index', 'index0', 'id'] as const) {
      const d = g.tmp();
      const files = {
        poems: g.write(d, 'poems.json', g.poemsJson(poems)),
        similarity: g.write(d, 'similarity.json', g.rankingsJson(rank, g.refOf(poems, reading))),
      };
      await convertAllWays(d, { ...files, keys: { similarity: reading } }, { poems, rank });
    }
  });

  it('accepts and skips a UTF-8 byte-order mark on every input', async () => {
    const dir = g.tmp();
    const ids = [1, 2, 3];
    const poems = g.makePoems(ids);
    const emb = g.makeEmbeddings(ids.length, 3);
    const seq = g.makeSequences(ids.length, 2);
    const bom = (s: string) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(s)]);
    const files = {
      poems: g.write(dir, 'poems.json', bom(g.poemsJson(poems))),
      embeddings: g.write(dir, 'embeddings.json', bom(g.embeddingsJson(emb, poems))),
      diversity: g.write(dir, 'diversity.json', bom(g.sequencesJson(seq, g.refOf(poems, 'index0')))),
    };
    await convertAllWays(dir, files, { poems, emb, seq });
  });

  it(
    "embeddings as the pipeline's Lua writes them: " +
      'null holes, the object form keyed by poem_index, is_random entries',
    async () => {
      const dir = g.tmp();
      const poems = g.makePoems([1, 2, 1]);
      const emb = g.makeEmbeddings(3, 4);
      const entry = (row: number) => ({
        embedding: emb[row],
        poem_index: row + 1,
        id: poems[row].id,
        content_length: 0,
        is_random: row === 2,
      });
      const meta = { embedding_dimension: 4, total_poems: 3, embedding_model: 'm' };
      // an array with a hole (dkjson writes null for a missing integer key) and an entry at the end
      const holes = JSON.stringify({ metadata: meta, embeddings: [entry(0), null, entry(1), entry(2)] });
      const asArray = {
        poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
        embeddings: g.write(dir, 'a.json', holes),
      };
      await convertAllWays(dir, asArray, { poems, emb });
      // the object form: {"<poem_index>": entry}, in any order, an entry's own poem_index agreeing with its key
      const dir2 = g.tmp();
      const object = JSON.stringify({ embeddings: { 3: entry(2), 1: entry(0), 2: entry(1) }, metadata: meta });
      await convertAllWays(
        dir2,
        { poems: g.write(dir2, 'poems.json', g.poemsJson(poems)), embeddings: g.write(dir2, 'o.json', object) },
        { poems, emb },
      );
      const dir3 = g.tmp();
      const wrongKey = JSON.stringify({ embeddings: { 1: entry(0), 2: entry(2), 3: entry(1) }, metadata: meta });
      const files3 = {
        poems: g.write(dir3, 'poems.json', g.poemsJson(poems)),
        embeddings: g.write(dir3, 'o.json', wrongKey),
        out: join(dir3, 'c.bin'),
        workers: 0,
      };
      await expect(convertCaches(files3)).rejects.toThrow(
        /poem_index 3 differs from its key "2", expected the key of the entry/,
      );
    },
  );

  it('a repeated key: the last one wins whole, on every path (as JSON.parse keeps it)', async () => {
    const dir = g.tmp();
    const text = JSON.stringify({
      poems: [
        { id: 1, content: 'a' },
        { id: 2, content: 'b' },
      ],
    })
      .replace(
        '"content":"a"',
        '"content":"x","metadata":{"creation_date":"1999","is_golden_poem":true},' +
          '"content":"a","metadata":{"author":"z"}',
      )
      .replace(
        '"content":"b"',
        '"filepath":"p/1.txt","content":"b","metadata":{"creation_date":"2001"},"metadata":"none","filepath":null',
      );
    const poems: g.Poem[] = [
      { id: 1, content: 'a' },
      { id: 2, content: 'b' },
    ];
    const out = await convertAllWays(
      dir,
      { poems: g.write(dir, 'poems.json', text) },
      { poems: poems.map((p) => ({ ...p, golden: undefined })) },
    );
    const c = openCache(out, { fallback: true });
    expect([c.date(0), c.date(1), c.field('metadata.is_golden_poem', 0), c.field('filepath', 1)]).toEqual([
      '',
      '',
      null,
      null,
    ]);
  });

  it('a larger set: long numeric arrays cut into many fast-path slices', async () => {
    const dir = g.tmp();
    const ids = Array.from({ length: 120 }, (_, i) => (i % 50) + 1);
    const poems = g.makePoems(ids);
    const emb = g.makeEmbeddings(ids.length, 64);
    const rank = g.makeRankings(ids.length);
    const seq = g.makeSequences(ids.length, 30);
    const files = {
      poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
      embeddings: g.write(dir, 'embeddings.json', g.embeddingsJson(emb, poems, { shuffle: true })),
      similarity: g.write(dir, 'similarity.json', g.rankingsJson(rank, g.refOf(poems, 'index'), { indent: 1 })),
      diversity: g.write(dir, 'diversity.json', g.sequencesJson(seq, g.refOf(poems, 'index0'))),
    };
    await convertAllWays(dir, files, { poems, emb, rank, seq });
  });

  it('spools a large embedding matrix with positional writes: same bytes as in memory', async () => {
    const dir = g.tmp();
    const ids = [9, 3, 4, 20, 21];
    const poems = g.makePoems(ids);
    const emb = g.makeEmbeddings(ids.length, 6);
    const files = {
      poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
      embeddings: g.write(dir, 'embeddings.json', g.embeddingsJson(emb, poems, { shuffle: true })),
    };
    const inMemory = join(dir, 'cache-0.bin');
    await convertCaches({ ...files, out: inMemory, workers: 0 });
    for (const workers of [0, 1]) {
      const out = join(dir, `cache-${workers + 1}.bin`);
      await convertCaches({ ...files, out, workers, matrixInMemory: 16 });
      expect(readFileSync(out).equals(readFileSync(inMemory))).toBe(true);
    }
    check(inMemory, { poems, emb });
    expect(readdirSync(dir).filter((n) => n.includes('spool') || n.includes('.tmp-'))).toEqual([]);
  });

  it('reports progress at most ~4 times a second, ending at the full size', async () => {
    const dir = g.tmp();
    const ids = [1, 2, 3];
    const poems = g.makePoems(ids);
    const files = {
      poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
      similarity: g.write(dir, 's.json', g.rankingsJson(g.makeRankings(ids.length), g.refOf(poems, 'index'))),
    };
    const seen: { file: string; bytesRead: number; totalBytes: number }[] = [];
    await convertCaches({ ...files, out: join(dir, 'c.bin'), workers: 0, onProgress: (p) => seen.push(p) });
    for (const f of Object.values(files)) {
      const last = seen.filter((p) => p.file === f).at(-1)!;
      expect(last.bytesRead).toBe(statSync(f).size);
      expect(last.totalBytes).toBe(statSync(f).size);
    }
  });
});

describe('freshness', () => {
  it('skips unchanged inputs, converts on change, always with force', async () => {
    const dir = g.tmp();
    const ids = [1, 2, 3, 4];
    const poems = g.makePoems(ids);
    const files = {
      poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
      similarity: g.write(dir, 'similarity.json', g.rankingsJson(g.makeRankings(ids.length), g.refOf(poems, 'index'))),
    };
    const out = join(dir, 'cache.bin');
    expect(await isFresh({ ...files, out })).toBe(false);
    const first = await convertCaches({ ...files, out, workers: 0 });
    expect(first.skipped).toBe(false);
    expect(await isFresh({ ...files, out })).toBe(true);
    const bytes = readFileSync(out);
    const again = await convertCaches({ ...files, out, workers: 0 });
    expect(again).toMatchObject({ skipped: true, rows: 4, size: bytes.length, sections: first.sections });
    // a touch alone does not make it stale (content hash decides)
    utimesSync(files.poems, new Date(), new Date(Date.now() + 5000));
    expect(await isFresh({ ...files, out })).toBe(true);
    expect((await convertCaches({ ...files, out, workers: 0, force: true })).skipped).toBe(false);
    // same size, different content
    const text = readFileSync(files.similarity, 'utf8');
    writeFileSync(files.similarity, text.replace('"algorithm":"test"', '"algorithm":"tesX"'));
    expect(await isFresh({ ...files, out })).toBe(false);
    expect((await convertCaches({ ...files, out, workers: 0 })).skipped).toBe(false);
    // a different set of inputs is stale too
    expect(await isFresh({ poems: files.poems, out })).toBe(false);
    // other settings are stale: more fields, or a reading given where 'auto' was
    expect(await isFresh({ ...files, out, fields: ['metadata.author'] })).toBe(false);
    expect(await isFresh({ ...files, out, keys: { similarity: 'index' } })).toBe(false);
    expect(await isFresh({ ...files, out, fields: [] })).toBe(true);
    expect(await isFresh({ ...files, out: join(dir, 'missing.bin') })).toBe(false);
  });
});

describe('abort', () => {
  function bigSet() {
    const dir = g.tmp();
    const ids = Array.from({ length: 500 }, (_, i) => i * 2);
    const poems = g.makePoems(ids);
    const files = {
      poems: g.write(dir, 'poems.json', g.poemsJson(poems)),
      similarity: g.write(
        dir,
        'similarity.json',
        g.rankingsJson(g.makeRankings(ids.length), g.refOf(poems, 'index'), { indent: 1 }),
      ),
      diversity: g.write(
        dir,
        'diversity.json',
        g.sequencesJson(g.makeSequences(ids.length, 200), g.refOf(poems, 'index0')),
      ),
    };
    return { dir, files, out: join(dir, 'cache.bin') };
  }

  it('an already aborted signal converts nothing', async () => {
    const { dir, files, out } = bigSet();
    await expect(convertCaches({ ...files, out, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(readdirSync(dir).sort()).toEqual(['diversity.json', 'poems.json', 'similarity.json']);
  });

  for (const workers of [0, 2]) {
    it(`aborting mid-way (workers ${workers}) keeps the previous cache and removes temp files`, async () => {
      const { dir, files, out } = bigSet();
      await convertCaches({ ...files, out, workers: 0 });
      const before = readFileSync(out);
      const ac = new AbortController();
      // Aborted from the first progress of an input read after poems.json: at the latest when that input ends,
      // so always before the cache is written. (A timer here raced the conversion: one that ended within the
      // timer's 150 ms took the abort during its final fsync and rename, past the last abort check, and resolved.)
      const onProgress = (p: { file: string; bytesRead: number }) => {
        if (p.file !== files.poems && p.bytesRead > 0) ac.abort();
      };
      const run = convertCaches({ ...files, out, workers, force: true, signal: ac.signal, chunkSize: 64, onProgress });
      await expect(run).rejects.toBeInstanceOf(AbortError);
      expect(readFileSync(out).equals(before)).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['cache.bin', 'diversity.json', 'poems.json', 'similarity.json']);
    });
  }
});
