import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCache, forgetCache } from '../cache/reader.ts';
import { writeCache } from '../cache/writer.ts';
import { digest } from './fixtures/digest.ts';
import { withoutNative } from './support/native.ts';

const skipNative = withoutNative('threads.test: the mmap cases (the fallback cases run)');

let dir: string;
let file: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'poem-cache-threads-'));
  file = join(dir, 'threads.cache');
  const n = 300;
  const dim = 16;
  const ids = Array.from({ length: n }, (_, i) => i * 3 + (i % 5)); // gapped
  await writeCache(file, {
    ids,
    embeddings: { dim, values: Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i)) },
    similar: {
      lists: ids.map((_, r) => [(r + 1) % n, (r + 7) % n, (r + 11) % n]),
      scores: ids.map((_, r) => [1 / (r + 1), 0.5, 0.25]),
    },
    diversity: { lists: ids.map((_, r) => [r, (r + n / 2) % n]) },
    title: ids.map((id) => `诗 ${id} — poem`),
    text: ids.map((id) => `line one of ${id}\n第二行`),
    category: ids.map((id) => (id % 2 ? 'odd' : 'even')),
    date: ids.map(() => ''),
    meta: { test: 'threads' },
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startWorkers(count: number, fallback: boolean) {
  const workers = Array.from(
    { length: count },
    () => new Worker(new URL('./fixtures/read-worker.ts', import.meta.url), { workerData: { path: file, fallback } }),
  );
  const first = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0]));
  return { workers, first };
}

describe.each([
  { label: 'native mmap', fallback: false, skip: skipNative },
  { label: 'pure-JS fallback', fallback: true, skip: false },
])('main thread + 4 workers ($label)', ({ fallback, skip }) => {
  it.skipIf(skip)('every thread opens the file itself and reads the same values', async () => {
    forgetCache(file);
    const main = openCache(file, { fallback });
    expect(main.backing).toBe(fallback ? 'memory' : 'mmap');
    const { workers, first } = await startWorkers(4, fallback);
    try {
      const expected = digest(main);
      for (const m of first) {
        expect(m.digest).toBe(expected);
        expect(m.backing).toBe(main.backing);
      }
      if (fallback) {
        // One copy per process: the workers' image is the main thread's SharedArrayBuffer, so a byte the
        // main thread changes in the unused table space is what every worker reads.
        expect(first.every((m) => m.shared)).toBe(true);
        const spare = 64 + main.sections.length * 64;
        main.bytes[spare] = 42;
        for (const w of workers) {
          w.postMessage(spare);
          expect((await once(w, 'message'))[0].byte).toBe(42);
        }
        main.bytes[spare] = 0;
      }
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});

it.skipIf(skipNative)('the addon and the fallback return identical results on the same file', () => {
  forgetCache(file);
  const viaMmap = digest(openCache(file));
  forgetCache(file);
  const viaMemory = digest(openCache(file, { fallback: true }));
  expect(viaMmap).toBe(viaMemory);
  expect(viaMmap.length).toBeGreaterThan(10_000);
});
