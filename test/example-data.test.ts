// The example site's real poem data: committed pipeline files are exactly what the
// generator makes, have the real pipeline's shapes, and their similarities mean something.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  main,
  FILES,
  DEFAULT_OUT,
  SOURCES_DIR,
  CONTENT_WARNINGS,
  GOLDEN,
} from '../example-site/scripts/make-pipeline-data.ts';

interface Poem {
  title: string;
  content: string;
  content_warning?: string;
  creation_date: string;
  filepath: string;
  length: number;
  category: 'tang300' | 'psalms';
  id: number;
  metadata: {
    creation_date: string;
    author: string;
    collection: string;
    form?: string;
    section?: string;
    lang: string;
    has_content_warning: boolean;
    is_golden_poem: boolean;
    word_count: number;
    character_count: number;
  };
}
const text = (name: string): string => readFileSync(join(DEFAULT_OUT, name), 'utf8');
const load = <T>(name: string): T => JSON.parse(text(name)) as T;

const poemsFile = load<{ metadata: Record<string, unknown>; poems: Poem[] }>('poems.json');
const poems = poemsFile.poems;
interface Entry {
  poem_index: number;
  id: number;
  embedding: number[];
  content_length: number;
}
const emb = load<{ metadata: Record<string, unknown>; embeddings: Entry[] }>('embeddings.json');
const sim = load<{ metadata: Record<string, unknown>; rankings: Record<string, number[]> }>(
  'similarity_rankings_cache.json',
);
const div = load<{ metadata: Record<string, unknown>; sequences: Record<string, number[]> }>('diversity_cache.json');
const N = poems.length;
const positions = Array.from({ length: N }, (_, p) => p);
// Identity: a poem is its position p (0-based); rankings use poem_index p + 1, diversity p itself.
const similar = (p: number): number[] => sim.rankings[String(p + 1)].map((x) => x - 1);
const cos = (a: number, b: number): number => {
  const x = emb.embeddings[a].embedding,
    y = emb.embeddings[b].embedding;
  let d = 0,
    nx = 0,
    ny = 0;
  for (let i = 0; i < x.length; i++) {
    d += x[i] * y[i];
    nx += x[i] * x[i];
    ny += y[i] * y[i];
  }
  return d / Math.sqrt(nx * ny);
};
const psalm = (n: number): number => {
  const p = poems.findIndex((x) => x.category === 'psalms' && x.id === n);
  expect(p).toBeGreaterThanOrEqual(0);
  return p;
};
const tang = (title: string): number => {
  const found = positions.filter((p) => poems[p].category === 'tang300' && poems[p].title === title);
  expect(found).toHaveLength(1);
  return found[0];
};

