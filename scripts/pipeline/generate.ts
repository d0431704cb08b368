// A seeded, deterministic model of the poetry pipeline's data (gabrilend/ai-stuff neocities-modernization, as
// described in issue #10), written in its real shapes by ./files.ts:
//   poems: four categories in file order (fediverse, fediverse_boost, messages, notes; 5,977 / 458 / 1,081 / 274
//     at the real size); fediverse and fediverse_boost share one id numbering (interleaved, so both have gaps),
//     messages and notes restart at 1; id = the number in filepath ("fediverse/0006.txt"); per-category keys
//     and metadata; content warnings, golden poems (exactly 1,024 bytes), empty and " " posts, mentions,
//     mojibake, characters dkjson escapes (a NUL among them); no title. A poem is its position (poem_index).
//   embeddings: by poem_index, float32 unit vectors printed as the model server's shortest float32 text;
//     empty poems get a random unit vector seeded by their (per-category) id, printed to 14 digits, is_random.
//   rankings: exact, all N - 1 (or top_k) by descending cosine; diversity: full walks (or top_k) from each poem.
// Same options, same bytes. `run` changes only the key order (Lua's pairs() order differs between runs).
import { statSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LuaKeyOrder, RawJson, dkNumbers, f32Text, g14, type RankingsMeta } from './format.ts';
import { FILES, RankingsFile, writeDiversityFile, writeEmbeddingsFile, writePoemsFile, type LuaObject } from './files.ts';
import { prng, sample, subSeed, type Rand } from './random.ts';
import { Neighbours, kernelScores } from './rank.ts';
import {
  INVISIBLES, boostUri, byteLength, contentWarning, exactBytes, fileName, handle, hashtag, host, insertAt, line, mojibake,
  poem, postHtml, prose, slug, url, word, wordCount, wrap80,
} from './text.ts';

export { FILES } from './files.ts';

export const CATEGORIES = ['fediverse', 'fediverse_boost', 'messages', 'notes'] as const;
export type Category = (typeof CATEGORIES)[number];
/** The real poems.json of 2025-12-14: 7,790 poems. */
export const REAL_COUNTS: Readonly<Record<Category, number>> = { fediverse: 5977, fediverse_boost: 458, messages: 1081, notes: 274 };

/** The benchmark's data sets (bench/generate.ts --size): small covers every feature, seed is the real size. */
export const SIZES = {
  small: { poems: 300, dim: 768, seed: 0x5eed0001 },
  seed: { poems: 7790, dim: 768, seed: 0x5eed7800 },
} as const satisfies Record<string, PipelineOptions>;

export interface PipelineOptions {
  /** A total (split like the real file, every category at least 1 from 4 poems on) or counts per category. */
  poems?: number | Partial<Record<Category, number>>;
  /** Embedding dimension, a multiple of 4 (default 768). */
  dim?: number;
  /** Everything but the key order (default 1). */
  seed?: number;
  /** The key order of every object (default: the seed). */
  run?: number;
  /** Rankings length: 0 = all N - 1 (default). */
  similarityTopK?: number;
  /** Diversity sequence length including the poem itself: 0 = all N (default). */
  diversityTopK?: number;
}

export interface PipelinePoem {
  category: Category;
  id: number;
  content: string;
  raw_content?: string;
  content_warning?: string;
  creation_date: string;
  filepath: string;
  length: number;
  metadata: LuaObject;
}

export function categoryCounts(poems: PipelineOptions['poems'] = 7790): Record<Category, number> {
  if (typeof poems === 'object') return Object.fromEntries(CATEGORIES.map((c) => [c, poems[c] ?? 0])) as Record<Category, number>;
  if (!Number.isInteger(poems) || poems < 1) throw new Error(`poems must be a whole number >= 1, got ${poems}`);
  const real = CATEGORIES.reduce((a, c) => a + REAL_COUNTS[c], 0);
  const exact = CATEGORIES.map((c) => (poems * REAL_COUNTS[c]) / real);
  const counts = exact.map(Math.floor);
  // largest remainders get the poems left over; then every category at least one poem (taken from the largest)
  const byRemainder = [0, 1, 2, 3].sort((x, y) => exact[y] - counts[y] - (exact[x] - counts[x]));
  for (let k = 0, left = poems - counts.reduce((x, y) => x + y, 0); k < left; k++) counts[byRemainder[k]]++;
  for (let i = 0; i < counts.length && poems >= counts.length; i++) {
    if (counts[i] > 0) continue;
    counts[i] = 1;
    counts[counts.indexOf(Math.max(...counts))]--;
  }
  return Object.fromEntries(CATEGORIES.map((c, i) => [c, counts[i]])) as Record<Category, number>;
}

