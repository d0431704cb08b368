// The user's natural alternative to astro-poem-cache (bench/astro-build.ts, variant "json"): the example
// site's own pages, with `virtual:poem-cache` aliased to this module (bench/astro-site/astro.config.mjs), so
// they import the pipeline's four JSON files directly and Vite bundles them into the build like any other
// module. This wraps them in the same accessors as the cache reader (rows in poems.json order, lists as rows).
// '@poem-data' is an alias for the data directory.
import poemsFile from '@poem-data/poems.json';
import embeddingsFile from '@poem-data/embeddings.json';
import similarityFile from '@poem-data/similarity_rankings_cache.json';
import diversityFile from '@poem-data/diversity_cache.json';

interface Poem {
  id: number;
  title?: string;
  content: string;
  category?: string;
  creation_date?: string;
  metadata?: Record<string, unknown> & { creation_date?: string };
  [key: string]: unknown;
}

// The fields the pages read, as the cache's field(path, row): any scalar at a dotted path (absent = null).
const FIELDS = [
  'filepath',
  'content_warning',
  'metadata.is_golden_poem',
  'metadata.is_boost',
  'metadata.original_uri',
  'metadata.source_file',
  'metadata.author',
  'metadata.collection',
  'metadata.lang',
  'metadata.form',
  'metadata.section',
];
const at = (o: unknown, path: string): string | number | boolean | null => {
  let v = o;
  for (const k of path.split('.'))
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v === undefined || (v !== null && typeof v === 'object') ? null : (v as string | number | boolean | null);
};

// A poem is its position: rankings name it by 1-based poem_index, diversity by 0-based position, embeddings
// are an array by poem_index.
const poems = (poemsFile as { poems: Poem[] }).poems;
const rowById = new Map<number, number>();
poems.forEach((p, row) => {
  if (!rowById.has(p.id)) rowById.set(p.id, row);
});
const rankings = (similarityFile as { rankings: Record<string, number[]> }).rankings;
const sequences = (diversityFile as { sequences: Record<string, number[]> }).sequences;
const embeddings = (embeddingsFile as { embeddings: { embedding?: number[] }[] }).embeddings;
const toRows = (list: number[] | undefined, base: number): Int32Array => Int32Array.from(list ?? [], (v) => v - base);

const reader = {
  count: poems.length,
  has: (section: string): boolean => section === 'similar' || section === 'diversity' || section === 'embeddings',
  idOf: (row: number): number => poems[row].id,
  rowOf: (id: number): number => rowById.get(id) ?? -1,
  index: (row: number): number => row + 1,
  rowOfIndex: (i: number): number => (Number.isInteger(i) && i >= 1 && i <= poems.length ? i - 1 : -1),
  fieldNames: FIELDS,
  field: (path: string, row: number) => at(poems[row], path),
  title: (row: number): string => poems[row].title ?? '',
  text: (row: number): string => poems[row].content,
  category: (row: number): string => poems[row].category ?? '',
  date: (row: number): string => poems[row].creation_date ?? poems[row].metadata?.creation_date ?? '',
  embedding: (row: number): Float32Array => Float32Array.from(embeddings[row]?.embedding ?? []),
  similar: (row: number): Int32Array => toRows(rankings[String(row + 1)], 1),
  diversity: (row: number): Int32Array => toRows(sequences[String(row)], 0),
};

export const getCache = () => reader;
// <Reuse> without poemCache renders every use in place (no fragment host in this build).
export { Reuse } from '../../integration/reuse.ts';
// The same two options as poemCache(), from the environment of the build (bench/astro-build.ts sets them).
const count = (v: string | undefined, dflt: number): number =>
  v === undefined ? dflt : v === 'inf' ? Infinity : Number(v);
export const pageSize = count(process.env.POEM_BENCH_PAGE_SIZE, 100);
export const maxPagesPerPoem = count(process.env.POEM_BENCH_MAX_PAGES, Infinity);