describe('example-site pipeline data', () => {
  let tmp = '';
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'example-data-'));
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('regenerates byte-identical files', async () => {
    await main(['--out', tmp]);
    for (const f of FILES) {
      const fresh = readFileSync(join(tmp, f));
      const committed = readFileSync(join(DEFAULT_OUT, f));
      expect(fresh.equals(committed), `${f} differs from a fresh run`).toBe(true);
    }
  });

  it('uses the real sources: 320 Tang poems and 150 Psalms', () => {
    const tangSrc = JSON.parse(readFileSync(join(SOURCES_DIR, 'tang300.json'), 'utf8')) as unknown[];
    const psalmSrc = JSON.parse(readFileSync(join(SOURCES_DIR, 'psalms.json'), 'utf8')) as unknown[];
    expect(tangSrc).toHaveLength(320);
    expect(psalmSrc).toHaveLength(150);
    expect(N).toBe(470);
    expect(poems.filter((p) => p.category === 'tang300' && p.metadata.lang === 'zh')).toHaveLength(320);
    expect(poems.filter((p) => p.category === 'psalms' && p.metadata.lang === 'en')).toHaveLength(150);
    expect(poems[psalm(23)].content.split('\n')[0]).toBe('The LORD is my shepherd; I shall not want.');
    expect(poems[tang('登鸛雀樓')].content).toBe('白日依山盡，黃河入海流。\n欲窮千里目，更上一層樓。');
    // editorial variant notes were stripped (the KJV's own parentheses stay)
    expect(poems.some((p) => p.metadata.lang === 'zh' && /[()（）]|一作/.test(p.content))).toBe(false);
  });

  it('poems.json has the real shape: dkjson, categories in blocks, ids restarting per category, filepath', () => {
    const t = text('poems.json');
    expect(t.startsWith('{\n  "')).toBe(true);
    expect(t.endsWith('\n}')).toBe(true);
    expect(poemsFile.metadata).toMatchObject({ source_mode: 'json', extraction_version: '2.0', total_poems: N });
    expect(poems.slice(0, 320).every((p) => p.category === 'tang300')).toBe(true);
    expect(poems.slice(320).every((p) => p.category === 'psalms')).toBe(true);
    const base = ['title', 'content', 'creation_date', 'filepath', 'metadata', 'length', 'category', 'id'];
    for (const p of poems) {
      expect(Object.keys(p).sort()).toEqual([...base, ...(p.content_warning ? ['content_warning'] : [])].sort());
      expect(p.filepath).toBe(`${p.category}/${String(p.id).padStart(4, '0')}.txt`);
      expect(p.length).toBe(Buffer.byteLength(p.content));
      expect(p.metadata.character_count).toBe(p.length);
      expect(p.metadata.collection).toBe(p.category);
      expect(p.metadata.has_content_warning).toBe(p.content_warning !== undefined);
      expect(p.title.length).toBeGreaterThan(0);
      expect(p.content.length).toBeGreaterThan(0);
    }
    const tangIds = poems.slice(0, 320).map((p) => p.id);
    expect(tangIds[0]).toBe(1);
    expect(tangIds.includes(50)).toBe(false); // holes
    expect(tangIds.at(-1)).toBe(326);
    expect(poems.slice(320).map((p) => p.id)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1)); // Psalm n: id n
    expect(poems[psalm(119)].metadata.section).toBe('Book V');
    expect(poems[tang('登鸛雀樓')].metadata.form).toBe('五言絕句');
  });

  it('content warnings and golden poems as listed', () => {
    expect(poems[psalm(137)].content_warning).toBe('violence against children');
    expect(poems.filter((p) => p.content_warning)).toHaveLength(Object.keys(CONTENT_WARNINGS).length);
    expect(poems.filter((p) => p.metadata.is_golden_poem)).toHaveLength(GOLDEN.size);
    expect(poems[psalm(23)].metadata.is_golden_poem).toBe(true);
    expect(poems[tang('春曉')].metadata.is_golden_poem).toBe(true);
  });

  it("embeddings are 768-d unit vectors by poem_index, with the poems' ids", () => {
    expect(emb.metadata).toMatchObject({
      embedding_dimension: 768,
      embedding_model: 'tfidf-hashed-768',
      total_poems: N,
    });
    emb.embeddings.forEach((e, p) => {
      expect(e.poem_index).toBe(p + 1);
      expect(e.id).toBe(poems[p].id);
      expect(e.content_length).toBe(poems[p].length);
      expect(e.embedding).toHaveLength(768);
      const norm = Math.sqrt(e.embedding.reduce((s, x) => s + x * x, 0));
      expect(Math.abs(norm - 1)).toBeLessThan(1e-5);
    });
  });

  it('every ranking lists all N-1 other poems by 1-based poem_index, most similar first (C layout)', () => {
    expect(text('similarity_rankings_cache.json')).toMatch(
      /^\{\n {2}"metadata": \{\n {4}"total_poems": 470,\n[\s\S]*\n {2}\}\n\}\n$/,
    );
    expect(sim.metadata).toMatchObject({ total_poems: N, top_k: 0, format: 'pre_sorted_rankings' });
    expect(Object.keys(sim.rankings)).toEqual(positions.map((p) => String(p + 1)));
    for (const p of positions) {
      const list = similar(p);
      expect(list).toHaveLength(N - 1);
      expect(new Set(list).size).toBe(N - 1);
      expect(list.includes(p)).toBe(false);
      expect(list.every((x) => x >= 0 && x < N)).toBe(true);
    }
    // ordered by the embeddings' cosine (spot check, within the 1e-6 comparison step)
    for (const p of [0, 1, 254, psalm(23), psalm(119)]) {
      const list = similar(p);
      for (let k = 1; k < list.length; k++) expect(cos(p, list[k])).toBeLessThanOrEqual(cos(p, list[k - 1]) + 2e-6);
    }
  });

  it('every diversity sequence (0-based, compact) starts with its poem and is a permutation of all poems', () => {
    const t = text('diversity_cache.json');
    expect(/\s/.test(t.replace(/"[^"]*"/g, '""'))).toBe(false);
    expect(div.metadata).toMatchObject({
      num_poems: N,
      top_k: N,
      total_sequences: N,
      algorithm: 'greedy-least-similar-chain',
    });
    expect(Object.keys(div.sequences).sort()).toEqual(positions.map(String).sort());
    for (const p of positions) {
      const seq = div.sequences[String(p)];
      expect(seq[0]).toBe(p);
      expect([...seq].sort((a, b) => a - b)).toEqual(positions);
    }
    // greedy step: the second poem is a least similar one to the first
    for (const p of [1, 254, psalm(23)]) {
      const seq = div.sequences[String(p)];
      const min = Math.min(...positions.filter((x) => x !== p).map((x) => cos(p, x)));
      expect(cos(p, seq[1])).toBeLessThanOrEqual(min + 2e-6);
    }
  });

  it('similarity means something', () => {
    // each poem's nearest neighbour is in its own language/collection
    for (const p of positions) expect(poems[similar(p)[0]].category, poems[p].filepath).toBe(poems[p].category);
    // Psalms 14 and 53 are near-identical doublets; so are Psalm 70 and the end of Psalm 40
    expect(similar(psalm(14))[0]).toBe(psalm(53));
    expect(similar(psalm(53))[0]).toBe(psalm(14));
    expect(similar(psalm(70))[0]).toBe(psalm(40));
    // Psalm 108 is stitched from Psalm 57:7-11 and Psalm 60:5-12
    expect(similar(psalm(108)).slice(0, 2).sort()).toEqual([psalm(57), psalm(60)].sort());
    // Bai Juyi's two long narrative poems find each other
    expect(similar(tang('長恨歌'))[0]).toBe(tang('琵琶行'));
    // and a poem's least similar poem is in the other language
    const last = (p: number): Poem => poems[similar(p)[N - 2]];
    expect(last(psalm(23)).metadata.lang).toBe('zh');
    expect(last(tang('登鸛雀樓')).metadata.lang).toBe('en');
  });
});
