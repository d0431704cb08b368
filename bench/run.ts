// npm run bench -- --size small|seed|tang
// Generates the deterministic data set (once), then runs each benchmark in its own processes and writes
// its markdown table to bench/out/<size>/. `small` is the CI smoke run: it only has to complete; seed (the
// pipeline's scale) and tang (57,607 real poems, top-100 lists; its data set is built from the npm package
// chinese-poetry, fetched on first use) are run by hand.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FILES } from '../scripts/pipeline/files.ts';

const here = dirname(fileURLToPath(import.meta.url));
interface Plan {
  /** Converter runs (medians of). */
  runs: number;
  /**
   * Main + workers mapping a synthetic cache of mappingMb; null: not run (the figures do not depend on the data
   * set).
   */
  mapping: { mappingMb: number; workers: number } | null;
  /** pages '' = every poem once. */
  render: { pages: string; workers: string };
  /** Synthetic caches of these sizes ('' = none), and/or (dataCache) the data set's own cache. */
  warmStart: { sizesMb: string; dataCache: boolean; runs: number };
  lookup: { batches: number; batchMs: number; minCalls: number; warmupMs: number };
  /** Astro builds of the example site's pages against this data set (bench/astro-build.ts); null: not run. */
  astroBuild: { runs: number; variants: string } | null;
  /**
   * Fill this size's block of BENCHMARKS.md by default (--no-write-benchmarks: not); else only with
   * --write-benchmarks.
   */
  writeBenchmarks: boolean;
}
const PLANS: Record<string, Plan> = {
  small: {
    runs: 1,
    mapping: { mappingMb: 64, workers: 8 },
    render: { pages: '100', workers: '1,2' },
    warmStart: { sizesMb: '10,64', dataCache: false, runs: 3 },
    lookup: { batches: 5, batchMs: 20, minCalls: 100000, warmupMs: 50 },
    writeBenchmarks: false,
    astroBuild: { runs: 1, variants: 'own,w1,w2,w4,json' },
  },
  seed: {
    runs: 3,
    mapping: { mappingMb: 600, workers: 8 },
    render: { pages: '', workers: '1,2,4,8' },
    warmStart: { sizesMb: '10,500', dataCache: false, runs: 5 },
    lookup: { batches: 9, batchMs: 200, minCalls: 2000000, warmupMs: 300 },
    writeBenchmarks: true,
    astroBuild: { runs: 3, variants: 'own,w1,w2,w4,json' },
  },
  // 57,607 poems: the embeddings JSON (466 MB in the real shapes; it was 834 MB, over V8's string limit) is near what
  // JSON.parse and the JSON render strategies (a, b) can hold; a failure is reported (reason, time, peak memory); the
  // cache strategies render every page. Mapping and the synthetic warm-start caches measure the same thing at every
  // size: not rerun here (see the seed block); warm start is measured on the tang cache itself instead.
  tang: {
    runs: 3,
    mapping: null,
    render: { pages: '', workers: '1,2,4,8' },
    warmStart: { sizesMb: '', dataCache: true, runs: 5 },
    lookup: { batches: 9, batchMs: 200, minCalls: 2000000, warmupMs: 300 },
    writeBenchmarks: true,
    astroBuild: null,
  },
};

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'small' },
    'write-benchmarks': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
  allowNegative: true,
});
// --write-benchmarks (default for seed and tang; --no-write-benchmarks: not) puts the tables into BENCHMARKS.md
// between this size's markers.
const usage =
  'Usage: npm run bench -- --size small|seed|tang [--[no-]write-benchmarks]\n' +
  '  small  CI smoke run (~2 min); seed  7,790 poems, full lists (~15 min); ' +
  'tang  57,607 real poems, top-100 lists (~20-30 min,\n' +
  '         the first run also builds the data set from the npm package chinese-poetry: a few minutes)\n';
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const size = values.size!;
if (!Object.hasOwn(PLANS, size)) {
  process.stderr.write(`bench: unknown --size ${JSON.stringify(values.size)}\n${usage}`);
  process.exit(2);
}
const plan = PLANS[size];
const data = join(here, 'data', size);
const out = join(here, 'out', size);
mkdirSync(out, { recursive: true });

const repo = dirname(here);
const ran: { title: string; command: string; seconds: number; table?: string }[] = [];
const skipped: string[] = [];
const rel = (p: string) => (p.startsWith(repo) ? p.slice(repo.length + 1) : p);

