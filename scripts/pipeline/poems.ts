// The poems of the generated data, as the pipeline's extractor writes them (issue #10's facts, read from the
// real poems.json): four categories in file order, fediverse, fediverse_boost, messages, notes (5,977 / 458 /
// 1,081 / 274 at the real size). fediverse and fediverse_boost share one id numbering (the outbox order,
// interleaved, with a few numbers never exported), messages and notes restart at 1; id = the number in filepath
// ("fediverse/0006.txt"). Each category has its own keys and metadata keys; fediverse posts carry content
// warnings, golden poems (exactly 1,024 bytes), empty posts, mentions (anonymised in content, the real handle
// in raw_content), mojibake and characters dkjson escapes (one NUL); messages have " " and "" posts, links,
// file names; notes are hard-wrapped prose. No title: a poem is its position (poem_index).
import type { LuaObject } from './files.ts';
import { pick, prng, sample, subSeed, type Rand } from './random.ts';
import {
  INVISIBLES,
  boostUri,
  byteLength,
  contentWarning,
  exactBytes,
  fileName,
  handle,
  hashtag,
  host,
  insertAt,
  line,
  mojibake,
  poem,
  postHtml,
  prose,
  slug,
  url,
  word,
  wordCount,
  wrap80,
} from './text.ts';

export const CATEGORIES = ['fediverse', 'fediverse_boost', 'messages', 'notes'] as const;
export type Category = (typeof CATEGORIES)[number];
/** The real poems.json of 2025-12-14: 7,790 poems. */
export const REAL_COUNTS: Readonly<Record<Category, number>> = {
  fediverse: 5977,
  fediverse_boost: 458,
  messages: 1081,
  notes: 274,
};

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

/** Poems per category: a total split like the real file (each category at least 1 from 4 poems on), or given. */
export function categoryCounts(poems: number | Partial<Record<Category, number>> = 7790): Record<Category, number> {
  const record = (counts: number[]) =>
    Object.fromEntries(CATEGORIES.map((c, i) => [c, counts[i]])) as Record<Category, number>;
  if (typeof poems === 'object') return record(CATEGORIES.map((c) => poems[c] ?? 0));
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
  return record(counts);
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

export const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19);
export const T = (s: string) => Date.parse(`${s}Z`);
export const EXTRACTED = T('2025-12-14T20:03:21');

/** Numbers 1..S shared by fediverse and boosts: which are boosts, which were never exported (gaps). */
function fediverseNumbers(f: number, b: number, rand: Rand): { fediverse: number[]; boosts: number[]; span: number } {
  const gaps = Math.round(((f + b) * 23) / 6435);
  const span = f + b + gaps;
  const numbers = Array.from({ length: span }, (_, i) => i + 1);
  const skipped = new Set(sample(rand, numbers.slice(1), gaps));
  const left = numbers.filter((x) => !skipped.has(x));
  // the first boost comes a little way in (id 56 of 6,458 in the real file)
  const from = Math.min(Math.ceil(span * 0.0087), Math.max(0, left.length - b));
  const boosts = new Set(
    sample(
      rand,
      left.filter((x) => x > from),
      b,
    ),
  );
  return { fediverse: left.filter((x) => !boosts.has(x)), boosts: [...boosts].sort((x, y) => x - y), span };
}

/** Members of 0..n-1 (those `eligible`) per feature, `k` each, no poem in two of the features listed together. */
function assign(
  rand: Rand,
  n: number,
  eligible: (i: number) => boolean,
  features: [string, number][],
): Map<number, string> {
  const free = Array.from({ length: n }, (_, i) => i).filter(eligible);
  const chosen = new Map<number, string>();
  const order = sample(rand, free, free.length);
  let at = 0;
  for (const [name, k] of features) for (let j = 0; j < k && at < order.length; j++) chosen.set(order[at++], name);
  return chosen;
}

const filepath = (c: Category, id: number) => `${c}/${String(id).padStart(4, '0')}.txt`;
const stamp = (ms: number) => `${iso(ms)}Z`;

function fediverseText(rand: Rand): string {
  const r = rand();
  if (r < 0.6) return poem(rand);
  if (r < 0.9) return `${line(rand, 4, 14)}${rand() < 0.4 ? `\n\n#${hashtag(rand)}` : ''}`;
  return `${line(rand, 3, 8)}\n\n${url(rand)}`;
}

