// Render workers vs data strategy: the same "similar" pages rendered by 1/2/4/8 worker threads, per strategy.
//   node bench/render.ts --data DIR --cache FILE [--pages N] [--workers 1,2,4,8] [--strategies a,b,c,d,d2,d3]
//                        [--out DIR]
// Strategies (each strategy x workers combination runs in its own child process):
//   a   every worker JSON.parses the four pipeline JSON files itself (the pipeline's original way)
//   b   the main thread JSON.parses once and structured-clones the result to every worker (workerData)
//   c   the main thread reads the binary cache into a SharedArrayBuffer; workers readerFromBytes() it
//   d   every worker maps the cache itself (openCache, native mmap)
//   d2  the main thread copies the cache into POSIX shared memory (shmCreate); workers openShm(); unlinked at the end
//   d3  the main thread maps the cache as a SharedArrayBuffer (mapFileShared, Node >= 24.16) and passes it to workers
// Every page is built by bench/lib/render-page.ts; the per-page sha256 digests are combined in page order and
// the combined hash must be identical for every strategy and worker count (else exit 1).
// Memory: the parent samples /proc/<child>/smaps_rollup Pss every ~50 ms (peak) and the child reports its own Pss after
// the last page and a full GC in every thread, while every worker still holds its data (final). Writes render.md and
// render.svg.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openCache, openShm, readerFromBytes } from '../cache/reader.ts';
import { loadNative } from '../native/index.ts';
import { fmtMB, memoryOf } from './lib/pss.ts';
import {
  combineDigests,
  jsonPageData,
  pageDigest,
  pageRows,
  renderSimilarPage,
  type PageData,
  type PipelineJson,
} from './lib/render-page.ts';

const SELF = fileURLToPath(import.meta.url);
const STRATEGIES = ['a', 'b', 'c', 'd', 'd2', 'd3'] as const;
type Strategy = (typeof STRATEGIES)[number];
const DESCRIBE: Record<Strategy, string> = {
  a: 'a: JSON.parse in every worker',
  b: 'b: JSON.parse once, structured clone',
  c: 'c: SharedArrayBuffer (read)',
  d: 'd: mmap per worker',
  d2: 'd2: POSIX shm',
  d3: 'd3: SharedArrayBuffer over mmap',
};
const JSON_FILES = {
  poems: 'poems.json',
  embeddings: 'embeddings.json',
  similarity: 'similarity_rankings_cache.json',
  diversity: 'diversity_cache.json',
} as const;
// JSON strategies hold GBs at seed scale; give their isolates room (V8's default may be lower than the need).
const JSON_HEAP_MB = 16384;
// Every strategy's workers: left alone, a worker's young generation grows to 64 MB (Node 24) and stays
// resident, ~60 MB per worker of empty heap. These pages allocate short-lived strings only: 8 MB costs no
// measurable speed here (tang, 20,000 pages, 1 and 2 workers: 1,773 / 3,282 pages/s vs 1,783 / 3,068 left
// alone; +28 MB per extra worker instead of +85). The Astro prerenderer's threads use 32 MB (see
// integration/render-pool.ts): Astro's rendering promotes more, and 8 MB cost it CPU.
const YOUNG_GENERATION_MB = 8;

/** Thrown (as a message) when a JSON file cannot be one JS string. */
const isStringLimit = (e: unknown) =>
  (e as NodeJS.ErrnoException)?.code === 'ERR_STRING_TOO_LONG' ||
  /string longer than|Invalid string length/i.test(String((e as Error)?.message));