/** n ids 1, 2, ... with ~`rate` of the numbers skipped (the pipeline's ids have holes). */
export function idsWithGaps(n: number, rand: Rand, rate = 0.01): Int32Array {
  const ids = new Int32Array(n);
  for (let i = 0, id = 0; i < n; i++) {
    id += 1;
    while (rand() < rate) id += 1 + Math.floor(rand() * 3);
    ids[i] = id;
  }
  return ids;
}

/** How many of `n` poems get a feature: `rate` of them, at least `min` when there are any. */
const quota = (n: number, rate: number, min = 1) => (n === 0 ? 0 : Math.min(n, Math.max(min, Math.round(n * rate))));

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const T = (s: string) => Date.parse(`${s}Z`);
const EXTRACTED = T('2025-12-14T20:03:21');

/** Numbers 1..S shared by fediverse and boosts: which are boosts, which were never exported (gaps). */
function fediverseNumbers(f: number, b: number, rand: Rand): { fediverse: number[]; boosts: number[]; span: number } {
  const gaps = f + b === 0 ? 0 : Math.round(((f + b) * 23) / 6435);
  const span = f + b + gaps;
  const numbers = Array.from({ length: span }, (_, i) => i + 1);
  const skipped = new Set(sample(rand, numbers.slice(1), gaps));
  const left = numbers.filter((x) => !skipped.has(x));
  // the first boost comes a little way in (id 56 of 6,458 in the real file)
  const from = Math.min(Math.ceil(span * 0.0087), Math.max(0, left.length - b));
  const boosts = new Set(sample(rand, left.filter((x) => x > from), b));
  return { fediverse: left.filter((x) => !boosts.has(x)), boosts: [...boosts].sort((x, y) => x - y), span };
}

/** Quota members of 0..n-1 per feature, drawn without overlap between the features listed together. */
function assign(rand: Rand, n: number, eligible: (i: number) => boolean, features: [string, number][]): Map<number, string> {
  const free = Array.from({ length: n }, (_, i) => i).filter(eligible);
  const chosen = new Map<number, string>();
  const order = sample(rand, free, free.length);
  let at = 0;
  for (const [name, k] of features) for (let j = 0; j < k && at < order.length; j++) chosen.set(order[at++], name);
  return chosen;
}

const filepath = (c: Category, id: number) => `${c}/${String(id).padStart(4, '0')}.txt`;

