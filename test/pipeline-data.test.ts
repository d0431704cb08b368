// The generator's data in the real pipeline's shapes (scripts/pipeline/generate.ts): every file parses, the
// layouts are the writers' own, and the invariants of the real data hold: poem_index = position, ids restart
// per category, rankings and walks agree with cosines recomputed here from the embeddings as written.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FILES, SIZES, writePipeline, type PipelineOptions } from '../scripts/pipeline/generate.ts';
import { INSERTION_ORDER, dkjson, type LuaValue } from '../scripts/pipeline/format.ts';

interface Poem {
  category: string;
  id: number;
  content: string;
  raw_content?: string;
  content_warning?: string;
  creation_date: string;
  filepath: string;
  length: number;
  metadata: Record<string, unknown>;
  title?: unknown;
}
interface Entry {
  poem_index: number;
  id: number;
  embedding: number[];
  content_length: number;
  generated_at: string;
  updated_at?: string;
  is_random?: boolean;
}
interface Data {
  text: Record<keyof typeof FILES, string>;
  poems: { metadata: Record<string, unknown>; poems: Poem[] };
  embeddings: { metadata: Record<string, unknown>; embeddings: Entry[] };
  similarity: { metadata: Record<string, unknown>; rankings: Record<string, number[]> };
  diversity: { metadata: Record<string, unknown>; sequences: Record<string, number[]> };
}

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pipeline-data-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function make(name: string, o: PipelineOptions): Promise<Data> {
  const dir = join(root, name);
  await writePipeline(dir, o);
  const read = ([k, f]: [string, string]) => [k, readFileSync(join(dir, f), 'utf8')];
  const text = Object.fromEntries(Object.entries(FILES).map(read)) as Data['text'];
  return {
    text,
    poems: JSON.parse(text.poems),
    embeddings: JSON.parse(text.embeddings),
    similarity: JSON.parse(text.similarity),
    diversity: JSON.parse(text.diversity),
  };
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const sameSet = (a: string[], b: string[]) => expect([...a].sort()).toEqual([...b].sort());

/** Cosines in float64 from the embeddings as written. */
function cosines(d: Data): Float64Array[] {
  const e = d.embeddings.embeddings.map((x) => x.embedding);
  const norm = e.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
  return e.map((a, i) =>
    Float64Array.from(e, (b, j) => {
      let dot = 0;
      for (let k = 0; k < a.length; k++) dot += a[k] * b[k];
      return dot / (norm[i] * norm[j]);
    }),
  );
}

// float32 scores against float64 recomputation: orders may differ below this
const TOL = 1e-6;

describe('small size (300 poems, 4 categories, 768-d)', () => {
  let d: Data;
  let cos: Float64Array[];
  beforeAll(async () => {
    d = await make('small', SIZES.small);
    cos = cosines(d);
  });

  it('poems.json: dkjson layout, no BOM, LF only, no final newline, re-encodes to the same bytes', () => {
    const t = d.text.poems;
    expect(t.startsWith('{\n  "')).toBe(true);
    expect(t.endsWith('\n}')).toBe(true);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserts no raw control character made it into the JSON
    expect(t).not.toMatch(/\r|[\u0000-\u0009\u000b-\u001f\u2028\u2029\ufeff]/);
    expect(dkjson(d.poems as unknown as LuaValue, { indent: true, order: INSERTION_ORDER })).toBe(t);
    expect(t).toContain('\\u0000');
    expect(t).toContain('"filepath":"fediverse/0001.txt"');
    expect(t).not.toMatch(/\\\//);
  });

  it('poems: four category blocks, ids per category, filepath = category/%04d id, no title', () => {
    const poems = d.poems.poems;
    expect(d.poems.metadata).toEqual({
      source_path: expect.any(String),
      source_mode: 'json',
      extraction_version: '2.0',
      total_poems: 300,
      extracted_at: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
    });
    const cats = poems.map((p) => p.category);
    expect([...new Set(cats)]).toEqual(['fediverse', 'fediverse_boost', 'messages', 'notes']);
    for (let i = 1; i < cats.length; i++) if (cats[i] !== cats[i - 1]) expect(cats.slice(0, i)).not.toContain(cats[i]);
    const ids = (c: string) => poems.filter((p) => p.category === c).map((p) => p.id);
    for (const c of ['fediverse', 'fediverse_boost']) expect(ids(c)).toEqual([...ids(c)].sort((a, b) => a - b));
    const shared = [...ids('fediverse'), ...ids('fediverse_boost')];
    expect(new Set(shared).size).toBe(shared.length);
    expect(Math.max(...shared)).toBeGreaterThan(shared.length); // gaps
    expect(ids('messages')).toEqual(ids('messages').map((_, i) => i + 1));
    expect(ids('notes')).toEqual(ids('notes').map((_, i) => i + 1));
    for (const p of poems) {
      expect(p.filepath).toBe(`${p.category}/${String(p.id).padStart(4, '0')}.txt`);
      expect('title' in p).toBe(false);
      expect(p.length).toBe(bytes(p.content));
    }
  });

  it("poems: each category's keys and metadata keys, one key order per key set", () => {
    const base = ['content', 'creation_date', 'filepath', 'metadata', 'length', 'category', 'id'];
    const metaKeys: Record<string, string[]> = {
      fediverse: [
        'has_content_warning',
        'golden_poem_character_count',
        'character_count',
        'is_golden_poem',
        'mentions_anonymized',
        'creation_date',
        'original_character_count',
        'word_count',
        'extraction_timestamp',
        'privacy_mode',
      ],
      fediverse_boost: ['boost_type', 'privacy_mode', 'is_boost', 'original_uri', 'boost_date', 'mentions_anonymized'],
      messages: ['has_content_warning', 'character_count', 'word_count', 'creation_date', 'extraction_timestamp'],
      notes: [
        'file_modification_time',
        'character_count',
        'source_file',
        'word_count',
        'has_content_warning',
        'extraction_timestamp',
      ],
    };
    const orders = new Map<string, string>();
    for (const p of d.poems.poems) {
      const keys = Object.keys(p);
      const cw = p.content_warning === undefined ? [] : ['content_warning'];
      if (p.category === 'fediverse') sameSet(keys, [...base, 'raw_content', ...cw]);
      else if (p.category === 'fediverse_boost') sameSet(keys, [...base, 'raw_content']);
      else sameSet(keys, base);
      sameSet(Object.keys(p.metadata), metaKeys[p.category]);
      const sets = [
        [[...keys].sort().join(), keys.join()],
        [`${p.category}:meta`, Object.keys(p.metadata).join()],
      ];
      for (const [set, order] of sets) {
        expect(orders.get(set) ?? order).toBe(order);
        orders.set(set, order);
      }
    }
    // real files are never alphabetical by design
    expect([...orders.values()].some((o) => o !== o.split(',').sort().join())).toBe(true);
  });

  it('poems: counts, dates, CWs, golden poems, boosts, empty and " " posts, mojibake, all integers', () => {
    const poems = d.poems.poems;
    const numbers: number[] = [];
    JSON.parse(d.text.poems, (_k, v) => {
      if (typeof v === 'number') numbers.push(v);
      return v;
    });
    expect(numbers.every(Number.isInteger)).toBe(true);
    for (const p of poems) {
      const m = p.metadata;
      if (p.category !== 'fediverse_boost') {
        expect(m.character_count).toBe(p.length);
        expect(m.word_count).toBe(p.content.match(/[^ \t\n\v\f\r]+/g)?.length ?? 0);
        expect(m.has_content_warning).toBe(p.content_warning !== undefined);
      }
      // two date styles: fediverse without Z, messages and notes with it
      expect(p.creation_date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?$/);
      expect(p.creation_date.endsWith('Z')).toBe(!p.category.startsWith('fediverse'));
      if (p.category === 'fediverse') {
        expect(m.is_golden_poem).toBe(m.golden_poem_character_count === 1024);
        expect(m.original_character_count).toBe(bytes(p.raw_content!));
        if (m.is_golden_poem) expect(p.length).toBe(1024);
      }
      if (p.category === 'fediverse_boost') {
        expect(p.content).toBe(`External post: ${m.original_uri}`);
        expect(p.raw_content).toBe(p.content);
        expect(m.boost_date).toBe(`${p.creation_date}Z`);
      }
      if (p.category === 'notes') expect(m.file_modification_time).toBe(p.creation_date);
    }
    const count = (f: (p: Poem) => boolean) => poems.filter(f).length;
    expect(count((p) => p.metadata.is_golden_poem === true)).toBeGreaterThan(5);
    expect(count((p) => p.content_warning !== undefined)).toBeGreaterThan(5);
    expect(count((p) => p.category === 'fediverse' && p.content === '' && p.raw_content === '')).toBeGreaterThan(0);
    expect(count((p) => p.category === 'messages' && p.content === ' ')).toBeGreaterThan(0);
    expect(count((p) => /â€™|ðŸ¥°/.test(p.content))).toBeGreaterThan(1);
    expect(count((p) => /@user-\d+/.test(p.content) && /class="h-card"/.test(p.raw_content ?? ''))).toBeGreaterThan(5);
    expect(count((p) => p.content.includes('\u0000'))).toBe(1);
  });

  it('embeddings.json: by poem_index, ids of the poems, float32 unit vectors, random ones for empty poems', () => {
    const t = d.text.embeddings;
    expect(dkjson(d.embeddings as unknown as LuaValue, { indent: true, order: INSERTION_ORDER })).toBe(t);
    const { metadata, embeddings } = d.embeddings;
    expect(metadata).toMatchObject({
      total_poems: 300,
      embedding_dimension: 768,
      embedding_model: 'EmbeddingGemma:latest',
      incremental_update: true,
    });
    const previous = metadata.previous_total as number;
    const poems = d.poems.poems;
    expect(embeddings).toHaveLength(poems.length);
    embeddings.forEach((e, i) => {
      expect(e.poem_index).toBe(i + 1);
      expect(e.id).toBe(poems[i].id);
      expect(e.embedding).toHaveLength(768);
      expect(Math.abs(Math.hypot(...e.embedding) - 1)).toBeLessThan(1e-5);
      const empty = poems[i].content.trim() === '';
      expect(e.is_random === true).toBe(empty);
      expect(e.content_length).toBe(empty ? 0 : bytes(poems[i].content.trim()));
      // a model value is a float32's shortest text: at most 9 significant digits
      if (!empty) expect(e.embedding.every((x) => Number(x.toPrecision(9)) === x)).toBe(true);
      expect('updated_at' in e).toBe(e.poem_index > previous);
    });
    expect(t).toMatch(/\d\.\d{13}(e-\d\d)?[,\]]/); // a random vector's 14 digits
    expect(t).toMatch(/[,[]-?\d\.\d+e-0\d[,\]]/); // a small model value in exponent form
  });

  it('rankings: C layout, keys 1..N in order, all N - 1 others by descending cosine', () => {
    const t = d.text.similarity;
    const lines = t.split('\n');
    expect(lines.slice(0, 10).join('\n')).toMatch(/^\{\n {2}"metadata": \{\n {4}"total_poems": 300,\n/);
    expect(t.endsWith('  }\n}\n')).toBe(true);
    const rows = lines.filter((l) => /^ {4}"\d+": \[/.test(l));
    expect(rows.map((l) => Number(/"(\d+)"/.exec(l)![1]))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    for (const l of rows) expect(l).toMatch(/^ {4}"\d+": \[\d+(, \d+)*\],?$/);
    expect(d.similarity.metadata).toMatchObject({ total_poems: 300, top_k: 0, format: 'pre_sorted_rankings' });
    for (let i = 0; i < 300; i++) {
      const list = d.similarity.rankings[String(i + 1)].map((x) => x - 1);
      expect(list).toHaveLength(299);
      expect(new Set([...list, i]).size).toBe(300);
      for (let q = 1; q < list.length; q++) expect(cos[i][list[q]]).toBeLessThanOrEqual(cos[i][list[q - 1]] + TOL);
    }
  });

  it('diversity: compact, keys 0..N-1 in hash order, full walks from each poem to the least similar unused one', () => {
    const t = d.text.diversity;
    expect(/\s/.test(t.replace(/"[^"]*"/g, '""')), 'whitespace outside strings').toBe(false);
    const keys = [...t.matchAll(/"(\d+)":\[/g)].map((m) => Number(m[1]));
    sameSet(
      keys.map(String),
      Array.from({ length: 300 }, (_, i) => String(i)),
    );
    expect(keys).not.toEqual([...keys].sort((a, b) => a - b));
    expect(d.diversity.metadata).toMatchObject({
      num_poems: 300,
      total_sequences: 300,
      top_k: 300,
      embedding_dimension: 768,
      embeddings_file_size: bytes(d.text.embeddings),
    });
    for (let k = 0; k < 300; k++) {
      const seq = d.diversity.sequences[String(k)];
      expect(seq[0]).toBe(k);
      expect(new Set(seq).size).toBe(300);
      expect(Math.min(...seq) === 0 && Math.max(...seq) === 299).toBe(true);
      const used = new Uint8Array(300);
      used[k] = 1;
      for (let q = 1; q < seq.length; q++) {
        const prev = seq[q - 1];
        let least = Infinity;
        for (let j = 0; j < 300; j++) if (!used[j]) least = Math.min(least, cos[prev][j]);
        expect(cos[prev][seq[q]]).toBeLessThanOrEqual(least + TOL);
        used[seq[q]] = 1;
      }
    }
  });
});

describe('options', () => {
  it('the same options write the same bytes; another run changes only the key order', async () => {
    const o = { poems: 40, dim: 16, seed: 5 };
    const a = await make('a', o);
    const b = await make('b', o);
    const c = await make('c', { ...o, run: 6 });
    for (const f of Object.keys(FILES) as (keyof typeof FILES)[]) expect(b.text[f] === a.text[f], f).toBe(true);
    expect(c.text.poems).not.toBe(a.text.poems);
    expect(c.text.embeddings).not.toBe(a.text.embeddings);
    expect(c.text.similarity).toBe(a.text.similarity); // C output: fixed order
    expect(c.poems).toEqual(a.poems);
    expect(c.embeddings).toEqual(a.embeddings);
    expect(c.diversity).toEqual(a.diversity);
  });

  it('top_k cuts rankings and sequences; counts per category; at least 4 poems give every category', async () => {
    const poems = { fediverse: 10, fediverse_boost: 3, messages: 4, notes: 2 };
    const d = await make('topk', { poems, dim: 8, similarityTopK: 5, diversityTopK: 7 });
    const n = 19;
    expect(d.poems.poems.map((p) => p.category).filter((c) => c === 'messages')).toHaveLength(4);
    expect(d.similarity.metadata.top_k).toBe(5);
    expect(d.diversity.metadata.top_k).toBe(7);
    for (let i = 0; i < n; i++) {
      expect(d.similarity.rankings[String(i + 1)]).toHaveLength(5);
      expect(d.diversity.sequences[String(i)]).toHaveLength(7);
    }
    const four = await make('four', { poems: 4, dim: 4 });
    expect(four.poems.poems.map((p) => p.category)).toEqual(['fediverse', 'fediverse_boost', 'messages', 'notes']);
    await expect(writePipeline(join(root, 'bad'), { poems: 3, dim: 6 })).rejects.toThrow(/multiple of 4/);
  });
});
