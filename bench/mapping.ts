// Main thread + N worker threads reading one >= 500 MB cache: total PSS per strategy.
//   node bench/mapping.ts [--size-mb 600] [--workers 8] [--runs 3]
// Strategies, each measured in its own child process:
//   mmap      every thread maps the file itself through the native addon (the design)
//   fallback  the pure-JS path: one read into a SharedArrayBuffer per process, inherited by workers
//   copy      what users do without this package: every thread reads the file into its own buffer
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { CacheWriter, encodeIds } from '../cache/writer.ts';
import { SectionKind } from '../cache/layout.ts';
import { openCache } from '../cache/reader.ts';
import { loadNative } from '../native/index.ts';
import { fmtMB, median, memoryOf } from './lib/pss.ts';

const here = dirname(fileURLToPath(import.meta.url));
type Mode = 'mmap' | 'fallback' | 'copy';

/** Reads one byte per page so every page of the image is resident in this thread's view. */
function touch(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 4096) s += bytes[i];
  return s;
}

function load(path: string, mode: Mode): Uint8Array {
  if (mode === 'copy') return readFileSync(path);
  return openCache(path, { fallback: mode === 'fallback' }).bytes;
}

if (!isMainThread) {
  const { path, mode } = workerData as { path: string; mode: Mode };
  const bytes = load(path, mode);
  // Keep the image reachable until the parent has measured, or GC could drop a copy and flatter 'copy'.
  (globalThis as { image?: Uint8Array }).image = bytes;
  parentPort!.postMessage(touch(bytes));
  parentPort!.once('message', () => process.exit(0));
} else {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '600' },
      workers: { type: 'string', default: '8' },
      runs: { type: 'string', default: '3' },
      child: { type: 'string' },
      path: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (values.child) await child(values.path!, values.child as Mode, Number(values.workers));
  else await parent(Number(values['size-mb']), Number(values.workers), Number(values.runs), values.out);
}

async function child(path: string, mode: Mode, workers: number) {
  const t0 = performance.now();
  const main = load(path, mode);
  (globalThis as { image?: Uint8Array }).image = main;
  touch(main);
  const pool = Array.from(
    { length: workers },
    () => new Worker(fileURLToPath(import.meta.url), { workerData: { path, mode } }),
  );
  await Promise.all(pool.map((w) => once(w, 'message')));
  const ms = performance.now() - t0;
  const m = memoryOf();
  process.stdout.write(JSON.stringify({ ...m, ms }) + '\n');
  for (const w of pool) w.postMessage('exit');
  process.exit(0);
}

async function makeCache(path: string, sizeMb: number): Promise<number> {
  const dim = 768;
  const rows = Math.ceil((sizeMb * (1 << 20)) / (dim * 4));
  if (existsSync(path) && statSync(path).size >= rows * dim * 4) return statSync(path).size;
  mkdirSync(dirname(path), { recursive: true });
  const w = await CacheWriter.create(path);
  await w.addSection(encodeIds(Array.from({ length: rows }, (_, r) => r)));
  async function* matrix() {
    const block = 1024;
    for (let r = 0; r < rows; r += block) {
      const n = Math.min(block, rows - r);
      const a = new Float32Array(n * dim);
      for (let i = 0; i < a.length; i++) a[i] = ((r * dim + i) % 1000) / 1000;
      yield new Uint8Array(a.buffer);
    }
  }
  await w.addSection({ name: 'embeddings', kind: SectionKind.matrix, count: rows, param: dim, parts: [matrix()] });
  return (await w.finish()).size;
}

async function parent(sizeMb: number, workers: number, runs: number, out?: string) {
  const path = join(here, 'data', `mapping-${sizeMb}mb.cache`);
  const size = await makeCache(path, sizeMb);
  const modes: Mode[] = loadNative() ? ['mmap', 'fallback', 'copy'] : ['fallback', 'copy'];
  if (!loadNative()) console.log('native addon not built: the mmap strategy is not measured');
  const rows: string[] = [];
  const budget = 1.2 * size + workers * 40 * (1 << 20);
  const results: Record<string, { pss: number; rss: number; ms: number }> = {};
  for (const mode of modes) {
    const samples: { pss: number; rss: number; ms: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const r = spawnSync(
        process.execPath,
        [fileURLToPath(import.meta.url), '--child', mode, '--path', path, '--workers', String(workers)],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
          env: { ...process.env, POEM_CACHE_NO_NATIVE: mode === 'fallback' ? '1' : '' },
        },
      );
      if (r.status !== 0)
        throw new Error(`child ${mode} failed (status ${r.status}, signal ${r.signal}): ${r.stderr || r.error}`);
      samples.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
    }
    const res = {
      pss: median(samples.map((s) => s.pss)),
      rss: median(samples.map((s) => s.rss)),
      ms: median(samples.map((s) => s.ms)),
    };
    results[mode] = res;
    rows.push(
      `| ${mode} | ${fmtMB(res.pss)} | ${(res.pss / size).toFixed(2)} | ${fmtMB(res.rss)} ` +
        `| ${res.ms.toFixed(0)} ms | ${res.pss <= budget ? 'yes' : 'no'} |`,
    );
  }
  const table = [
    `Cache: ${fmtMB(size)} (${path.replace(here, 'bench')}); main thread + ${workers} workers, ` +
      `every page touched in every thread; ` +
      `median of ${runs} runs; PSS budget 1.2 × file + ${workers} × 40 MB = ${fmtMB(budget)}.`,
    '',
    '| strategy | total PSS | PSS / file size | RSS (counts shared pages per mapper) |' +
      ' open + touch, all threads | within budget |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(table);
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, table + '\n');
  }
  if (results.mmap && results.mmap.pss > budget) process.exitCode = 1;
}
