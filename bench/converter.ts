// Converter benchmark: node bench/converter.ts --data DIR [--runs 3]
// Per input file, each measurement in its own child process (so peak RSS belongs to that measurement alone):
//   (a) readFileSync to a string + JSON.parse, the baseline the converter replaces;
//   (b) convertCaches of poems + that input alone, workers: 0;
//   (c) the whole `poem-cache convert` of all inputs with default workers, then `poem-cache verify`.
// Peak RSS comes from /usr/bin/time -v when present, else from the child's process.resourceUsage().maxRSS.
// Prints a markdown table of medians and writes it to --out (default bench/out/converter.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FILES } from '../scripts/pipeline/files.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const BIN = join(ROOT, 'bin', 'poem-cache.mjs');
const OUT_DIR = join(HERE, 'out');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const ROLES = ['poems', 'embeddings', 'similarity', 'diversity'] as const;
type Role = (typeof ROLES)[number];

interface Measure {
  ok: boolean;
  seconds: number;
  rssBytes: number;
  note?: string;
  mbPerSecond?: number;
  message?: string;
}

// ---- child side ----

async function child(args: string[]): Promise<void> {
  const [mode, ...rest] = args;
  const report = (r: Record<string, unknown>) => {
    process.stdout.write(`\n@@RESULT ${JSON.stringify({ ...r, maxRSSKiB: process.resourceUsage().maxRSS })}\n`);
  };
  if (mode === 'parse') {
    const [file] = rest;
    const t = performance.now();
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // V8's string limit (~512 MiB of characters): the file cannot be one JS string at all, so JSON.parse
      // never gets it. Reported with the time and memory it took to find out.
      if (code === 'ERR_STRING_TOO_LONG' || /string longer than/i.test((e as Error).message)) {
        report({
          ok: false,
          note: 'cannot: string limit',
          message: `${code ? `${code}: ` : ''}${(e as Error).message}`,
          seconds: (performance.now() - t) / 1000,
        });
        return;
      }
      throw e;
    }
    const value = JSON.parse(text);
    const seconds = (performance.now() - t) / 1000;
    report({ ok: true, seconds, keys: Object.keys(value).length });
  } else if (mode === 'convert') {
    const [role, file, poems, out] = rest as [Role, string, string, string];
    const { convertCaches } = await import('../converter/index.ts');
    const t = performance.now();
    const r = await convertCaches({
      poems,
      ...(role === 'poems' ? {} : { [role]: file }),
      out,
      force: true,
      workers: 0,
    });
    const seconds = (performance.now() - t) / 1000;
    const input = r.inputs.find((i) => i.role === role);
    report({ ok: true, seconds, mbPerSecond: input?.mbPerSecond, inputSeconds: input?.seconds });
  } else {
    throw new Error(`unknown child mode ${mode}`);
  }
}

// ---- parent side ----

/** Runs a command under /usr/bin/time -v (when present); returns wall seconds, peak RSS and the child's @@RESULT. */
function measure(argv: string[]): {
  code: number;
  wall: number;
  rssBytes: number;
  result?: Record<string, unknown>;
  stderr: string;
} {
  const cmd = TIME ? TIME : argv[0];
  const args = TIME ? ['-v', ...argv] : argv.slice(1);
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, cwd: ROOT });
  const wall = (performance.now() - t) / 1000;
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '');
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('@@RESULT '));
  const result = line ? (JSON.parse(line.slice(9)) as Record<string, unknown>) : undefined;
  const rssKiB = m ? Number(m[1]) : Number(result?.maxRSSKiB ?? 0);
  const exit = TIME ? /Exit status: (\d+)/.exec(r.stderr ?? '') : null;
  return {
    code: exit ? Number(exit[1]) : (r.status ?? -1),
    wall,
    rssBytes: rssKiB * 1024,
    result,
    stderr: r.stderr ?? '',
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mb = (n: number) => (n / 1e6).toFixed(1);
// The lines /usr/bin/time -v adds to a child's stderr (not the child's own error).
const TIME_LINE = new RegExp(
  '^\\s+(Command being timed|User time|System time|Percent|Elapsed|Average|Maximum|Major|Minor|Voluntary|' +
    'Involuntary|Swaps|File system|Socket|Signals|Page size|Exit status)',
);
const errLine = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.trim() && !TIME_LINE.test(l))
    .slice(-1)[0] ?? '';

