// Astro builds of the example site against a benchmark data set: Astro's own prerenderer vs the worker
// prerenderer with N workers vs the user's natural alternative (pages that import the JSON files directly).
//   node bench/astro-build.ts --data DIR [--runs N] [--variants own,w1,w2,w4,json] [--out FILE.md] …  (--help)
// Every build is a real `astro build` (node_modules/astro, on this Node) in its own child process, with
// bench/astro-site/astro.config.mjs: the example site's own pages (example-site/src) with poemCache() pointed
// at DIR, or for "json" the same pages with virtual:poem-cache aliased to bench/astro-site/json-cache.ts (the
// JSON files imported directly). Everything a build writes goes under
// bench/out/<data dir name>/astro-build/<variant>/ (removed before each build; the built site after hashing).
// The binary cache is converted once before the timed builds (every build then finds it fresh).
// Measured per build: wall time of the whole `astro build`; the page-generation phase (Astro's own
// prerenderer setup to "✓ Completed" after "generating static routes", from the arrival times of Astro's log
// lines); the time of the similar/different pages alone (arrival times of Astro's per-page lines, heavyMs()); peak
// total PSS of the build's process tree (every process descended from it, /proc/<pid>/smaps_rollup, sampled every
// --sample-ms); exit status, or how it failed.
// Correctness: the built site of every successful prerenderer variant must be byte-identical to Astro's own
// (sha256 of every file) — else exit 1. The json variant's site is compared too (reported, not required).
import { spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCacheMeta } from '../converter/index.ts';
import { type Dist, hashDist } from './lib/dist-hash.ts';
import { fmtMB, median, memoryOf } from './lib/pss.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const CONFIG = join(here, 'astro-site', 'astro.config.mjs');
const ASTRO = join(repo, 'node_modules', 'astro', 'bin', 'astro.mjs');
const FILES = {
  poems: 'poems.json',
  embeddings: 'embeddings.json',
  similarity: 'similarity_rankings_cache.json',
  diversity: 'diversity_cache.json',
} as const;
/** Data sets with fewer poems get the quick defaults (the CI smoke run). */
const QUICK_BELOW = 1000;

