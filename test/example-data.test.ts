// The example site's real poem data: committed pipeline files are exactly what the
// generator makes, have the pipeline's shapes, and their similarities mean something.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, FILES, DEFAULT_OUT, SOURCES_DIR } from '../example-site/scripts/make-pipeline-data.ts';

interface Poem {
  id: number; title: string; content: string; category: string;
  metadata: { creation_date: string; author: string; collection: string; lang: string };
}
const load = <T>(name: string): T => JSON.parse(readFileSync(join(DEFAULT_OUT, name), 'utf8')) as T;

const poems = load<{ poems: Poem[] }>('poems.json').poems;
const emb = load<{ metadata: { embedding_dimension: number; model: string; total_poems: number }; embeddings: { poem_index: number; embedding: number[] }[] }>('embeddings.json');
const sim = load<{ metadata: { total_poems: number; method: string }; rankings: Record<string, number[]> }>('similarity_rankings_cache.json');
const div = load<{ metadata: { num_poems: number; top_k: number; method: string }; sequences: Record<string, number[]> }>('diversity_cache.json');
const ids = poems.map((p) => p.id);
const N = ids.length;
const idSet = new Set(ids);
const byId = new Map(poems.map((p) => [p.id, p]));
const vec = new Map(emb.embeddings.map((e) => [e.poem_index, e.embedding]));
const cos = (a: number, b: number): number => {
  const x = vec.get(a)!, y = vec.get(b)!;
  let d = 0, nx = 0, ny = 0;
  for (let i = 0; i < x.length; i++) { d += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i]; }
  return d / Math.sqrt(nx * ny);
};
const psalm = (n: number): number => 1000 + n;
const tangId = (title: string): number => {
  const found = poems.filter((p) => p.metadata.collection === 'tang300' && p.title === title);
  expect(found).toHaveLength(1);
  return found[0].id;
};

