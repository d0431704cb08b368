// Incremental rebuilds of the example site's pages against a benchmark data set (Astro's
// experimental.incrementalBuild; the pages' cacheKeys come from CacheReader#pageKey):
//   node bench/incremental.ts --data DIR [--out FILE.md] [--page-size N] [--max-pages N|inf] [--keep-dist]
// Four real `astro build`s with bench/astro-site/astro.config.mjs (worker prerenderer, fragments on), one after
// the other in one Astro cache directory: (1) cold, incremental on: every page; (2) nothing changed; (3) one
// poem's text changed in poems.json (the integration converts again): the pages that show it; (4) a clean build of
// the changed data with incremental off: the reference. Reported: wall time of each whole `astro build`, pages
// rendered (the integration's own count), each build's time over the clean build's, and whether build 3's site
// equals build 4's (sha256 of every file). Every build converts its cache when its inputs changed (1, 3 and 4).
// --keep-dist: the incremental builds keep the previous dist/ (vite.build.emptyOutDir: false): Astro then leaves a
// skipped page's file in place instead of restoring it from its cache.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hashDist } from './lib/dist-hash.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const CONFIG = join(here, 'astro-site', 'astro.config.mjs');
const ASTRO = join(repo, 'node_modules', 'astro', 'bin', 'astro.mjs');
const LISTS = ['embeddings.json', 'similarity_rankings_cache.json', 'diversity_cache.json'];

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    out: { type: 'string' },
    'page-size': { type: 'string', default: '100' },
    'max-pages': { type: 'string', default: '1' },
    'keep-dist': { type: 'boolean', default: false },
    help: { type: 'boolean' },
  },
});
if (values.help || !values.data) {
  console.log(
    'Usage: node bench/incremental.ts --data DIR [--out FILE.md] [--page-size N] [--max-pages N|inf] [--keep-dist]',
  );
  process.exit(values.help ? 0 : 2);
}
const data = resolve(values.data);
const work = join(repo, 'bench', 'out', basename(data), 'incremental');
rmSync(work, { recursive: true, force: true });
const dataDir = join(work, 'data');
mkdirSync(dataDir, { recursive: true });
copyFileSync(join(data, 'poems.json'), join(dataDir, 'poems.json'));
for (const f of LISTS) symlinkSync(join(data, f), join(dataDir, f));

interface Step {
  name: string;
  wallMs: number;
  pages: number;
  site: string;
}

/** One `astro build` in its own process; the build statistics from the line bench/astro-site prints. */
function build(name: string, incremental: boolean): Step {
  const dir = join(work, incremental ? 'incremental' : name);
  const env = {
    ...process.env,
    POEM_BENCH_WORK: dir,
    POEM_BENCH_DATA: dataDir,
    POEM_BENCH_CACHE_FILE: join(dir, 'poems.cache'),
    POEM_BENCH_WORKERS: '2',
    POEM_BENCH_FRAGMENTS: '1',
    POEM_BENCH_INCREMENTAL: incremental ? '1' : '0',
    POEM_BENCH_KEEP_DIST: incremental && values['keep-dist'] ? '1' : '0',
    POEM_BENCH_PAGE_SIZE: values['page-size']!,
    POEM_BENCH_MAX_PAGES: values['max-pages']!,
    ASTRO_TELEMETRY_DISABLED: '1',
    NO_COLOR: '1',
  };
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [ASTRO, 'build', '--config', relative(repo, CONFIG)], {
    cwd: repo,
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const wallMs = performance.now() - t0;
  const log = `${r.stdout}\n${r.stderr}`;
  writeFileSync(join(work, `${name}.log`), log);
  if (r.status !== 0) throw new Error(`build "${name}" failed (exit ${r.status}); log in ${join(work, `${name}.log`)}`);
  const stats = /@@BUILD_STATS (.*)/.exec(log);
  if (!stats) throw new Error(`build "${name}" printed no @@BUILD_STATS line`);
  return {
    name,
    wallMs,
    pages: (JSON.parse(stats[1]) as { pages: number }).pages,
    site: hashDist(join(dir, 'dist')).hash,
  };
}

const load0 = loadavg()[0];
const steps: Step[] = [];
steps.push(build('cold', true));
steps.push(build('unchanged', true));
// One poem's text reversed (same length: its embedding's content_length still fits), in the middle of the file.
const poems = JSON.parse(readFileSync(join(dataDir, 'poems.json'), 'utf8')) as { poems: { content: string }[] };
const changed = Math.floor(poems.poems.length / 2);
poems.poems[changed].content = [...poems.poems[changed].content].reverse().join('');
writeFileSync(join(dataDir, 'poems.json'), JSON.stringify(poems));
steps.push(build('one poem changed', true));
const clean = build('clean (incremental off)', false);
steps.push(clean);
const identical = steps[2].site === clean.site;

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const lines = [
  `# Incremental rebuilds`,
  '',
  `Data: \`${data}\` (${poems.poems.length} poems; poem_index ${changed + 1} is the one changed). ` +
    `Node ${process.version}; 1-minute load average ${load0.toFixed(1)} at the start, ` +
    `${loadavg()[0].toFixed(1)} at the end. Page size ${values['page-size']}, max pages per poem ` +
    `${values['max-pages']}; 2 render threads, fragments on` +
    (values['keep-dist'] ? '; incremental builds keep dist/ (vite.build.emptyOutDir: false).' : '.'),
  '',
  '| build | whole `astro build` | pages rendered | time vs the clean build |',
  '|---|---:|---:|---:|',
  ...steps.map((b) => `| ${b.name} | ${s(b.wallMs)} | ${b.pages} | ${(b.wallMs / clean.wallMs).toFixed(2)} × |`),
  '',
  `The site after the one-poem rebuild ${identical ? 'is identical to' : '**differs from**'} the clean build's ` +
    '(sha256 of every file).',
];
console.log(lines.join('\n'));
if (values.out) writeFileSync(values.out, `${lines.join('\n')}\n`);
if (!identical) process.exit(1);