function summarize(runs: Measure[]): Measure {
  const good = runs.filter((r) => r.ok);
  if (good.length === 0) {
    // Time and peak RSS until the failure, when the runs know them (the string limit: yes; a crash: RSS only).
    const known = (xs: number[]) => (xs.some(Number.isFinite) ? median(xs.filter(Number.isFinite)) : NaN);
    return {
      ok: false,
      seconds: known(runs.map((r) => r.seconds)),
      rssBytes: known(runs.map((r) => r.rssBytes)),
      note: runs[0]?.note ?? 'failed',
      message: runs[0]?.message,
    };
  }
  const rates = good.map((r) => r.mbPerSecond).filter((x): x is number => typeof x === 'number');
  return {
    ok: true,
    seconds: median(good.map((r) => r.seconds)),
    rssBytes: median(good.map((r) => r.rssBytes)),
    mbPerSecond: rates.length ? median(rates) : undefined,
    note: good.length < runs.length ? `${runs.length - good.length} of ${runs.length} runs failed` : undefined,
  };
}

async function parent(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      runs: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help || !values.data) {
    (values.help ? process.stdout : process.stderr).write(
      'Usage: node bench/converter.ts --data DIR [--runs 3] [--out FILE.md]\n',
    );
    return values.help ? 0 : 2;
  }
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write(`--runs must be a whole number >= 1, got ${values.runs}\n`);
    return 2;
  }
  const data = resolve(values.data);
  const files: Partial<Record<Role, string>> = {};
  for (const role of ROLES) {
    const f = join(data, FILES[role]);
    if (existsSync(f)) files[role] = f;
  }
  if (!files.poems) {
    process.stderr.write(
      `${join(data, FILES.poems)}: no such file ` +
        `(generate with node bench/generate.ts --size seed --out ${values.data})\n`,
    );
    return 1;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  const node = process.execPath;
  const self = fileURLToPath(import.meta.url);
  const tmpOut = join(OUT_DIR, `bench-${process.pid}.pcache`);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const loadBefore = loadavg()[0];
  log(
    `converter benchmark: ${data}, ${runs} run(s), ` +
      `peak RSS from ${TIME ? '/usr/bin/time -v' : 'process.resourceUsage().maxRSS'}`,
  );

  const rows: { role: Role; file: string; bytes: number; parse: Measure; convert: Measure }[] = [];
  for (const role of ROLES) {
    const file = files[role];
    if (!file) continue;
    const bytes = statSync(file).size;
    const parseRuns: Measure[] = [];
    const convertRuns: Measure[] = [];
    for (let i = 0; i < runs; i++) {
      const p = measure([node, self, '--child', 'parse', file]);
      const pr = p.result;
      parseRuns.push(
        pr
          ? {
              ok: Boolean(pr.ok),
              seconds: Number(pr.seconds),
              rssBytes: p.rssBytes,
              note: pr.note as string | undefined,
              message: pr.message as string | undefined,
              mbPerSecond: pr.ok ? bytes / 1e6 / Number(pr.seconds) : undefined,
            }
          : { ok: false, seconds: NaN, rssBytes: p.rssBytes, note: `failed: ${errLine(p.stderr)}` },
      );
      const parsed = pr?.ok
        ? `${Number(pr.seconds).toFixed(2)} s`
        : `${parseRuns.at(-1)!.note} after ${Number(pr?.seconds).toFixed(2)} s`;
      log(`  ${role} JSON.parse run ${i + 1}: ${parsed}, peak RSS ${mb(p.rssBytes)} MB`);
      const c = measure([node, self, '--child', 'convert', role, file, files.poems, tmpOut]);
      const cr = c.result;
      convertRuns.push(
        cr && c.code === 0
          ? { ok: true, seconds: Number(cr.seconds), rssBytes: c.rssBytes, mbPerSecond: Number(cr.mbPerSecond) }
          : { ok: false, seconds: NaN, rssBytes: c.rssBytes, note: `failed: ${errLine(c.stderr)}` },
      );
      const converted = convertRuns.at(-1)!.ok
        ? `${Number(cr!.seconds).toFixed(2)} s, ${Number(cr!.mbPerSecond).toFixed(1)} MB/s`
        : convertRuns.at(-1)!.note;
      log(`  ${role} convertCaches run ${i + 1}: ${converted}, peak RSS ${mb(c.rssBytes)} MB`);
    }
    rows.push({ role, file, bytes, parse: summarize(parseRuns), convert: summarize(convertRuns) });
  }

  const allArgs = ROLES.flatMap((r) => (files[r] ? [`--${r}`, files[r]!] : []));
  const wholeRuns: Measure[] = [];
  for (let i = 0; i < runs; i++) {
    const c = measure([node, BIN, 'convert', ...allArgs, '--out', tmpOut, '--force', '--quiet']);
    wholeRuns.push(
      c.code === 0
        ? { ok: true, seconds: c.wall, rssBytes: c.rssBytes }
        : { ok: false, seconds: NaN, rssBytes: c.rssBytes, note: `failed: ${errLine(c.stderr)}` },
    );
    log(
      `  poem-cache convert (all inputs) run ${i + 1}: ` +
        `${c.code === 0 ? `${c.wall.toFixed(2)} s` : wholeRuns.at(-1)!.note}, peak RSS ${mb(c.rssBytes)} MB`,
    );
  }
  const whole = summarize(wholeRuns);
  const outSize = existsSync(tmpOut) ? statSync(tmpOut).size : 0;
  const v = existsSync(tmpOut) ? measure([node, BIN, 'verify', tmpOut]) : undefined;
  const verified = v?.code === 0;
  log(
    `  poem-cache verify: ` +
      `${verified ? `OK in ${v!.wall.toFixed(2)} s` : `FAILED: ${v ? errLine(v.stderr) : 'no output file'}`}`,
  );
  rmSync(tmpOut, { force: true });

  const totalIn = rows.reduce((a, r) => a + r.bytes, 0);
  const cell = (m: Measure, f: (m: Measure) => string) => (m.ok ? f(m) : (m.note ?? 'failed'));
  const md: string[] = [];
  md.push(`# Converter benchmark`);
  md.push('');
  md.push(
    `Data: \`${data}\` (${mb(totalIn)} MB of JSON). ` +
      `Node ${process.versions.node}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM. ` +
      `Medians of ${runs} run(s); every measurement in its own process; ` +
      `peak RSS from ${TIME ? '`/usr/bin/time -v`' : '`process.resourceUsage().maxRSS`'}. ` +
      `1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end ` +
      `(other work on the machine slows every number).`,
  );
  md.push('');
  md.push(
    '| input | MB | JSON.parse s | JSON.parse MB/s | JSON.parse peak RSS MB |' +
      ' convertCaches alone s | input MB/s | convert peak RSS MB |',
  );
  md.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  // A failed JSON.parse shows how long it took to fail and its peak RSS until then.
  const failedAfter = (m: Measure) =>
    `${m.note ?? 'failed'}${Number.isFinite(m.seconds) ? ` (fails after ${m.seconds.toFixed(2)} s)` : ''}`;
  for (const r of rows) {
    md.push(
      `| ${r.role} (\`${FILES[r.role]}\`) | ${mb(r.bytes)} ` +
        `| ${r.parse.ok ? r.parse.seconds.toFixed(2) : failedAfter(r.parse)} ` +
        `| ${cell(r.parse, (m) => (m.mbPerSecond ?? 0).toFixed(1))} ` +
        `| ${Number.isFinite(r.parse.rssBytes) ? mb(r.parse.rssBytes) : '–'} ` +
        `| ${cell(r.convert, (m) => m.seconds.toFixed(2))} ` +
        `| ${cell(r.convert, (m) => (m.mbPerSecond ?? 0).toFixed(1))} ` +
        `| ${r.convert.ok ? mb(r.convert.rssBytes) : '–'} |`,
    );
  }
  md.push('');
  for (const r of rows.filter((x) => !x.parse.ok && x.parse.message)) {
    md.push(
      `JSON.parse of ${r.role} (${mb(r.bytes)} MB) cannot start: ` +
        `\`readFileSync(file, 'utf8')\` throws \`${r.parse.message}\` ` +
        `(V8's longest string is 2^29 - 24 characters, ~512 MiB), so the text never reaches JSON.parse; ` +
        `the peak RSS is the file read into a Buffer first.`,
    );
    md.push('');
  }
  md.push(
    '"convertCaches alone" converts poems plus that one input (poems: poems only) with `workers: 0`, ' +
      'writing a cache each time; "input MB/s" is the converter\'s own rate for that input.',
  );
  md.push('');
  md.push('| whole `poem-cache convert` (all inputs, default workers) | value |');
  md.push('|---|---:|');
  md.push(`| wall seconds (incl. process start) | ${cell(whole, (m) => m.seconds.toFixed(2))} |`);
  md.push(`| overall MB/s | ${cell(whole, (m) => (totalIn / 1e6 / m.seconds).toFixed(1))} |`);
  md.push(`| peak RSS MB | ${whole.ok ? mb(whole.rssBytes) : '–'} |`);
  md.push(`| cache size MB | ${outSize ? mb(outSize) : '–'} |`);
  md.push(`| \`poem-cache verify\` | ${verified ? `OK (${v!.wall.toFixed(2)} s)` : 'FAILED'} |`);
  md.push('');
  const text = md.join('\n');
  process.stdout.write(`${text}\n`);
  const outFile = values.out ? resolve(values.out) : join(OUT_DIR, 'converter.md');
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${text}\n`);
  log(`wrote ${outFile}`);
  return rows.every((r) => r.convert.ok) && whole.ok && verified ? 0 : 1;
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  child(args.slice(1)).catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
} else {
  parent(args).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`bench/converter.ts: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