const usage = `Usage: node bench/astro-build.ts --data DIR [options]
  --data DIR          data set (poems.json, embeddings.json, similarity_rankings_cache.json, diversity_cache.json)
  --runs N            builds per variant, variants interleaved within a run; medians reported (default 1)
  --variants LIST     own (Astro's prerenderer, workers: 0), wN (worker prerenderer, N workers), json (pages
                      import the JSON files; no poemCache) (default own,w1,w2,w4,json). own and wN have
                      fragments: false; ownf / wNf turn <Reuse> fragments on (shared store; wNf-thread,
                      wNf-strings: the designs it was measured against)
  --page-size N       poemCache pageSize (default 100; 20 for data sets under ${QUICK_BELOW} poems)
  --max-pages N|inf   poemCache maxPagesPerPoem (default 1: one similar and one different page per poem)
  --timeout-min M     a build still running after M minutes is killed and reported as a timeout (default 15)
  --mem-limit-mb MB   a build whose process tree exceeds MB of PSS is killed and reported (default 60% of
                      MemAvailable at start)
  --sample-ms MS      memory sampling interval (default 50; PSS itself each second and when RSS grew 5 %, see PeakPss)
  --cache FILE        the binary cache to convert (when stale) and build from (default <work>/poems.cache)
  --work DIR          where builds write (default bench/out/<data dir name>/astro-build)
  --keep-dist         keep every variant's built site (default: moved aside after hashing, removed when all
                      builds are done: a deletion of thousands of files slows the next build's file creation)
  --out FILE.md       also write the markdown table to FILE.md
  -h, --help
Exit: 0 ok, 1 a prerenderer variant failed or built a site that differs from Astro's own, 2 usage.
`;

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    runs: { type: 'string', default: '1' },
    variants: { type: 'string', default: 'own,w1,w2,w4,json' },
    'page-size': { type: 'string' },
    'max-pages': { type: 'string', default: '1' },
    'timeout-min': { type: 'string', default: '15' },
    'mem-limit-mb': { type: 'string' },
    'sample-ms': { type: 'string', default: '50' },
    work: { type: 'string' },
    cache: { type: 'string' },
    'keep-dist': { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const fail = (m: string): never => {
  process.stderr.write(`astro-build: ${m}\n${usage}`);
  process.exit(2);
};

interface Variant {
  name: string;
  kind: 'own' | 'workers' | 'json';
  workers: number;
  /** <Reuse> fragments on, and the store (POEM_BENCH_FRAGMENT_STORE); off: every use rendered in place. */
  fragments?: 'thread' | 'shared' | 'strings';
  describe: string;
}
function parseVariant(v: string): Variant {
  if (v === 'json')
    return { name: v, kind: 'json', workers: 0, describe: 'pages import the JSON files (no poemCache)' };
  const m = /^(?:own|w([1-9]\d*))(?:(f)(?:-(thread|shared|strings))?)?$/.exec(v);
  if (!m) return fail(`unknown variant ${JSON.stringify(v)}`);
  const fragments = m[2] ? ((m[3] ?? 'shared') as Variant['fragments']) : undefined;
  const with_ = fragments ? `, fragments (${fragments} store)` : ', `fragments: false`';
  if (!m[1])
    return {
      name: v,
      kind: 'own',
      workers: 0,
      fragments,
      describe: `Astro's own prerenderer (\`workers: 0\`${with_})`,
    };
  return {
    name: v,
    kind: 'workers',
    workers: Number(m[1]),
    fragments,
    describe: `worker prerenderer, \`workers: ${m[1]}\`${with_}`,
  };
}

if (!values.data) fail('--data is required');
const data = resolve(values.data!);
for (const f of Object.values(FILES))
  if (!existsSync(join(data, f)))
    fail(`${join(data, f)} is missing (node bench/generate.ts --size small|seed|tang --out DIR)`);
const runs = Number(values.runs);
if (!(Number.isInteger(runs) && runs >= 1)) fail('--runs must be an integer >= 1');
const variants = [
  ...new Set(
    values
      .variants!.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ),
].map(parseVariant);
if (!variants.length) fail('--variants is empty');
const positive = (name: string, v: string | undefined, allowInf = false): number | undefined => {
  if (v === undefined) return undefined;
  if (allowInf && v === 'inf') return Infinity;
  const n = Number(v);
  if (!(n > 0 && Number.isFinite(n)))
    fail(`--${name} must be a positive number${allowInf ? ' or inf' : ''}, got ${JSON.stringify(v)}`);
  return n;
};
const maxPages = positive('max-pages', values['max-pages'], true)!;
if (maxPages !== Infinity && !Number.isInteger(maxPages)) fail('--max-pages must be an integer or inf');
const timeoutMs = positive('timeout-min', values['timeout-min'])! * 60_000;
const sampleMs = positive('sample-ms', values['sample-ms'])!;
const work = resolve(values.work ?? join(here, 'out', basename(data), 'astro-build'));
mkdirSync(work, { recursive: true });
const rel = (p: string) => (p.startsWith(repo + '/') ? p.slice(repo.length + 1) : p);

function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : totalmem();
}
// Other work shares the machine: a build (the json variant) may take most, not all, of the free memory.
const memLimit = (positive('mem-limit-mb', values['mem-limit-mb']) ?? (memAvailable() * 0.6) / 2 ** 20) * 2 ** 20;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
const loadStart = load();

// ---------------------------------------------------------------- the binary cache, converted once

const cacheFile = resolve(values.cache ?? join(work, 'poems.cache'));
const convertArgs = [
  join(repo, 'bin', 'poem-cache.mjs'),
  'convert',
  '--out',
  cacheFile,
  ...(['poems', 'embeddings', 'similarity', 'diversity'] as const).flatMap((k) => [`--${k}`, join(data, FILES[k])]),
];
const needsCache = variants.some((v) => v.kind !== 'json');
let conversion = 'not needed (json variant only)';
if (needsCache) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, convertArgs, { cwd: repo, encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    console.error(`astro-build: converting ${data} failed (exit ${r.status})`);
    process.exit(1);
  }
  const first = r.stdout.trim().split('\n')[0] ?? '';
  conversion = /up to date/.test(first)
    ? `already up to date (checked in ${s.toFixed(1)} s)`
    : `converted in ${s.toFixed(1)} s`;
  console.error(`astro-build: cache ${rel(cacheFile)}: ${conversion}`);
}
const meta = needsCache ? await readCacheMeta(cacheFile) : undefined;
const poemCount =
  meta?.rows ?? (JSON.parse(readFileSync(join(data, FILES.poems), 'utf8')) as { poems: unknown[] }).poems.length;