function fediversePoems(ids: number[], dates: string[], seed: number): PipelinePoem[] {
  const rand = prng(subSeed(seed, 'fediverse'));
  const n = ids.length;
  const shape = assign(rand, n, () => true, [['empty', quota(n, 26 / 5977)], ['golden', quota(n, 431 / 5977)]]);
  const plain = (i: number) => !shape.has(i);
  const extra = assign(rand, n, plain, [
    ['nul', n ? 1 : 0], ...INVISIBLES.slice(1).map((ch): [string, number] => [`inv:${ch}`, quota(n, 0.0004)]),
    ['mojibake', quota(n, 0.012, 2)],
  ]);
  const cws = assign(rand, n, plain, [['cw', quota(n, 0.09)]]);
  const mentions = assign(rand, n, plain, [['mention', quota(n, 0.12)]]);
  return ids.map((id, i) => {
    let content = '';
    let cw: string | undefined;
    let mention: { handle: string; host: string; anon: string } | undefined;
    if (shape.get(i) === 'golden') {
      content = exactBytes(rand, 1024);
    } else if (!shape.has(i)) {
      const r = rand();
      content = r < 0.6 ? poem(rand) : r < 0.9 ? `${line(rand, 4, 14)}${rand() < 0.4 ? `\n\n#${hashtag(rand)}` : ''}` : `${line(rand, 3, 8)}\n\n${url(rand)}`;
      if (mentions.has(i)) {
        mention = { handle: handle(rand), host: host(rand), anon: `@user-${1 + Math.floor(rand() * 80)}` };
        content = `${mention.anon} ${content}`;
      }
      if (cws.has(i)) cw = contentWarning(rand);
      const x = extra.get(i);
      if (x === 'nul') content = insertAt(rand, content, '\u0000');
      else if (x?.startsWith('inv:')) content = insertAt(rand, content, x.slice(4));
      else if (x === 'mojibake') content = mojibake(/[^\x00-\x7f]/.test(content) ? content : `${content} ${word(rand)} 🥰`);
    }
    // golden = 1,024 bytes of the text as written (real mention handle) plus the content warning
    const golden = () => byteLength(mention ? content.replace(mention.anon, `@${mention.handle}`) : content) + byteLength(cw ?? '');
    while (shape.get(i) !== 'golden' && golden() === 1024) content += ` ${word(rand)}`;
    const raw = content === '' ? '' : postHtml(content, mention);
    return {
      category: 'fediverse', id, content, raw_content: raw, content_warning: cw, creation_date: dates[i], filepath: filepath('fediverse', id),
      length: byteLength(content),
      metadata: {
        has_content_warning: cw !== undefined, golden_poem_character_count: golden(), character_count: byteLength(content),
        is_golden_poem: golden() === 1024, mentions_anonymized: true, creation_date: dates[i], original_character_count: byteLength(raw),
        word_count: wordCount(content), extraction_timestamp: `${iso(EXTRACTED)}Z`, privacy_mode: 'clean',
      },
    };
  });
}

function boostPoems(ids: number[], dates: string[], seed: number): PipelinePoem[] {
  const rand = prng(subSeed(seed, 'fediverse_boost'));
  return ids.map((id, i) => {
    const uri = boostUri(rand);
    const content = `External post: ${uri}`;
    return {
      category: 'fediverse_boost', id, content, raw_content: content, creation_date: dates[i], filepath: filepath('fediverse_boost', id),
      length: byteLength(content),
      metadata: { boost_type: 'external', privacy_mode: 'clean', is_boost: true, original_uri: uri, boost_date: `${dates[i]}Z`, mentions_anonymized: true },
    };
  });
}

function messagePoems(n: number, seed: number): PipelinePoem[] {
  const rand = prng(subSeed(seed, 'messages'));
  const start = T('2021-04-27T13:08:48');
  const step = (T('2025-11-20T00:00:00') - start) / Math.max(1, n);
  const shape = assign(rand, n, () => true, [['space', quota(n, 8 / 1081)], ['empty', quota(n, 4 / 1081)]]);
  const extra = assign(rand, n, (i) => !shape.has(i), [['crlf', quota(n, 0.003)], ['mojibake', quota(n, 0.02, 2)], ['inv', quota(n, 0.003)]]);
  let t = start;
  return Array.from({ length: n }, (_, i) => {
    t += Math.floor(rand() * 2 * step);
    const date = `${iso(t)}Z`;
    let content: string;
    const s = shape.get(i);
    if (s) content = s === 'space' ? ' ' : '';
    else {
      const r = rand();
      content = r < 0.35 ? url(rand) : r < 0.45 ? fileName(rand) : r < 0.9 ? prose(rand, 1 + Math.floor(rand() * 4)) : line(rand, 2, 8);
      const x = extra.get(i);
      if (x === 'crlf') content = `${line(rand, 3, 8)}\r\n${line(rand, 3, 8)}`;
      else if (x === 'mojibake') content = mojibake(`${content} ${word(rand)} don’t 🥰`);
      else if (x === 'inv') content = insertAt(rand, content, INVISIBLES[1 + Math.floor(rand() * (INVISIBLES.length - 1))]);
    }
    return {
      category: 'messages', id: i + 1, content, creation_date: date, filepath: filepath('messages', i + 1), length: byteLength(content),
      metadata: {
        has_content_warning: false, character_count: byteLength(content), word_count: wordCount(content), creation_date: date,
        extraction_timestamp: `${iso(EXTRACTED + 1000)}Z`,
      },
    };
  });
}