function parseJsonFiles(dir: string): PipelineJson {
  const read = (f: string) => {
    try {
      return JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch (e) {
      // say which file is over the limit (the tang data set's embeddings.json is)
      if (isStringLimit(e)) throw new Error(`${f} (${fmtMB(statSync(join(dir, f)).size)}): ${(e as Error).message}`);
      throw e;
    }
  };
  return {
    poems: read(JSON_FILES.poems),
    embeddings: read(JSON_FILES.embeddings),
    similarity: read(JSON_FILES.similarity),
    diversity: read(JSON_FILES.diversity),
  };
}

/** Reads a whole file into a SharedArrayBuffer. */
function readShared(path: string): SharedArrayBuffer {
  const size = statSync(path).size;
  const sab = new SharedArrayBuffer(size);
  readInto(path, new Uint8Array(sab));
  return sab;
}

function readInto(path: string, dst: Uint8Array): void {
  const fd = openSync(path, 'r');
  try {
    let off = 0;
    while (off < dst.length) {
      const n = readSync(fd, dst, off, Math.min(dst.length - off, 64 << 20), off);
      if (n === 0) throw new Error(`${path}: file shrank while being read`);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- worker

interface WorkerInput {
  strategy: Strategy;
  index: number;
  workers: number;
  rows: Int32Array;
  data: string;
  cache: string;
  json?: PipelineJson; // b
  shared?: SharedArrayBuffer; // c, d3
  shm?: string; // d2
}

if (!isMainThread) {
  const w = workerData as WorkerInput;
  const t0 = performance.now();
  let d: PageData | undefined;
  let keep: unknown;
  try {
    switch (w.strategy) {
      case 'a':
        keep = parseJsonFiles(w.data);
        d = jsonPageData(keep as PipelineJson);
        break;
      case 'b':
        keep = w.json;
        d = jsonPageData(w.json!);
        break;
      case 'c':
      case 'd3':
        d = readerFromBytes(new Uint8Array(w.shared!), w.strategy);
        break;
      case 'd':
        d = openCache(w.cache);
        break;
      case 'd2':
        d = openShm(w.shm!);
        break;
    }
  } catch (e) {
    parentPort!.postMessage({
      type: 'error',
      cannot: isStringLimit(e),
      message: String((e as Error)?.message ?? e).split('\n')[0],
    });
  }
  if (d) {
    (globalThis as { keep?: unknown }).keep = keep; // the parsed data stays alive until the final PSS reading
    parentPort!.postMessage({ type: 'ready', loadMs: performance.now() - t0 });
    parentPort!.once('message', () => {
      const mine: number[] = [];
      const digests: Buffer[] = [];
      for (let i = w.index; i < w.rows.length; i += w.workers) {
        mine.push(i);
        digests.push(pageDigest(renderSimilarPage(d, w.rows[i])));
      }
      parentPort!.postMessage({ type: 'done', indices: mine, digests: Buffer.concat(digests) });
      // Then (untimed): collect garbage (e.g. the JSON text) so "final" PSS is what this worker retains, not GC timing.
      parentPort!.once('message', () => {
        (globalThis as { gc?: () => void }).gc?.();
        parentPort!.postMessage({ type: 'collected' });
        parentPort!.once('message', () => process.exit(0));
      });
    });
  }
}

// ---------------------------------------------------------------- child: one strategy x workers

async function child(strategy: Strategy, workers: number, data: string, cache: string, pages: number): Promise<void> {
  const t0 = performance.now();
  const say = (r: Record<string, unknown>): void => void process.stdout.write(`@@RESULT ${JSON.stringify(r)}\n`);
  let shm: string | undefined;
  const cleanup = () => {
    if (shm) {
      try {
        loadNative()!.shmUnlink(shm);
      } catch {
        /* already gone */
      }
      shm = undefined;
    }
  };
  try {
    const base: Omit<WorkerInput, 'index' | 'rows'> = { strategy, workers, data, cache };
    let count: number;
    if (strategy === 'a' || strategy === 'b') {
      // The row count comes from poems.json (small); in 'a' the main thread holds nothing else.
      const poems = JSON.parse(readFileSync(join(data, JSON_FILES.poems), 'utf8')) as PipelineJson['poems'];
      count = poems.poems.length;
      if (strategy === 'b') {
        try {
          base.json = parseJsonFiles(data);
        } catch (e) {
          if (isStringLimit(e))
            return say({
              cannot: `cannot: ${String((e as Error).message).split('\n')[0]}`,
              failMs: performance.now() - t0,
            });
          throw e;
        }
      }
    } else if (strategy === 'c') {
      base.shared = readShared(cache);
      count = readerFromBytes(new Uint8Array(base.shared), 'main').count;
    } else if (strategy === 'd') {
      count = await readCount(cache);
    } else if (strategy === 'd2') {
      const native = loadNative();
      if (!native) return say({ cannot: 'cannot: native addon not built' });
      const size = statSync(cache).size;
      shm = `poem-bench-${process.pid}`;
      readInto(cache, new Uint8Array(native.shmCreate(shm, size)));
      base.shm = shm;
      count = await readCount(cache);
    } else {
      const native = loadNative();
      if (!native?.mapFileShared)
        return say({ cannot: `cannot: mapFileShared needs Node >= 24.16 (this is ${process.version})` });
      base.shared = native.mapFileShared(resolve(cache));
      count = readerFromBytes(new Uint8Array(base.shared), 'main').count;
    }
    const rows = pageRows(count, pages);
    const heavy = strategy === 'a' || strategy === 'b';
    const pool = Array.from(
      { length: workers },
      (_, index) =>
        new Worker(SELF, {
          workerData: { ...base, index, rows },
          resourceLimits: {
            maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
            ...(heavy ? { maxOldGenerationSizeMb: JSON_HEAP_MB } : {}),
          },
        }),
    );
    const firsts = await Promise.all(pool.map((w) => once(w, 'message').then(([m]) => m)));
    const failed = firsts.find((m) => m.type === 'error');
    if (failed) {
      for (const w of pool) void w.terminate();
      return say({
        cannot: failed.cannot ? `cannot: ${failed.message}` : undefined,
        error: failed.cannot ? undefined : failed.message,
        failMs: performance.now() - t0,
      });
    }
    const tReady = performance.now();
    const done = pool.map((w) => once(w, 'message').then(([m]) => m));
    for (const w of pool) w.postMessage('go');
    const results = await Promise.all(done);
    const tDone = performance.now();
    const digests: Buffer[] = new Array(rows.length);
    for (const r of results) {
      const buf = Buffer.from(r.digests.buffer, r.digests.byteOffset, r.digests.byteLength);
      for (const [k, i] of (r.indices as number[]).entries()) digests[i] = buf.subarray(k * 32, k * 32 + 32);
    }
    const collected = pool.map((w) => once(w, 'message'));
    for (const w of pool) w.postMessage('gc');
    await Promise.all(collected);
    (globalThis as { gc?: () => void }).gc?.();
    const final = memoryOf('self');
    say({
      setupMs: tReady - t0,
      renderMs: tDone - tReady,
      totalMs: tDone - t0,
      pages: rows.length,
      hash: combineDigests(digests),
      finalPss: final.pss,
      finalRss: final.rss,
      loadMs: Math.max(...firsts.map((m) => m.loadMs)),
    });
    for (const w of pool) w.postMessage('exit');
    await Promise.all(pool.map((w) => once(w, 'exit')));
  } finally {
    cleanup();
  }
}

/** Row count of a cache from its header and ids entry only (the main thread keeps no mapping in 'd'/'d2'). */
async function readCount(cache: string): Promise<number> {
  const { readCacheMeta } = await import('../converter/index.ts'); // not in workers' module graph
  const m = await readCacheMeta(cache);
  if (!m) throw new Error(`${cache}: not a cache file`);
  return m.rows;
}

// ---------------------------------------------------------------- parent

interface Cell {
  strategy: Strategy;
  workers: number;
  peakPss?: number;
  finalPss?: number;
  setupMs?: number;
  renderMs?: number;
  totalMs?: number;
  pages?: number;
  hash?: string;
  note?: string;
  /** A cell that started and failed (e.g. a JSON file over V8's string limit): child start until the failure. */
  failMs?: number;
}

function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : Infinity;
}

async function measure(
  strategy: Strategy,
  workers: number,
  o: { data: string; cache: string; pages: number },
): Promise<Cell> {
  const args = [
    SELF,
    '--child',
    strategy,
    '--workers',
    String(workers),
    '--data',
    o.data,
    '--cache',
    o.cache,
    '--pages',
    String(o.pages),
  ];
  const heavy = strategy === 'a' || strategy === 'b';
  const flags = ['--expose-gc', ...(heavy ? [`--max-old-space-size=${JSON_HEAP_MB}`] : [])];
  const cp = spawn(process.execPath, [...flags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, memoryOf(cp.pid!).pss);
    } catch {
      /* not started yet / exited */
    }
  };
  sample();
  const timer = setInterval(sample, 50);
  let out = '';
  let err = '';
  cp.stdout.on('data', (b) => (out += b));
  cp.stderr.on('data', (b) => (err += b));
  const [code, signal] = (await once(cp, 'exit')) as [number | null, string | null];
  clearInterval(timer);
  if (strategy === 'd2' && code !== 0) {
    // The child died before unlinking its segment: do it here (name as in child()).
    try {
      loadNative()?.shmUnlink(`poem-bench-${cp.pid}`);
    } catch {
      /* it did, or never created it */
    }
  }
  const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
  if (code !== 0 || !line) {
    const why = signal ? `signal ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `exit ${code}`;
    return {
      strategy,
      workers,
      peakPss: peak || undefined,
      note: `failed: ${why}: ${err.trim().split('\n').slice(-1)[0] ?? ''}`,
    };
  }
  const r = JSON.parse(line.slice('@@RESULT '.length));
  if (r.cannot || r.error)
    return { strategy, workers, peakPss: peak || undefined, failMs: r.failMs, note: r.cannot ?? `failed: ${r.error}` };
  return { strategy, workers, ...r, peakPss: Math.max(peak, r.finalPss), note: undefined };
}

function svgChart(cells: Cell[], workerCounts: number[], strategies: Strategy[], title: string): string {
  const W = 720,
    H = 420,
    L = 80,
    R = 250,
    T = 40,
    B = 50;
  const colors = ['#d62728', '#ff7f0e', '#2ca02c', '#1f77b4', '#9467bd', '#8c564b'];
  const pts = cells.filter((c) => c.peakPss !== undefined && !c.note);
  const maxMb = Math.max(1, ...pts.map((c) => c.peakPss! / (1 << 20)));
  const niceMax = (() => {
    const p = 10 ** Math.floor(Math.log10(maxMb));
    return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= maxMb)!;
  })();
  const xs = (w: number) =>
    L +
    (workerCounts.length === 1 ? (W - L - R) / 2 : (workerCounts.indexOf(w) / (workerCounts.length - 1)) * (W - L - R));
  const ys = (mb: number) => H - B - (mb / niceMax) * (H - T - B);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="${T - 16}" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (niceMax * i) / 5;
    const y = ys(v);
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)}</text>`,
    );
  }
  for (const w of workerCounts) out.push(`<text x="${xs(w)}" y="${H - B + 18}" text-anchor="middle">${w}</text>`);
  out.push(
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">worker threads</text>`,
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">total peak PSS (MB)</text>`,
  );
  strategies.forEach((s, i) => {
    const color = colors[i % colors.length];
    const mine = pts.filter((c) => c.strategy === s).sort((a, b) => a.workers - b.workers);
    if (mine.length > 1) {
      const points = mine.map((c) => `${xs(c.workers).toFixed(1)},${ys(c.peakPss! / (1 << 20)).toFixed(1)}`).join(' ');
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`);
    }
    for (const c of mine)
      out.push(
        `<circle cx="${xs(c.workers).toFixed(1)}" cy="${ys(c.peakPss! / (1 << 20)).toFixed(1)}" ` +
          `r="3.5" fill="${color}"/>`,
      );
    const ly = T + 10 + i * 20;
    const missing = cells.filter((c) => c.strategy === s && c.note).length;
    const failed = cells.some((c) => c.strategy === s && c.failMs !== undefined);
    out.push(
      `<line x1="${W - R + 20}" x2="${W - R + 44}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - R + 50}" y="${ly + 4}">${esc(DESCRIBE[s])}` +
        `${failed ? ' (fails, see the table)' : missing ? ` (${missing} not measured)` : ''}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

async function parent(o: {
  data: string;
  cache: string;
  pages: number;
  workers: number[];
  strategies: Strategy[];
  out?: string;
  memFraction: number;
}) {
  for (const f of Object.values(JSON_FILES))
    if (!existsSync(join(o.data, f))) throw new Error(`render: ${join(o.data, f)} is missing (node bench/generate.ts)`);
  if (!existsSync(o.cache)) throw new Error(`render: cache ${o.cache} is missing (convert ${o.data} first)`);
  const jsonBytes = Object.values(JSON_FILES).reduce((s, f) => s + statSync(join(o.data, f)).size, 0);
  const cacheBytes = statSync(o.cache).size;
  const cells: Cell[] = [];
  for (const s of o.strategies) {
    for (const w of o.workers) {
      // JSON strategies scale with workers: skip a combination that would not fit, instead of OOM-killing the machine.
      const prev = cells.filter((c) => c.strategy === s && c.peakPss && !c.note);
      const prevFailed = cells.some((c) => c.strategy === s && c.note && c.workers < w);
      let note: string | undefined;
      if (prevFailed) note = 'not run: a smaller worker count already failed';
      else if ((s === 'a' || s === 'b') && prev.length) {
        const last = prev[prev.length - 1];
        const perCopy = last.peakPss! / (s === 'a' ? last.workers : last.workers + 1);
        const need = perCopy * (s === 'a' ? w : w + 1);
        const avail = memAvailable() * o.memFraction;
        if (need > avail) note = `not run: needs ~${fmtMB(need)} (extrapolated), ${fmtMB(avail)} available`;
      }
      const cell = note ? { strategy: s, workers: w, note } : await measure(s, w, o);
      cells.push(cell);
      const show = cell.note
        ? `${cell.note}${cell.failMs !== undefined ? ` after ${cell.failMs.toFixed(0)} ms` : ''}` +
          `${cell.peakPss ? `, peak ${fmtMB(cell.peakPss)}` : ''}`
        : `peak ${fmtMB(cell.peakPss!)}, final ${fmtMB(cell.finalPss!)}, ${cell.totalMs!.toFixed(0)} ms`;
      process.stderr.write(`render ${s} x${w}: ${show}\n`);
    }
  }
  const hashes = new Set(cells.filter((c) => c.hash).map((c) => c.hash));
  const pages = cells.find((c) => c.pages)?.pages ?? o.pages;
  const rows = cells.map((c) =>
    c.note && c.failMs !== undefined
      ? // started and failed: peak PSS until the failure, the time to it, the reason where the hash would be
        `| ${DESCRIBE[c.strategy]} | ${c.workers} | ${c.peakPss ? fmtMB(c.peakPss) : '–'} | – ` +
        `| failed after ${(c.failMs / 1000).toFixed(2)} s | – | ${(c.failMs / 1000).toFixed(2)} s | – | ${c.note} |`
      : c.note
        ? `| ${DESCRIBE[c.strategy]} | ${c.workers} | ${c.note} | | | | | | |`
        : `| ${DESCRIBE[c.strategy]} | ${c.workers} | ${fmtMB(c.peakPss!)} | ${fmtMB(c.finalPss!)} ` +
          `| ${(c.setupMs! / 1000).toFixed(2)} s | ${(c.renderMs! / 1000).toFixed(2)} s ` +
          `| ${(c.totalMs! / 1000).toFixed(2)} s ` +
          `| ${(c.pages! / (c.renderMs! / 1000)).toFixed(0)} | ${c.hash!.slice(0, 12)} |`,
  );
  const check =
    hashes.size === 1
      ? 'every measured cell produced the same page hash'
      : hashes.size === 0
        ? 'no cell completed'
        : `MISMATCH: ${hashes.size} different page hashes`;
  const table = [
    `Render ${pages} "similar" pages ` +
      `(title + 100 most similar + first 100 of the diversity sequence, titles and first lines) with N worker threads.`,
    `JSON inputs ${fmtMB(jsonBytes)} (${o.data}); cache ${fmtMB(cacheBytes)} (${o.cache}); ` +
      `${process.version}; one child process per cell, one run each.`,
    'Total PSS = /proc/<child>/smaps_rollup Pss ' +
      '(the child is the only process involved; its worker threads share it): ' +
      'peak = max of ~50 ms samples, final = after the last page and a full GC in every thread, ' +
      'with every worker still holding its data. ' +
      'Setup = child start until every worker is ready (parse / clone / read / map); ' +
      'pages/s over the render phase only; total = setup + render.',
    `Output check: ${check}.`,
    '',
    '| strategy | workers | total peak PSS | final PSS | setup | render | total wall | pages/s (render) | page hash |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(table);
  if (o.out) {
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, 'render.md'), table + '\n');
    writeFileSync(
      join(o.out, 'render.svg'),
      svgChart(cells, o.workers, o.strategies, `Render ${pages} pages: total peak PSS vs worker threads`),
    );
    console.log(`\nwrote ${join(o.out, 'render.md')} and render.svg`);
  }
  if (hashes.size > 1) {
    console.error('render: strategies rendered different HTML');
    process.exitCode = 1;
  }
}

if (isMainThread) {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      cache: { type: 'string' },
      pages: { type: 'string' },
      workers: { type: 'string', default: '1,2,4,8' },
      strategies: { type: 'string', default: STRATEGIES.join(',') },
      out: { type: 'string' },
      'mem-fraction': { type: 'string', default: '0.8' },
      child: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const usage =
    'Usage: node bench/render.ts --data DIR --cache FILE [--pages N (default: every row once)] [--workers 1,2,4,8] ' +
    '[--strategies a,b,c,d,d2,d3] [--out DIR] [--mem-fraction 0.8]\n';
  if (values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  if (!values.data || !values.cache) {
    process.stderr.write(usage);
    process.exit(2);
  }
  const data = resolve(values.data);
  const cache = resolve(values.cache);
  if (values.child) {
    const pages = Number(values.pages);
    await child(values.child as Strategy, Number(values.workers), data, cache, pages);
  } else {
    const strategies = values.strategies!.split(',').map((s) => s.trim()) as Strategy[];
    const bad = strategies.filter((s) => !STRATEGIES.includes(s));
    if (bad.length) {
      process.stderr.write(`render: unknown strategies ${bad.join(', ')}\n${usage}`);
      process.exit(2);
    }
    const workers = values.workers!.split(',').map(Number);
    if (workers.some((w) => !(Number.isInteger(w) && w > 0))) {
      process.stderr.write(`render: --workers must be positive integers\n${usage}`);
      process.exit(2);
    }
    const pages = values.pages ? Number(values.pages) : openCache(cache, { fallback: !loadNative() }).count;
    await parent({
      data,
      cache,
      pages,
      workers,
      strategies,
      out: values.out,
      memFraction: Number(values['mem-fraction']),
    });
  }
}