const pageSize = positive('page-size', values['page-size']) ?? (poemCount < QUICK_BELOW ? 20 : 100);
if (!Number.isInteger(pageSize)) fail('--page-size must be an integer');
const jsonBytes = Object.values(FILES).reduce((s, f) => s + statSync(join(data, f)).size, 0);

// ---------------------------------------------------------------- one build

interface Build {
  variant: string;
  run: number;
  ok: boolean;
  wallMs: number;
  peakPss: number;
  exit: string;
  /** Page generation: from "Rearranging server assets" (just before the prerenderer's setup) to the "✓ Completed"
   * after "generating static routes", by arrival time of those lines (ms precision for every variant; Astro prints
   * its own figure in whole seconds above a minute). */
  renderMs?: number;
  /** Astro's own figure for that phase, as printed (from just before setup). */
  astroRenderMs?: number;
  /** CPU time while rendering (the integration's log: main thread, and all worker threads together), ms. */
  cpuMainMs?: number;
  cpuWorkersMs?: number;
  /** The similar and different pages alone (see heavyMs). */
  heavyMs?: number;
  pages?: number;
  /** What the integration said about the prerenderer (workers variants must say they rendered in workers). */
  mode?: string;
  error?: string;
  /** Failed builds: PSS growth over their last 10 s, in bytes per second. */
  growth?: number;
  dist?: Dist;
}
function envFor(v: Variant, dir: string): Record<string, string> {
  return {
    POEM_BENCH_WORK: dir,
    POEM_BENCH_DATA: data,
    POEM_BENCH_VARIANT: v.kind === 'json' ? 'json' : 'cache',
    ...(v.kind === 'json'
      ? {}
      : {
          POEM_BENCH_CACHE_FILE: cacheFile,
          POEM_BENCH_WORKERS: String(v.workers),
          POEM_BENCH_FRAGMENTS: v.fragments ? '1' : '0',
        }),
    ...(v.fragments ? { POEM_BENCH_FRAGMENT_STORE: v.fragments } : {}),
    POEM_BENCH_PAGE_SIZE: String(pageSize),
    POEM_BENCH_MAX_PAGES: maxPages === Infinity ? 'inf' : String(maxPages),
  };
}
const commandOf = (v: Variant) =>
  `${Object.entries(envFor(v, join(work, v.name)))
    .map(([k, x]) => `${k}=${rel(x)}`)
    .join(' ')} node ${rel(ASTRO)} build --config ${rel(CONFIG)}`;

/** Every process of the tree rooted at pid (children of every thread, recursively). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' '))
          if (c.trim()) out.push(Number(c));
      } catch {
        /* exited */
      }
    }
  }
  return out;
}
/** Sum over the tree of VmRSS (cheap: a counter) and, when asked, of smaps_rollup Pss (a page-table walk: ~15 ms
 * for a 500 MB Node process, more for bigger ones). */
function treeMemory(pid: number, withPss: boolean): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const p of processTree(pid)) {
    try {
      rss += Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024;
      if (withPss) pss += memoryOf(p).pss;
    } catch {
      /* exited between listing and reading */
    }
  }
  return { rss, pss };
}

/**
 * Peak PSS of a process tree without walking its page tables every few ms (on 2 cores that walk would take a
 * good share of the CPU the build is measured with): RSS is read every tick; PSS (smaps_rollup) every
 * PSS_EVERY_MS, and sooner when RSS grew by 5 % since the last PSS reading. Between PSS readings the tick's
 * estimate is RSS minus (RSS − PSS) of the last reading — that difference is the part of shared pages (Node's
 * binary and libraries) charged to other processes, which changes slowly. peak = max of readings and estimates.
 */
