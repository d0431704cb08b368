// Per-call cost of the CacheReader accessors a page uses, over random rows (precomputed, seeded).
//   node bench/lookup.ts --cache FILE [--batches 9] [--batch-ms 200] [--min-calls 2000000] [--warmup-ms 300]
//                        [--out FILE]
// Operations: related(row, 10) = similar(row) + the titles of its first 10 rows; similar(row) alone (the view);
// text(row); embedding(row) (the view); rowOfIndex(i) (the identity lookup), rowsOf(id) (ids repeat per category). Each
// backing (native mmap; the pure-JS fallback's in-memory SharedArrayBuffer) runs in its own child process so the JIT
// sees one reader. Each operation: warm-up (0.3 s), then `batches` timed batches of the same number of calls (at least
// min-calls in all); the table shows the median ns/call over batches, and the min-max range.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openCache, type CacheReader } from '../cache/reader.ts';
import { loadNative } from '../native/index.ts';
import { fmtMB, median } from './lib/pss.ts';
import { prng } from '../scripts/pipeline/random.ts';

const SELF = fileURLToPath(import.meta.url);
const K = 10;
const N_RANDOM = 1 << 20;
const MASK = N_RANDOM - 1;

/** The `k` most similar poems' titles: what a page's "related" box needs. */
export function related(r: CacheReader, row: number, k: number): string[] {
  const s = r.similar(row);
  const n = Math.min(k, s.length);
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.title(s[i]);
  return out;
}

type Op = (r: CacheReader, rows: Int32Array, ids: Int32Array, from: number, calls: number) => number;
// Every op folds its results into a number that is returned, so nothing can be optimised away.
const OPS: Record<string, Op> = {
  [`related(row, ${K})`]: (r, rows, _ids, from, calls) => {
    let sink = 0;
    for (let i = from; i < from + calls; i++) sink += related(r, rows[i & MASK], K).length;
    return sink;
  },
  'similar(row)': (r, rows, _ids, from, calls) => {
    let sink = 0;
    for (let i = from; i < from + calls; i++) sink += r.similar(rows[i & MASK])[0];
    return sink;
  },
  'text(row)': (r, rows, _ids, from, calls) => {
    let sink = 0;
    for (let i = from; i < from + calls; i++) sink += r.text(rows[i & MASK]).length;
    return sink;
  },
  'embedding(row)': (r, rows, _ids, from, calls) => {
    let sink = 0;
    for (let i = from; i < from + calls; i++) sink += r.embedding(rows[i & MASK])[1];
    return sink;
  },
  // a poem is its position: rowOfIndex is the identity lookup; ids repeat per category, so rowsOf lists them
  'rowOfIndex(i)': (r, rows, _ids, from, calls) => {
    let sink = 0;
    for (let i = from; i < from + calls; i++) sink += r.rowOfIndex(rows[i & MASK] + 1);
    return sink;
  },
  'rowsOf(id)': (r, _rows, ids, from, calls) => {
    let sink = 0;
    for (let i = from; i < from + calls; i++) sink += r.rowsOf(ids[i & MASK]).length;
    return sink;
  },
};

interface OpResult {
  op: string;
  medianNs: number;
  minNs: number;
  maxNs: number;
  calls: number;
}

function child(
  cache: string,
  fallback: boolean,
  batches: number,
  batchMs: number,
  minCalls: number,
  warmupMs: number,
): void {
  const r = openCache(cache, { fallback });
  const rand = prng(0x100c0b);
  const rows = new Int32Array(N_RANDOM);
  const ids = new Int32Array(N_RANDOM);
  for (let i = 0; i < N_RANDOM; i++) {
    rows[i] = Math.floor(rand() * r.count);
    ids[i] = r.idOf(rows[i]);
  }
  let sink = 0;
  const results: OpResult[] = [];
  for (const [name, op] of Object.entries(OPS)) {
    if (name.startsWith('embedding') && !r.has('embeddings')) continue;
    // Warm-up, doubling until ~warmupMs: also measures the rate for sizing the batches.
    let calls = 1000;
    let rate = 0;
    for (let spent = 0; spent < warmupMs; ) {
      const t = performance.now();
      sink += op(r, rows, ids, 0, calls);
      const ms = performance.now() - t;
      spent += ms;
      rate = calls / Math.max(ms, 1e-3);
      calls *= 2;
    }
    const perBatch = Math.max(Math.ceil(rate * batchMs), Math.ceil(minCalls / batches));
    const ns: number[] = [];
    for (let b = 0; b < batches; b++) {
      const t = process.hrtime.bigint();
      sink += op(r, rows, ids, b * perBatch, perBatch);
      ns.push(Number(process.hrtime.bigint() - t) / perBatch);
    }
    results.push({
      op: name,
      medianNs: median(ns),
      minNs: Math.min(...ns),
      maxNs: Math.max(...ns),
      calls: perBatch * batches,
    });
  }
  const summary = {
    backing: r.backing,
    count: r.count,
    dim: r.dim,
    size: r.bytes.length,
    results,
    sink: Number.isFinite(sink),
  };
  process.stdout.write(`@@RESULT ${JSON.stringify(summary)}\n`);
}

