// Warm start: "build starts -> first page rendered" on an existing (fresh, already converted) cache.
//   node bench/warm-start.ts [--sizes-mb 10,500] [--caches FILE,...] [--runs 5] [--dir bench/data] [--out FILE]
// --caches adds existing cache files (e.g. a data set's converted cache); --sizes-mb '' measures only those.
// For each cache size (synthetic, deterministic, written once with CacheWriter into --dir and reused) and each
// way of opening it (native mmap; the pure-JS fallback, which reads the whole file), `runs` fresh child
// processes each: load the reader and page modules, openCache(), render the first "similar" page (the shared
// bench/lib/render-page.ts). Nothing is warm inside the process; the OS page cache IS warm (the file was just
// written and an untimed run precedes the timed ones), so this is the warm-disk case.
// Reported (medians): open + first page (openCache() to HTML, in-script) and process start -> first page
// (performance.now(), i.e. since the child process started: Node boot + module loading + the above).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const HERE = dirname(SELF);
const DIM = 768;

const { values } = parseArgs({
  options: {
    'sizes-mb': { type: 'string', default: '10,500' },
    caches: { type: 'string' },
    runs: { type: 'string', default: '5' },
    dir: { type: 'string', default: join(HERE, 'data') },
    out: { type: 'string' },
    child: { type: 'string' },
    fallback: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.child) {
  // Child: everything from here on is part of the measurement; modules load dynamically on purpose.
  const tScript = performance.now();
  const { openCache } = await import('../cache/reader.ts');
  const { renderSimilarPage } = await import('./lib/render-page.ts');
  const t0 = performance.now();
  const reader = openCache(values.child, { fallback: !!values.fallback });
  const tOpen = performance.now();
  const html = renderSimilarPage(reader, 0);
  const t1 = performance.now();
  const summary = {
    openMs: tOpen - t0,
    firstPageMs: t1 - t0,
    sinceStartMs: t1,
    scriptStartMs: tScript,
    backing: reader.backing,
    htmlBytes: html.length,
  };
  process.stdout.write(`@@RESULT ${JSON.stringify(summary)}\n`);
} else if (values.help) {
  process.stdout.write(
    'Usage: node bench/warm-start.ts [--sizes-mb 10,500] [--caches FILE,...] [--runs 5] [--dir DIR] [--out FILE]\n',
  );
} else {
  await parent();
}

/** Rows giving a cache of about `mb` MB: full similar + diversity lists (8 R^2 bytes) + embeddings and strings. */
function rowsFor(mb: number): number {
  const target = mb * (1 << 20);
  const perRow = DIM * 4 + 400 + 16;
  return Math.max(16, Math.floor((-perRow + Math.sqrt(perRow * perRow + 4 * 8 * target)) / (2 * 8)));
}

async function makeCache(path: string, mb: number): Promise<number> {
  if (existsSync(path)) return statSync(path).size;
  const { CacheWriter, encodeIds, encodeStrings, encodeMatrix } = await import('../cache/writer.ts');
  const { SectionKind } = await import('../cache/layout.ts');
  const { prng } = await import('../scripts/pipeline/random.ts');
  const R = rowsFor(mb);
  const rand = prng(0x3a7e + R);
  mkdirSync(dirname(path), { recursive: true });
  const w = await CacheWriter.create(path);
  await w.addSection(encodeIds(Array.from({ length: R }, (_, r) => 1 + r + (r >> 7))));
  const emb = new Float32Array(R * DIM);
  for (let i = 0; i < emb.length; i++) emb[i] = rand() - 0.5;
  await w.addSection(encodeMatrix('embeddings', R, DIM, emb));
  // similar[r] = every other row, in a row-dependent order; diversity[r] = r first, then the rest reversed.
  const ragged = (name: string, len: number, fill: (r: number, out: Int32Array) => void) => {
    const starts = new Uint32Array(R);
    const lengths = new Uint32Array(R).fill(len);
    for (let r = 0; r < R; r++) starts[r] = r * len;
    function* values() {
      for (let r = 0; r < R; r++) {
        const a = new Int32Array(len);
        fill(r, a);
        yield new Uint8Array(a.buffer);
      }
    }
    return { name, kind: SectionKind.ragged, flags: 0, count: R, param: R * len, parts: [starts, lengths, values()] };
  };
  await w.addSection(
    ragged('similar', R - 1, (r, a) => {
      for (let j = 0; j < R - 1; j++) a[j] = (r + 1 + ((j * 7919) % (R - 1))) % R;
    }),
  );
  await w.addSection(
    ragged('diversity', R, (r, a) => {
      for (let j = 0; j < R; j++) a[j] = (r + R - j) % R;
    }),
  );
  const words = ['moon', 'river', 'stone', 'light', 'shadow', 'wind', 'autumn', 'café', 'ember', 'harbor'];
  const word = () => words[Math.floor(rand() * words.length)];
  const titles = Array.from({ length: R }, () => `${word()} ${word()} ${word()}`);
  const texts = Array.from({ length: R }, () =>
    Array.from({ length: 8 }, () => `${word()} ${word()} ${word()} ${word()} ${word()}`).join('\n'),
  );
  await w.addSection(encodeStrings('title', titles));
  await w.addSection(encodeStrings('text', texts));
  return (await w.finish()).size;
}

async function parent(): Promise<void> {
  const { fmtMB, median } = await import('./lib/pss.ts');
  const sizes = values['sizes-mb']!.split(',').filter(Boolean).map(Number);
  const runs = Number(values.runs);
  const dir = resolve(values.dir!);
  const lines: string[] = [];
  const targets = [
    ...sizes.map((mb) => ({ path: join(dir, `warm-${mb}mb.cache`), mb, label: '' })),
    ...(values.caches ?? '')
      .split(',')
      .filter(Boolean)
      .map((f) => ({ path: resolve(f), mb: 0, label: ` (${relative(process.cwd(), resolve(f))})` })),
  ];
  for (const { path, mb, label } of targets) {
    const t = performance.now();
    if (!mb && !existsSync(path)) throw new Error(`warm-start: ${path}: no such cache file`);
    const size = mb ? await makeCache(path, mb) : statSync(path).size;
    process.stderr.write(
      `warm-start: ${path} ${fmtMB(size)} (${((performance.now() - t) / 1000).toFixed(1)} s to make or find)\n`,
    );
    for (const fallback of [false, true]) {
      const one = () => {
        const r = spawnSync(process.execPath, [SELF, '--child', path, ...(fallback ? ['--fallback'] : [])], {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        });
        const line = r.stdout?.split('\n').find((l) => l.startsWith('@@RESULT '));
        if (r.status !== 0 || !line)
          throw new Error(`warm-start child failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
        return JSON.parse(line.slice(9)) as {
          openMs: number;
          firstPageMs: number;
          sinceStartMs: number;
          backing: string;
        };
      };
      one(); // untimed: warms the OS page cache for this file
      const s = Array.from({ length: runs }, one);
      const m = (k: 'openMs' | 'firstPageMs' | 'sinceStartMs') => median(s.map((x) => x[k]));
      const range = (k: 'firstPageMs' | 'sinceStartMs') =>
        `${Math.min(...s.map((x) => x[k])).toFixed(1)}-${Math.max(...s.map((x) => x[k])).toFixed(1)}`;
      lines.push(
        `| ${fmtMB(size)}${label} | ${fallback ? 'fallback (reads whole file)' : `${s[0].backing} (native)`} ` +
          `| ${m('openMs').toFixed(2)} ms | ${m('firstPageMs').toFixed(2)} ms (${range('firstPageMs')}) ` +
          `| ${m('sinceStartMs').toFixed(1)} ms (${range('sinceStartMs')}) |`,
      );
    }
  }
  const table = [
    `Fresh child process per run, median of ${runs} runs (after one untimed run); ${process.version}. ` +
      `The OS page cache is warm (files just written / read): ` +
      `cold-disk times would be higher, for the fallback roughly by file size / disk speed.`,
    'open + first page = openCache() + renderSimilarPage(row 0) in-script; ' +
      'process start -> first page = performance.now() at that point ' +
      '(Node boot, loading the TypeScript modules, open, render).',
    '',
    '| cache | open via | openCache() | open + first page (min-max) | process start -> first page (min-max) |',
    '|---|---|---|---|---|',
    ...lines,
  ].join('\n');
  console.log(table);
  if (values.out) {
    mkdirSync(dirname(resolve(values.out)), { recursive: true });
    writeFileSync(resolve(values.out), table + '\n');
  }
}