const PSS_EVERY_MS = 1000;
class PeakPss {
  peak = 0;
  readings = 0;
  private trace: [number, number][] = []; // [ms, PSS] about once a second
  /** PSS growth over the last ~10 s of the trace, bytes per second. */
  growth(): number | undefined {
    const end = this.trace[this.trace.length - 1];
    const start = this.trace.find(([t]) => t >= end[0] - 10_000);
    return end && start && end[0] - start[0] >= 2000 ? ((end[1] - start[1]) * 1000) / (end[0] - start[0]) : undefined;
  }
  private last?: { t: number; rss: number; pss: number };
  tick(pid: number): number {
    const now = performance.now();
    const last = this.last;
    let current: number;
    const rss = last && now - last.t < PSS_EVERY_MS ? treeMemory(pid, false).rss : Infinity;
    if (last && (rss <= last.rss * 1.05 || now - last.t < 200)) {
      current = Math.max(0, rss - (last.rss - last.pss));
    } else {
      const m = treeMemory(pid, true);
      if (m.rss > 0) {
        this.last = { t: now, ...m };
        this.readings++;
      }
      current = m.pss;
    }
    this.peak = Math.max(this.peak, current);
    const lastTrace = this.trace[this.trace.length - 1];
    if (!lastTrace || now - lastTrace[0] >= 1000) this.trace.push([now, current]);
    return current;
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes start with ESC (\x1b)
const ANSI = /\x1b\[[0-9;]*m/g;
const PAGE_LINE = /├─ \/([^/\s]*)/g;

/** "4.59s" / "580ms" / "1m 3s" (Astro's getTimeStat) → ms. */
function parseTimeStat(s: string): number | undefined {
  let m = /^([\d.]+)ms$/.exec(s);
  if (m) return Number(m[1]);
  m = /^([\d.]+)s$/.exec(s);
  if (m) return Number(m[1]) * 1000;
  m = /^(\d+)m\s*([\d.]+)s$/.exec(s);
  if (m) return Number(m[1]) * 60_000 + Number(m[2]) * 1000;
  return undefined;
}

/**
 * Time of the similar/different pages alone. Astro generates paths route by route (here: different, poem,
 * similar, index) and prints "├─ /<path>" when it starts a page; a page's route is its first path segment.
 * A route's segment runs from the arrival of its first line to the arrival of the next route's first line
 * (the last one to the "✓ Completed" line). With pages in flight (build.concurrency) a few pages of one route
 * finish inside the next segment: negligible against thousands of pages. stdout is a pipe (synchronous writes
 * in Node on Linux), so arrival times are the child's write times to within the sampling loop's latency.
 */
function heavyMs(firstSeen: Map<string, number>, end: number): number | undefined {
  const segs = [...firstSeen.entries()].sort((a, b) => a[1] - b[1]);
  let sum = 0;
  let found = false;
  segs.forEach(([route, t], i) => {
    if (route !== 'similar' && route !== 'different') return;
    found = true;
    sum += (i + 1 < segs.length ? segs[i + 1][1] : end) - t;
  });
  return found ? sum : undefined;
}

/** The first line that says what went wrong, with the few lines that explain it (up to a stack trace). */
function firstErrorLine(log: string): string | undefined {
  const lines = log
    .replace(ANSI, '')
    .split('\n')
    .map((l) => l.trim().replace(/^\d\d:\d\d:\d\d\s+/, ''))
    .filter(Boolean);
  const quiet = (l: string) => /^\[(WARN|INFO|DEBUG)\]|\bwarn\b|^Error reference/i.test(l);
  let i = lines.findIndex(
    (l) =>
      !quiet(l) &&
      /^\[ERROR\]|^\[[A-Z][A-Za-z]+\] |^\w*Error:|FATAL ERROR|Invalid string length|out of memory|ERR_[A-Z_]+/.test(l),
  );
  if (i < 0) i = lines.findIndex((l) => !quiet(l) && /error/i.test(l));
  if (i < 0) return undefined;
  const more = [];
  for (const l of lines.slice(i + 1, i + 4)) {
    if (/^(Stack|at |\d+:|Location:|Error reference)/.test(l)) break;
    more.push(l);
  }
  return [lines[i], ...more].join(' — ').slice(0, 300);
}

/** Time the bench spends reading /proc (it shares the cores with the build). */
const sampling = { ms: 0, n: 0 };
let current: number | undefined; // process group of the build in progress (ended on SIGINT/SIGTERM)
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (current !== undefined)
      try {
        process.kill(-current, 'SIGKILL');
      } catch {
        /* gone */
      }
    process.exit(130);
  });
}