function parent(
  cache: string,
  batches: number,
  batchMs: number,
  minCalls: number,
  warmupMs: number,
  out?: string,
): void {
  const backings = loadNative() ? [false, true] : [true];
  const runs = backings.map((fallback) => {
    const r = spawnSync(
      process.execPath,
      [
        SELF,
        '--child',
        '--cache',
        cache,
        '--batches',
        String(batches),
        '--batch-ms',
        String(batchMs),
        '--min-calls',
        String(minCalls),
        '--warmup-ms',
        String(warmupMs),
        ...(fallback ? ['--fallback'] : []),
      ],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      },
    );
    const line = r.stdout?.split('\n').find((l) => l.startsWith('@@RESULT '));
    if (r.status !== 0 || !line)
      throw new Error(
        `lookup child (${fallback ? 'fallback' : 'mmap'}) failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`,
      );
    return JSON.parse(line.slice(9)) as {
      backing: string;
      count: number;
      dim: number;
      size: number;
      results: OpResult[];
    };
  });
  const first = runs[0];
  const head = runs.map(
    (r) => `${r.backing === 'mmap' ? 'mmap (native)' : 'memory (fallback)'} ns/call: median [min-max]`,
  );
  const lines = first.results.map((res, i) => {
    const cells = runs.map((r) => {
      const x = r.results[i];
      return `${x.medianNs.toFixed(1)} [${x.minNs.toFixed(1)}-${x.maxNs.toFixed(1)}]`;
    });
    return `| ${res.op} | ${cells.join(' | ')} | ${(res.calls / 1e6).toFixed(2)} M |`;
  });
  const table = [
    `Cache ${fmtMB(first.size)} (${cache}): ${first.count} rows, ${first.dim}-d embeddings; ${process.version}. ` +
      `Random rows (seeded, ${N_RANDOM} precomputed), median over ${batches} batches after ${warmupMs} ms warm-up; ` +
      `one child process per backing.`,
    `related(row, k) = similar(row) + title() of its first k = ${K} rows ` +
      `(titles are decoded once per thread, then remembered); ` +
      `similar/embedding return views (no copy); text decodes one poem.`,
    '',
    `| operation | ${head.join(' | ')} | calls per backing |`,
    `|---|${head.map(() => '---|').join('')}---|`,
    ...lines,
  ].join('\n');
  console.log(table);
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, table + '\n');
  }
}

const { values } = parseArgs({
  options: {
    cache: { type: 'string' },
    batches: { type: 'string', default: '9' },
    'batch-ms': { type: 'string', default: '200' },
    'min-calls': { type: 'string', default: '2000000' },
    'warmup-ms': { type: 'string', default: '300' },
    out: { type: 'string' },
    child: { type: 'boolean' },
    fallback: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
const usage =
  'Usage: node bench/lookup.ts --cache FILE [--batches 9] [--batch-ms 200] [--min-calls 2000000] ' +
  '[--warmup-ms 300] [--out FILE]\n';
if (values.help || !values.cache) {
  process.stdout.write(usage);
  process.exit(values.help ? 0 : 2);
}
const cache = resolve(values.cache);
const [batches, batchMs, minCalls, warmupMs] = [
  Number(values.batches),
  Number(values['batch-ms']),
  Number(values['min-calls']),
  Number(values['warmup-ms']),
];
if (values.child) child(cache, !!values.fallback, batches, batchMs, minCalls, warmupMs);
else parent(cache, batches, batchMs, minCalls, warmupMs, values.out);