function step(title: string, args: string[], table?: string): void {
  console.log(`\n## ${title}\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: dirname(here) });
  if (r.status !== 0) {
    console.error(`bench: "${title}" failed (exit ${r.status}${r.signal ? `, signal ${r.signal}` : ''})`);
    process.exit(1);
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(`(${seconds.toFixed(1)} s)`);
  ran.push({ title, command: `node ${args.map((a) => (a === '' ? "''" : rel(a))).join(' ')}`, seconds, table });
}

if (!Object.values(FILES).every((f) => existsSync(join(data, f)))) {
  step(`Generate the ${size} data set`, [join(here, 'generate.ts'), '--size', size, '--out', data]);
}
step(
  'Converter: MB/s and peak RSS per input vs JSON.parse',
  [join(here, 'converter.ts'), '--data', data, '--runs', String(plan.runs), '--out', join(out, 'converter.md')],
  'converter.md',
);
if (plan.mapping) {
  step(
    `Mapping: total PSS of main + ${plan.mapping.workers} workers`,
    [
      join(here, 'mapping.ts'),
      '--size-mb',
      String(plan.mapping.mappingMb),
      '--workers',
      String(plan.mapping.workers),
      '--runs',
      String(plan.runs),
      '--out',
      join(out, 'mapping.md'),
    ],
    'mapping.md',
  );
} else skipped.push('Mapping (a synthetic cache, the same at every size: see the seed block)');
// The binary cache of this data set, for the render and lookup steps (the converter skips it when up to date).
const cache = join(data, 'poems.pcache');
step(`Convert the ${size} data set to ${cache}`, [
  join(dirname(here), 'bin', 'poem-cache.mjs'),
  'convert',
  '--quiet',
  '--out',
  cache,
  ...(['poems', 'embeddings', 'similarity', 'diversity'] as const).flatMap((k) => [`--${k}`, join(data, FILES[k])]),
]);
step(
  `Render: pages/s and total PSS per data strategy x workers (${plan.render.workers})`,
  [
    join(here, 'render.ts'),
    '--data',
    data,
    '--cache',
    cache,
    '--workers',
    plan.render.workers,
    ...(plan.render.pages ? ['--pages', plan.render.pages] : []),
    '--out',
    out,
  ],
  'render.md',
);
const warmOf = [
  ...(plan.warmStart.sizesMb ? [`caches of ${plan.warmStart.sizesMb} MB`] : []),
  ...(plan.warmStart.dataCache ? [`the ${size} cache`] : []),
].join(' and ');
step(
  `Warm start: process start -> first page, ${warmOf}`,
  [
    join(here, 'warm-start.ts'),
    '--sizes-mb',
    plan.warmStart.sizesMb,
    ...(plan.warmStart.dataCache ? ['--caches', cache] : []),
    '--runs',
    String(plan.warmStart.runs),
    '--out',
    join(out, 'warm-start.md'),
  ],
  'warm-start.md',
);
if (!plan.warmStart.sizesMb)
  skipped.push('Warm start on synthetic caches of 10 and 500 MB (the same at every size: see the seed block)');
step(
  'Lookup: ns per accessor call',
  [
    join(here, 'lookup.ts'),
    '--cache',
    cache,
    '--batches',
    String(plan.lookup.batches),
    '--batch-ms',
    String(plan.lookup.batchMs),
    '--min-calls',
    String(plan.lookup.minCalls),
    '--warmup-ms',
    String(plan.lookup.warmupMs),
    '--out',
    join(out, 'lookup.md'),
  ],
  'lookup.md',
);
if (plan.astroBuild) {
  step(
    `Astro build: Astro's own prerenderer vs the worker prerenderer ` +
      `vs pages importing the JSON (${plan.astroBuild.variants})`,
    [
      join(here, 'astro-build.ts'),
      '--data',
      data,
      '--cache',
      cache,
      '--runs',
      String(plan.astroBuild.runs),
      '--variants',
      plan.astroBuild.variants,
      '--out',
      join(out, 'astro-build.md'),
    ],
    'astro-build.md',
  );
  step(
    'Incremental rebuilds (experimental.incrementalBuild): cold, unchanged, one poem changed, clean',
    [join(here, 'incremental.ts'), '--data', data, '--out', join(out, 'incremental.md')],
    'incremental.md',
  );
} else
  skipped.push(
    'Astro build and incremental rebuilds of the example site ' +
      '(at this size 172,822 pages with one similar and one different page per poem; the seed block has it)',
  );

// One report per run: the machine, the commit, every step's exact command and table.
const git =
  spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).stdout.trim() || 'unknown';
const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], {
  cwd: repo,
  encoding: 'utf8',
}).stdout.trim()
  ? ' (with uncommitted changes)'
  : '';
const svg = join(out, 'render.svg');
const chart = `docs/benchmarks/render-pss-${size}.svg`;
const report = [
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at commit ${git}${dirty} ` +
    `with \`npm run bench -- --size ${size}\`.`,
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ` +
    `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}.`,
  ...(skipped.length ? [`Not run at this size: ${skipped.join('; ')}.`] : []),
  '',
  ...ran
    .filter((r) => r.table)
    .flatMap((r) => [
      `### ${r.title}`,
      '',
      `\`${r.command}\` (${r.seconds.toFixed(0)} s)`,
      '',
      readFileSync(join(out, r.table!), 'utf8').trim(),
      '',
      ...(r.table === 'render.md' && existsSync(svg) ? [`![Total PSS vs workers per strategy](${chart})`, ''] : []),
    ]),
].join('\n');
writeFileSync(join(out, 'REPORT.md'), report + '\n');
if (values['write-benchmarks'] ?? plan.writeBenchmarks) {
  const file = join(repo, 'BENCHMARKS.md');
  const [start, end] = [`<!-- bench:${size}:start -->`, `<!-- bench:${size}:end -->`];
  const doc = readFileSync(file, 'utf8');
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file}: expected the markers ${start} and ${end}`);
  writeFileSync(file, `${doc.slice(0, a + start.length)}\n${report}\n${doc.slice(b)}`);
  if (existsSync(svg)) {
    mkdirSync(join(repo, 'docs', 'benchmarks'), { recursive: true });
    copyFileSync(svg, join(repo, chart));
  }
  console.log(`bench: wrote the ${size} tables into BENCHMARKS.md`);
}
console.log(`\nbench: ${size} done; report in ${join(out, 'REPORT.md')}`);