function fediversePoems(ids: number[], dates: string[], seed: number): PipelinePoem[] {
  const rand = prng(subSeed(seed, 'fediverse'));
  const n = ids.length;
  const shape = assign(rand, n, () => true, [
    ['empty', quota(n, 26 / 5977)],
    ['golden', quota(n, 431 / 5977)],
  ]);
  const plain = (i: number) => !shape.has(i);
  const extra = assign(rand, n, plain, [
    ['nul', n ? 1 : 0],
    ...INVISIBLES.slice(1).map((ch): [string, number] => [`inv:${ch}`, quota(n, 0.0004)]),
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
      content = fediverseText(rand);
      if (mentions.has(i)) {
        mention = { handle: handle(rand), host: host(rand), anon: `@user-${1 + Math.floor(rand() * 80)}` };
        content = `${mention.anon} ${content}`;
      }
      if (cws.has(i)) cw = contentWarning(rand);
      const x = extra.get(i);
      if (x === 'nul') content = insertAt(rand, content, '\u0000');
      else if (x?.startsWith('inv:')) content = insertAt(rand, content, x.slice(4));
      else if (x === 'mojibake') {
        // Already non-ASCII (any UTF-16 unit above 0x7f), or made so.
        content = mojibake(/[\x80-\uffff]/.test(content) ? content : `${content} ${word(rand)} 🥰`);
      }
    }
    // golden = 1,024 bytes of the text as posted (the real handle) plus the content warning
    const golden = () =>
      byteLength(mention ? content.replace(mention.anon, `@${mention.handle}`) : content) + byteLength(cw ?? '');
    while (shape.get(i) !== 'golden' && golden() === 1024) content += ` ${word(rand)}`;
    const raw = content === '' ? '' : postHtml(content, mention);
    const bytes = byteLength(content);
    return {
      category: 'fediverse',
      id,
      content,
      raw_content: raw,
      content_warning: cw,
      creation_date: dates[i],
      filepath: filepath('fediverse', id),
      length: bytes,
      metadata: {
        has_content_warning: cw !== undefined,
        golden_poem_character_count: golden(),
        character_count: bytes,
        is_golden_poem: golden() === 1024,
        mentions_anonymized: true,
        creation_date: dates[i],
        original_character_count: byteLength(raw),
        word_count: wordCount(content),
        extraction_timestamp: stamp(EXTRACTED),
        privacy_mode: 'clean',
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
      category: 'fediverse_boost',
      id,
      content,
      raw_content: content,
      creation_date: dates[i],
      filepath: filepath('fediverse_boost', id),
      length: byteLength(content),
      metadata: {
        boost_type: 'external',
        privacy_mode: 'clean',
        is_boost: true,
        original_uri: uri,
        boost_date: `${dates[i]}Z`,
        mentions_anonymized: true,
      },
    };
  });
}

function messageText(rand: Rand): string {
  const r = rand();
  if (r < 0.35) return url(rand);
  if (r < 0.45) return fileName(rand);
  return r < 0.9 ? prose(rand, 1 + Math.floor(rand() * 4)) : line(rand, 2, 8);
}

function messagePoems(n: number, seed: number): PipelinePoem[] {
  const rand = prng(subSeed(seed, 'messages'));
  const start = T('2021-04-27T13:08:48');
  const step = (T('2025-11-20T00:00:00') - start) / Math.max(1, n);
  const shape = assign(rand, n, () => true, [
    ['space', quota(n, 8 / 1081)],
    ['empty', quota(n, 4 / 1081)],
  ]);
  const extra = assign(rand, n, (i) => !shape.has(i), [
    ['crlf', quota(n, 0.003)],
    ['mojibake', quota(n, 0.02, 2)],
    ['inv', quota(n, 0.003)],
  ]);
  let t = start;
  return Array.from({ length: n }, (_, i) => {
    t += Math.floor(rand() * 2 * step);
    const date = stamp(t);
    const s = shape.get(i);
    let content = s ? (s === 'space' ? ' ' : '') : messageText(rand);
    const x = extra.get(i);
    if (x === 'crlf') content = `${line(rand, 3, 8)}\r\n${line(rand, 3, 8)}`;
    else if (x === 'mojibake') content = mojibake(`${content} ${word(rand)} don’t 🥰`);
    else if (x === 'inv') content = insertAt(rand, content, pick(rand, INVISIBLES.slice(1)));
    const bytes = byteLength(content);
    return {
      category: 'messages',
      id: i + 1,
      content,
      creation_date: date,
      filepath: filepath('messages', i + 1),
      length: bytes,
      metadata: {
        has_content_warning: false,
        character_count: bytes,
        word_count: wordCount(content),
        creation_date: date,
        extraction_timestamp: stamp(EXTRACTED + 1000),
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
    const date = stamp(from + Math.floor((rand() * (to - from)) / 1000) * 1000);
    let source = slug(rand);
    while (used.has(source)) source = `${source}-${slug(rand)}`;
    used.add(source);
    const content = wrap80(prose(rand, 1 + Math.floor(rand() * 8)), rand);
    const bytes = byteLength(content);
    return {
      category: 'notes',
      id: i + 1,
      content,
      creation_date: date,
      filepath: filepath('notes', i + 1),
      length: bytes,
      metadata: {
        file_modification_time: date,
        character_count: bytes,
        source_file: source,
        word_count: wordCount(content),
        has_content_warning: false,
        extraction_timestamp: stamp(EXTRACTED + 3000),
      },
    };
  });
}

/** The poems in file order: fediverse, fediverse_boost, messages, notes. */
export function makePoems(
  o: { poems?: number | Partial<Record<Category, number>>; seed?: number } = {},
): PipelinePoem[] {
  const seed = o.seed ?? 1;
  const counts = categoryCounts(o.poems);
  const rand = prng(subSeed(seed, 'ids'));
  const { fediverse, boosts, span } = fediverseNumbers(counts.fediverse, counts.fediverse_boost, rand);
  // One timeline over the shared numbers (ids follow the outbox order).
  const from = T('2023-04-20T05:22:03');
  const to = T('2025-12-10T10:38:54');
  const times = Array.from({ length: span }, () => from + Math.floor((rand() * (to - from)) / 1000) * 1000);
  times.sort((a, b) => a - b);
  const date = (id: number) => iso(times[id - 1]);
  return [
    ...fediversePoems(fediverse, fediverse.map(date), seed),
    ...boostPoems(boosts, boosts.map(date), seed),
    ...messagePoems(counts.messages, seed),
    ...notePoems(counts.notes, seed),
  ];
}
