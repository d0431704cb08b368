// What the tests that build test/fixtures/site share: its inputs for one test file, and a built site's files.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/** poemCache's input options for the fixture data a test file wrote into data-<tag>, its cache in .cache-<tag>. */
export function fixtureInputs(tag: string) {
  return {
    poems: `data-${tag}/poems.json`,
    embeddings: `data-${tag}/embeddings.json`,
    similarity: `data-${tag}/similarity_rankings_cache.json`,
    diversity: `data-${tag}/diversity_cache.json`,
    cacheFile: `.cache-${tag}/poems.cache`,
  };
}

/** Every file below `dir`, relative to it, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}