function notePoems(n: number, seed: number): PipelinePoem[] {
  const rand = prng(subSeed(seed, 'notes'));
  const from = T('2020-02-01T00:00:00');
  const to = T('2025-06-30T00:00:00');
  const used = new Set<string>();
  return Array.from({ length: n }, (_, i) => {
    const date = `${iso(from + Math.floor(rand() * (to - from) / 1000) * 1000)}Z`;
    let source = slug(rand);
    while (used.has(source)) source = `${source}-${slug(rand)}`;
    used.add(source);
    const content = wrap80(prose(rand, 1 + Math.floor(rand() * 8)), rand);
    return {
      category: 'notes', id: i + 1, content, creation_date: date, filepath: filepath('notes', i + 1), length: byteLength(content),
      metadata: {
        file_modification_time: date, character_count: byteLength(content), source_file: source, word_count: wordCount(content),
        has_content_warning: false, extraction_timestamp: `${iso(EXTRACTED + 3000)}Z`,
      },
    };
  });
}

/** The poems in file order: fediverse, fediverse_boost, messages, notes. */
export function makePoems(o: PipelineOptions = {}): PipelinePoem[] {
  const seed = o.seed ?? 1;
  const counts = categoryCounts(o.poems);
  const rand = prng(subSeed(seed, 'ids'));
  const { fediverse, boosts, span } = fediverseNumbers(counts.fediverse, counts.fediverse_boost, rand);
  // One timeline over the shared numbers (ids follow the outbox order).
  const from = T('2023-04-20T05:22:03');
  const to = T('2025-12-10T10:38:54');
  const times = Array.from({ length: span }, () => from + Math.floor((rand() * (to - from)) / 1000) * 1000).sort((a, b) => a - b);
  const date = (id: number) => iso(times[id - 1]);
  return [
    ...fediversePoems(fediverse, fediverse.map(date), seed),
    ...boostPoems(boosts, boosts.map(date), seed),
    ...messagePoems(counts.messages, seed),
    ...notePoems(counts.notes, seed),
  ];
}

export interface PipelineEmbeddings {
  dim: number;
  /** n x dim float32, row = position. */
  values: Float32Array;
  /** Rows of empty poems: the random unit vector as Lua holds it (doubles), printed to 14 digits. */
  random: Map<number, Float64Array>;
  /** Bytes of the text each embedding was made from (0 for random ones). */
  contentLength: Int32Array;
}

/** What the embedding stage reads of a poem: its content without surrounding whitespace. */
const embeddedText = (p: PipelinePoem) => p.content.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');