describe('example-site pipeline data', () => {
  let tmp = '';
  beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'example-data-')); });
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it('regenerates byte-identical files', () => {
    main(['--out', tmp]);
    for (const f of FILES) {
      const fresh = readFileSync(join(tmp, f));
      const committed = readFileSync(join(DEFAULT_OUT, f));
      expect(fresh.equals(committed), `${f} differs from a fresh run`).toBe(true);
    }
  });

  it('uses the real sources: 320 Tang poems and 150 Psalms', () => {
    const tang = JSON.parse(readFileSync(join(SOURCES_DIR, 'tang300.json'), 'utf8')) as unknown[];
    const psalms = JSON.parse(readFileSync(join(SOURCES_DIR, 'psalms.json'), 'utf8')) as unknown[];
    expect(tang).toHaveLength(320);
    expect(psalms).toHaveLength(150);
    expect(N).toBe(470);
    expect(poems.filter((p) => p.metadata.collection === 'tang300' && p.metadata.lang === 'zh')).toHaveLength(320);
    expect(poems.filter((p) => p.metadata.collection === 'psalms' && p.metadata.lang === 'en')).toHaveLength(150);
    expect(byId.get(psalm(23))!.content.split('\n')[0]).toBe('The LORD is my shepherd; I shall not want.');
    expect(byId.get(tangId('登鸛雀樓'))!.content).toBe('白日依山盡，黃河入海流。\n欲窮千里目，更上一層樓。');
    // editorial variant notes were stripped (the KJV's own parentheses stay)
    expect(poems.some((p) => p.metadata.lang === 'zh' && /[()（）]|一作/.test(p.content))).toBe(false);
  });

  it('poems.json has the pipeline shape, unique ids with gaps', () => {
    expect(idSet.size).toBe(N);
    for (const p of poems) {
      expect(Object.keys(p)).toEqual(['id', 'title', 'content', 'category', 'metadata']);
      expect(Object.keys(p.metadata)).toEqual(['creation_date', 'author', 'collection', 'lang']);
      expect(Number.isInteger(p.id)).toBe(true);
      expect(p.title.length).toBeGreaterThan(0);
      expect(p.content.length).toBeGreaterThan(0);
    }
    expect(Math.max(...ids) - Math.min(...ids) + 1).toBeGreaterThan(N); // holes
    expect(idSet.has(50)).toBe(false);
    expect(idSet.has(psalm(1)) && idSet.has(psalm(150))).toBe(true);
  });

  it('embeddings are 768-d unit vectors keyed by poem id', () => {
    expect(emb.metadata).toEqual({ embedding_dimension: 768, model: 'tfidf-hashed-768', total_poems: N });
    expect(emb.embeddings.map((e) => e.poem_index)).toEqual(ids);
    for (const e of emb.embeddings) {
      expect(e.embedding).toHaveLength(768);
      const norm = Math.sqrt(e.embedding.reduce((s, x) => s + x * x, 0));
      expect(Math.abs(norm - 1)).toBeLessThan(1e-5);
    }
  });

  it('every ranking lists all N-1 other poems, most similar first', () => {
    expect(sim.metadata).toEqual({ total_poems: N, method: 'cosine' });
    expect(Object.keys(sim.rankings).sort()).toEqual(ids.map(String).sort());
    for (const id of ids) {
      const list = sim.rankings[String(id)];
      expect(list).toHaveLength(N - 1);
      expect(new Set(list).size).toBe(N - 1);
      expect(list.includes(id)).toBe(false);
      for (const x of list) expect(idSet.has(x)).toBe(true);
    }
    // ordered by the embeddings' cosine (spot check, within the 1e-6 comparison step)
    for (const id of [1, 2, 255, psalm(23), psalm(119)]) {
      const list = sim.rankings[String(id)];
      for (let k = 1; k < list.length; k++) expect(cos(id, list[k])).toBeLessThanOrEqual(cos(id, list[k - 1]) + 2e-6);
    }
  });

  it('every diversity sequence starts with its poem and is a permutation of all ids', () => {
    expect(div.metadata).toEqual({ num_poems: N, top_k: N, method: 'greedy-least-similar-chain' });
    expect(Object.keys(div.sequences).sort()).toEqual(ids.map(String).sort());
    const sorted = [...ids].sort((a, b) => a - b);
    for (const id of ids) {
      const seq = div.sequences[String(id)];
      expect(seq[0]).toBe(id);
      expect([...seq].sort((a, b) => a - b)).toEqual(sorted);
    }
    // greedy step: the second poem is a least similar one to the first
    for (const id of [2, 255, psalm(23)]) {
      const seq = div.sequences[String(id)];
      const min = Math.min(...ids.filter((x) => x !== id).map((x) => cos(id, x)));
      expect(cos(id, seq[1])).toBeLessThanOrEqual(min + 2e-6);
    }
  });

  it('similarity means something', () => {
    // each poem's nearest neighbour is in its own language/collection
    for (const p of poems) {
      const top = byId.get(sim.rankings[String(p.id)][0])!;
      expect(top.metadata.collection, `${p.id} ${p.title}`).toBe(p.metadata.collection);
    }
    // Psalms 14 and 53 are near-identical doublets; so are Psalm 70 and the end of Psalm 40
    expect(sim.rankings[String(psalm(14))][0]).toBe(psalm(53));
    expect(sim.rankings[String(psalm(53))][0]).toBe(psalm(14));
    expect(sim.rankings[String(psalm(70))][0]).toBe(psalm(40));
    // Psalm 108 is stitched from Psalm 57:7-11 and Psalm 60:5-12
    expect(sim.rankings[String(psalm(108))].slice(0, 2).sort()).toEqual([psalm(57), psalm(60)].sort());
    // Bai Juyi's two long narrative poems find each other
    expect(sim.rankings[String(tangId('長恨歌'))][0]).toBe(tangId('琵琶行'));
    // and a poem's least similar poem is in the other language
    const last = (id: number): Poem => byId.get(sim.rankings[String(id)][N - 2])!;
    expect(last(psalm(23)).metadata.lang).toBe('zh');
    expect(last(tangId('登鸛雀樓')).metadata.lang).toBe('en');
  });
});