/**
 * Where earlier builds' files go until the end of the run. ext4 without a journal (this machine's) skips
 * inodes freed in the last minute or so when it allocates new ones, scanning inode-table blocks for each:
 * deleting a site of thousands of files and then building the next made its file creation cost several
 * seconds of kernel time inside the measured render. Renaming is O(1); the trash goes when all builds are done.
 */
const trash = join(work, '.trash');
let trashed = 0;
function discard(path: string): void {
  if (!existsSync(path)) return;
  mkdirSync(trash, { recursive: true });
  renameSync(path, join(trash, String(trashed++)));
}

async function build(v: Variant, run: number): Promise<Build> {
  const dir = join(work, v.name);
  discard(dir);
  mkdirSync(dir, { recursive: true });
  const logFile = join(work, `${v.name}.run${run}.log`);
  const logStream = createWriteStream(logFile);
  const LOG_CAP = 32 << 20; // an error may print a code frame of a huge module: keep the first 32 MB
  let logged = 0;
  let log = '';
  let carry = '';
  const firstSeen = new Map<string, number>();
  let tCompleted: number | undefined;
  let tRearranging: number | undefined;
  let tGenerating: number | undefined;

  const t0 = performance.now();
  // --config relative to the working directory: Astro resolves it against its root (the cwd), even when absolute.
  const cp = spawn(process.execPath, [ASTRO, 'build', '--config', relative(repo, CONFIG)], {
    cwd: repo,
    detached: true, // own process group: a timeout ends the whole tree
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...envFor(v, dir), ASTRO_TELEMETRY_DISABLED: '1', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  current = cp.pid;
  const onData = (b: Buffer) => {
    const now = performance.now();
    const text = b.toString('utf8');
    if (logged < LOG_CAP) {
      const part = text.slice(0, LOG_CAP - logged);
      logStream.write(part);
      log += part;
      logged += part.length;
    }
    const scan = (carry + text).replace(ANSI, '');
    if (tRearranging === undefined && scan.includes('Rearranging server assets')) tRearranging = now;
    if (tGenerating === undefined && scan.includes('generating static routes')) tGenerating = now;
    if (tGenerating !== undefined) {
      for (const m of scan.matchAll(PAGE_LINE)) if (!firstSeen.has(m[1])) firstSeen.set(m[1], now);
      if (tCompleted === undefined && firstSeen.size && /✓ Completed in/.test(scan.slice(scan.lastIndexOf('├─') + 1)))
        tCompleted = now;
    }
    carry = text.slice(-200);
  };
  cp.stdout.on('data', onData);
  cp.stderr.on('data', onData);

  const mem = new PeakPss();
  let killed: string | undefined;
  const kill = (why: string) => {
    if (killed) return;
    killed = why;
    try {
      process.kill(-cp.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const sample = () => {
    const ts = performance.now();
    const pss = mem.tick(cp.pid!);
    sampling.ms += performance.now() - ts;
    sampling.n++;
    if (pss > memLimit)
      kill(`killed by the bench's memory guard at ${fmtMB(pss)} PSS (limit ${fmtMB(memLimit)}, --mem-limit-mb)`);
    if (performance.now() - t0 > timeoutMs) kill(`timeout: killed after ${(timeoutMs / 60_000).toFixed(0)} min`);
  };
  const timer = setInterval(sample, sampleMs);
  sample();
  // after 'exit', once stdout/stderr are drained
  const closed = new Promise<void>((res) => cp.on('close', () => res()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) =>
    cp.on('exit', (c, s) => res([c, s])),
  );
  const wallMs = performance.now() - t0;
  clearInterval(timer);
  try {
    process.kill(-cp.pid!, 'SIGKILL');
  } catch {
    /* the group is gone, as it should be */
  }
  current = undefined;
  await closed;
  await new Promise<void>((res) => logStream.end(() => res()));

  const clean = log.replace(ANSI, '');
  const after = clean.slice(clean.indexOf('generating static routes'));
  const completed = clean.includes('generating static routes')
    ? /✓ Completed in ([^.\n]+(?:\.\d+)?[a-z]*)\./.exec(after)
    : null;
  const astroRenderMs = completed ? parseTimeStat(completed[1].trim()) : undefined;
  const renderMs =
    tCompleted !== undefined && tGenerating !== undefined ? tCompleted - (tRearranging ?? tGenerating) : undefined;
  const pages = Number(/(\d+) page\(s\) built in/.exec(clean)?.[1]) || undefined;
  // the integration's statistics, printed as one line by bench/astro-site/astro.config.mjs
  const statsLine = /@@BUILD_STATS (\{[^\n]*\})/.exec(clean);
  const stats = statsLine
    ? (JSON.parse(statsLine[1]) as {
        mode: string;
        workers: number;
        fallbackReason?: string;
        mainCpuMs?: number;
        workerCpuMs?: Record<string, number>;
      })
    : undefined;
  const cpuMainMs = stats?.mainCpuMs;
  const cpuWorkersMs = stats?.workerCpuMs
    ? Object.values(stats.workerCpuMs).reduce((a, ms) => a + ms, 0)
    : stats?.mainCpuMs !== undefined
      ? 0
      : undefined;
  const mode =
    stats?.mode === 'workers'
      ? `rendering pages in ${stats.workers} worker thread(s)`
      : stats?.fallbackReason
        ? `FELL BACK to Astro's prerenderer (${stats.fallbackReason})`
        : undefined;
  const exit =
    killed ?? (signal ? `signal ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `exit ${code}`);
  const r: Build = {
    variant: v.name,
    run,
    ok: !killed && code === 0,
    wallMs,
    peakPss: mem.peak,
    exit,
    renderMs,
    astroRenderMs,
    cpuMainMs,
    cpuWorkersMs,
    pages,
    mode,
  };
  if (r.ok && tCompleted !== undefined) r.heavyMs = heavyMs(firstSeen, tCompleted);
  if (!r.ok) {
    // The phase it was in: the last line that is not a page or a warning.
    const last = clean
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.includes('├─') && !/\bwarn\b/.test(l) && !/^\(\+/.test(l))
      .slice(-1)[0];
    r.error = (killed ? undefined : firstErrorLine(log)) ?? (last ? `last output: ${last.slice(0, 300)}` : undefined);
    if (killed) r.growth = mem.growth();
  }
  if (r.ok && v.kind === 'workers' && !/rendering pages in/.test(mode ?? '')) {
    r.ok = false;
    r.error = `the worker prerenderer did not render: ${mode ?? 'no "rendering pages in" line'}`;
  }
  if (code === 0) {
    const distDir = join(dir, 'dist');
    if (existsSync(distDir)) r.dist = hashDist(distDir);
    if (!values['keep-dist']) discard(distDir);
  }
  return r;
}

// ---------------------------------------------------------------- runs

const builds: Build[] = [];
const gaveUp = new Map<string, string>();
const s1 = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)} s`);
console.error(
  `astro-build: ${variants.length} variant(s) x ${runs} run(s), ${poemCount} poems, ` +
    `pageSize ${pageSize}, maxPagesPerPoem ${maxPages}; load ${loadStart}`,
);
for (let run = 1; run <= runs; run++) {
  for (const v of variants) {
    if (gaveUp.has(v.name)) continue;
    const b = await build(v, run);
    builds.push(b);
    console.error(
      `astro-build run ${run} ${v.name}: ${b.ok ? 'ok' : 'FAILED'}, wall ${s1(b.wallMs)}, render ${s1(b.renderMs)} ` +
        `(Astro: ${s1(b.astroRenderMs)}), similar+different ${s1(b.heavyMs)}, peak PSS ${fmtMB(b.peakPss)}, ${b.exit}` +
        `${b.pages ? `, ${b.pages} pages` : ''}${b.error ? ` — ${b.error}` : ''} (load ${load()})`,
    );
    // A variant that fails is not rebuilt in later runs (the JSON variant can take its whole timeout).
    if (!b.ok) gaveUp.set(v.name, `failed in run ${run}; not repeated`);
  }
}
const loadEnd = load();
rmSync(trash, { recursive: true, force: true });

// ---------------------------------------------------------------- correctness

// The reference is Astro's own build of the same run; without the own variant, the first successful prerenderer build.
const problems: string[] = [];
const compare = (a: Dist, b: Dist): string => {
  if (a.hash === b.hash) return 'identical';
  const differ = [...new Set([...a.files.keys(), ...b.files.keys()])].filter((p) => a.files.get(p) !== b.files.get(p));
  return `DIFFERS: ${differ.length} file(s), first ${differ.sort()[0]}`;
};
const verdict = new Map<Build, string>();
for (let run = 1; run <= runs; run++) {
  const mine = builds.filter((b) => b.run === run);
  const ref =
    mine.find((b) => b.variant === 'own' && b.dist) ??
    mine.find((b) => b.variant !== 'json' && b.ok && b.dist) ??
    builds.find((b) => b.variant === 'own' && b.dist);
  for (const b of mine) {
    if (!b.dist) continue;
    if (!ref?.dist || ref === b) {
      verdict.set(b, ref === b ? (b.variant === 'own' ? 'reference' : 'reference (no own build)') : 'no reference');
      continue;
    }
    const c = compare(ref.dist, b.dist);
    verdict.set(b, c === 'identical' ? `identical to ${ref.variant}` : c);
    if (c !== 'identical' && b.variant !== 'json')
      problems.push(`run ${run} ${b.variant}: built site ${c} (vs ${ref.variant})`);
  }
}
for (const b of builds)
  if (!b.ok && b.variant !== 'json') problems.push(`run ${b.run} ${b.variant}: ${b.exit}: ${b.error ?? ''}`);

// ---------------------------------------------------------------- table

const okOf = (name: string) => builds.filter((b) => b.variant === name && b.ok);
const med = (name: string, f: (b: Build) => number | undefined): number | undefined => {
  const xs = okOf(name)
    .map(f)
    .filter((x): x is number => x !== undefined);
  return xs.length ? median(xs) : undefined;
};
const secs = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
const all = (name: string, f: (b: Build) => number | undefined, fmt: (x: number) => string) =>
  runs > 1
    ? ` (${okOf(name)
        .map(f)
        .map((x) => (x === undefined ? '–' : fmt(x)))
        .join(', ')})`
    : '';
const tenths = (ms: number) => (ms / 1000).toFixed(1);
const mbNumber = (bytes: number) => fmtMB(bytes).replace(' MB', '');
const ownRender = med('own', (b) => b.renderMs);
const ownHeavy = med('own', (b) => b.heavyMs);
const ratio = (own: number | undefined, x: number | undefined) => (own && x ? `${(own / x).toFixed(2)} ×` : '–');
const distOf = builds.find((b) => b.dist)?.dist;
const pagesSeen = builds.find((b) => b.pages)?.pages;
const rows = variants.map((v) => {
  const ok = okOf(v.name);
  const tried = builds.filter((b) => b.variant === v.name);
  const failed = tried.filter((b) => !b.ok);
  if (!ok.length) {
    const f = failed[0];
    const growth = f?.growth !== undefined ? `; PSS was growing ${fmtMB(f.growth)}/s` : '';
    return (
      `| ${v.name}: ${v.describe} | **failed** after ${secs(f?.wallMs)}: ${f?.exit ?? 'not run'}` +
      `${f?.error ? ` — \`${f.error.replace(/\|/g, '\\|').replace(/`/g, "'")}\`` : ''}${growth}` +
      ` | | | | | ${f ? fmtMB(f.peakPss) : '–'} | ${f?.pages ?? '–'} | – |`
    );
  }
  const checks = [...new Set(ok.map((b) => verdict.get(b) ?? '–'))].join('; ');
  const note = failed.length ? ` (${failed.length} of ${tried.length} runs failed: ${failed[0].exit})` : '';
  const wall = med(v.name, (b) => b.wallMs);
  const render = med(v.name, (b) => b.renderMs);
  const heavy = med(v.name, (b) => b.heavyMs);
  const pss = med(v.name, (b) => b.peakPss);
  const cpuMain = med(v.name, (b) => b.cpuMainMs);
  const cpuWorkers = med(v.name, (b) => b.cpuWorkersMs);
  const cpu =
    cpuMain === undefined
      ? '–'
      : `${(cpuMain / 1000).toFixed(1)}${v.kind === 'workers' ? ` + ${((cpuWorkers ?? 0) / 1000).toFixed(1)}` : ''} s`;
  return (
    `| ${v.name}: ${v.describe}${note}` +
    ` | ${secs(wall)}${all(v.name, (b) => b.wallMs, tenths)}` +
    ` | ${secs(render)}${all(v.name, (b) => b.renderMs, tenths)}` +
    ` | ${secs(heavy)}${all(v.name, (b) => b.heavyMs, tenths)}` +
    ` | ${v.name === 'own' ? '1 × (reference)' : `${ratio(ownRender, render)} / ${ratio(ownHeavy, heavy)}`}` +
    ` | ${cpu} | ${pss === undefined ? '–' : fmtMB(pss)}${all(v.name, (b) => b.peakPss, mbNumber)}` +
    ` | ${ok[0].pages ?? '–'} | ${checks} |`
  );
});
const poemPages = poemCount;
const heavyPages = distOf ? distOf.heavyFiles : undefined;
const heavyText =
  heavyPages !== undefined
    ? `${heavyPages.toLocaleString('en')} similar/different pages ` +
      `(${(distOf!.heavyBytes / distOf!.heavyFiles / 1024).toFixed(0)} KB each on average) + `
    : '';
const table = [
  `Astro builds of the example site's pages (example-site/src) against ${rel(data)}: ` +
    `${poemCount.toLocaleString('en')} poems, ${fmtMB(jsonBytes)} of JSON; ` +
    `poemCache pageSize ${pageSize}, maxPagesPerPoem ${maxPages === Infinity ? '∞' : maxPages}: ` +
    `${pagesSeen?.toLocaleString('en') ?? '?'} pages = ` +
    heavyText +
    `${poemPages.toLocaleString('en')} poem pages + the index${distOf ? ` (${fmtMB(distOf.bytes)} of HTML)` : ''}.`,
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ` +
    `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.version}, ` +
    `Astro ${JSON.parse(readFileSync(join(repo, 'node_modules', 'astro', 'package.json'), 'utf8')).version}. ` +
    `Load average (1/5/15 min) at start ${loadStart}, at end ${loadEnd}.`,
  `${runs} run(s), variants interleaved within each run; ` +
    `figures are medians${runs > 1 ? ' (every run in parentheses)' : ''}. ` +
    `A variant that fails is not repeated.`,
  needsCache
    ? `Binary cache ${rel(cacheFile)}${meta ? ` (${fmtMB(meta.size)})` : ''}: ${conversion} before the timed builds ` +
      `(\`node ${convertArgs.map(rel).join(' ')}\`); every build found it fresh.`
    : 'No binary cache (json variant only).',
  'Build = the whole `astro build` (child process start to exit). ' +
    'Render = page generation, prerenderer setup included: ' +
    'from Astro\'s "Rearranging server assets" line to the "✓ Completed" after "generating static routes" ' +
    '(arrival times of the lines). ' +
    'Similar+different = that phase for those two routes only ' +
    "(from the arrival times of Astro's per-page log lines). " +
    "vs own = Astro's own time / this time (render / similar+different). " +
    "Render CPU = the integration's CPU time while rendering (its build statistics): " +
    'main thread (+ all worker threads); ' +
    'unlike wall times it does not depend on other load on the machine. ' +
    `Peak PSS = peak of the sum over the build's process tree of /proc/<pid>/smaps_rollup Pss, ` +
    `read every ${PSS_EVERY_MS} ms and whenever RSS grew 5 %, ` +
    `with RSS read every ${sampleMs} ms in between (minus RSS − PSS of the last reading); ` +
    `the bench spent ${sampling.n ? ((100 * sampling.ms) / sampling.n / sampleMs).toFixed(1) : '?'} ` +
    `% of one core on it. ` +
    "Site = sha256 of every built file compared with Astro's own build of the same run.",
  '',
  '| variant | build | render | similar+different | vs own (render / s+d) | render CPU | peak PSS | pages | site |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  'Commands (from the repository root, with `PATH=node_modules/.bin:$PATH`; ' +
    '`bench/astro-build.ts` sets these variables):',
  '',
  ...variants.map((v) => `- ${v.name}: \`${commandOf(v)}\``),
  ...(problems.length ? ['', `**Problems:** ${problems.join('; ')}`] : []),
].join('\n');
console.log(table);
if (values.out) {
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  writeFileSync(values.out, table + '\n');
  console.error(`\nwrote ${values.out}`);
}
if (problems.length) {
  console.error(`astro-build: ${problems.join('\nastro-build: ')}`);
  process.exitCode = 1;
}