/** Lua's generate_random_embedding(id, dim): seeded by the per-category id, so equal ids get equal vectors. */
export function randomUnitVector(id: number, dim: number): Float64Array {
  const rand = prng(subSeed(id, 'random-embedding'));
  const v = Float64Array.from({ length: dim }, () => rand() * 2 - 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

export function makeEmbeddings(poems: readonly PipelinePoem[], o: PipelineOptions = {}): PipelineEmbeddings {
  const dim = o.dim ?? 768;
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) throw new Error(`dim must be a positive multiple of 4, got ${dim}`);
  const rand = prng(subSeed(o.seed ?? 1, 'embeddings'));
  const n = poems.length;
  const values = new Float32Array(n * dim);
  const random = new Map<number, Float64Array>();
  const contentLength = new Int32Array(n);
  const v = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    const text = embeddedText(poems[r]);
    if (text === '') {
      const u = randomUnitVector(poems[r].id, dim);
      random.set(r, u);
      for (let d = 0; d < dim; d++) values[r * dim + d] = Math.fround(u[d]);
      continue;
    }
    contentLength[r] = byteLength(text);
    let norm = 0;
    for (let d = 0; d < dim; d++) {
      // a sum of uniforms is roughly normal; a few tiny values give the exponent form (-4.797619e-05)
      let x = rand() + rand() + rand() - 1.5;
      if (rand() < 0.004) x *= 1e-4;
      v[d] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    for (let d = 0; d < dim; d++) values[r * dim + d] = Math.fround(v[d] / norm);
  }
  return { dim, values, random, contentLength };
}

export interface GenerateResult {
  dir: string;
  files: { file: string; bytes: number; seconds: number }[];
  seconds: number;
}

const MODEL = 'EmbeddingGemma:latest';
const stamp = (ms: number) => iso(ms).replace('T', ' ');

/** Writes the four files into `dir`; the same options give the same bytes. */
export async function writePipeline(dir: string, o: PipelineOptions = {}, log: (line: string) => void = () => {}): Promise<GenerateResult> {
  const seed = o.seed ?? 1;
  const run = o.run ?? seed;
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const started = performance.now();
  const files: GenerateResult['files'] = [];
  const step = async (name: string, write: (path: string) => Promise<void>) => {
    const t = performance.now();
    const path = join(abs, name);
    await write(path);
    files.push({ file: path, bytes: statSync(path).size, seconds: (performance.now() - t) / 1000 });
    log(`  wrote ${name} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  };
  const order = (file: string) => new LuaKeyOrder(subSeed(run, file));

  const poems = makePoems(o);
  const n = poems.length;
  if (n < 2) throw new Error(`at least 2 poems, got ${n}`);
  await step(FILES.poems, (path) => writePoemsFile(path, {
    source_path: '/home/poet/neocities-modernization/input', source_mode: 'json', extracted_at: stamp(EXTRACTED + 5000),
    extraction_version: '2.0', total_poems: n,
  }, n, (i) => poems[i] as unknown as LuaObject, order(FILES.poems)));

  const emb = makeEmbeddings(poems, o);
  const { dim } = emb;
  // An incremental run: the first `previous` embeddings were made by an earlier run (no updated_at).
  const previous = Math.floor(n * 0.85);
  const earlier = T('2025-11-02T13:42:32');
  const later = T('2025-12-14T21:10:05');
  const madeAt = (i: number) => stamp(i < previous ? earlier + i * 1000 : later + (i - previous) * 1000);
  const row = new Float32Array(dim);
  await step(FILES.embeddings, (path) => writeEmbeddingsFile(path, {
    total_poems: n, embedding_model: MODEL, embedding_dimension: dim, generated_at: stamp(later + (n - previous) * 1000),
    endpoint: 'http://localhost:11434', incremental_update: true, original_generated_at: stamp(earlier), previous_total: previous,
  }, order(FILES.embeddings), {
    count: n,
    entry: (i) => {
      const random = emb.random.get(i);
      row.set(emb.values.subarray(i * dim, (i + 1) * dim));
      return {
        poem_index: i + 1, id: poems[i].id, embedding: new RawJson(random ? dkNumbers(random, g14) : dkNumbers(row, f32Text)),
        content_length: emb.contentLength[i], generated_at: madeAt(i), updated_at: i < previous ? undefined : madeAt(i),
        is_random: random ? true : undefined,
      };
    },
  }));

  const simK = o.similarityTopK ? Math.min(o.similarityTopK, n - 1) : n - 1;
  const divK = o.diversityTopK ? Math.min(o.diversityTopK, n) : n;
  let t = performance.now();
  const meta: RankingsMeta = { total_poems: n, sort_threads: 8, top_k: o.similarityTopK ? simK : 0 };
  const rankings = RankingsFile.open(join(abs, `${FILES.similarity}`), meta);
  let nb: Neighbours;
  try {
    nb = await Neighbours.build(kernelScores(emb.values, n, dim), (i, ranking) => rankings.line(i, ranking.subarray(0, simK)));
    await rankings.close();
  } catch (err) {
    await rankings.abort();
    throw err;
  }
  const simPath = join(abs, FILES.similarity);
  files.push({ file: simPath, bytes: statSync(simPath).size, seconds: (performance.now() - t) / 1000 });
  log(`  wrote ${FILES.similarity}: exact over ${n} x ${n} (${((performance.now() - t) / 1000).toFixed(1)} s)`);

  t = performance.now();
  const seq = new Int32Array(divK);
  await step(FILES.diversity, (path) => writeDiversityFile(path, {
    model: MODEL, num_poems: n, embedding_dimension: dim, algorithm: 'gpu_vulkan_batch', batch_size: 64,
    generated_at: stamp(later + 3_600_000), generation_time_seconds: 41, embeddings_file_size: statSync(join(abs, FILES.embeddings)).size,
    total_sequences: n, top_k: divK,
  }, n, (k) => {
    nb.walk(k, divK, seq);
    return seq;
  }, order(FILES.diversity)));
  return { dir: abs, files, seconds: (performance.now() - started) / 1000 };
}
