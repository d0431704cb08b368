// poem-cache: convert the pipeline's JSON caches to one binary cache, and inspect, verify and query it.
// No CLI framework: node:util parseArgs. Exit codes: 0 ok, 1 failure (bad data, missing file, verify
// problems), 2 usage (unknown command or flag, missing required flag). Errors go to stderr, one line each.
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { crc32 } from 'node:zlib';
import { FIELD_PREFIX, FieldTag, IDS_DENSE_INDEX, IDS_REPEATED, RAGGED_HAS_SCORES, SectionKind, SectionName } from '../cache/layout.ts';
import { CacheFormatError, parseCache, sectionChecksumOk, type ParsedCache, type SectionInfo } from '../cache/validate.ts';
import type { ConvertOptions, ConvertResult } from './index.ts';
import { DEFAULT_FIELDS, fieldPathProblem } from './fields.ts';
import { KEY_MODES, type KeyMode } from './identity.ts';
import { KEYED_ROLES, type InputRole, type KeyedRole } from './roles.ts';

// The converter library is loaded on demand: inspect, verify and query never load it (nor its workers).
type Progress = Parameters<NonNullable<ConvertOptions['onProgress']>>[0];
const loadConverter = () => import('./index.ts');

// ---- I/O ----

export interface Writable { write(s: string): unknown }
export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr (where progress goes) is a terminal: one updating line instead of a line every ~2 s. */
  isTTY?: boolean;
}

const processIO = (): CliIO => ({ stdout: process.stdout, stderr: process.stderr, isTTY: Boolean(process.stderr.isTTY) });

/** Exit 2: the command line is wrong. */
class UsageError extends Error {
  command?: string;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}
/** Exit 1: the data or a file is wrong; the message names the file. */
class Failure extends Error {}

const PROG = 'poem-cache';

const HELP: Record<string, string> = {
  global: `Usage: ${PROG} <command> [options]

Commands:
  convert   convert the pipeline's JSON caches into one binary cache file
  inspect   print a cache file's header, sections, counts and metadata
  verify    check a cache file: structure, section checksums, references, strings, numbers
  query     print one poem's title, most similar poems and diversity sequence

Options:
  -h, --help      help (also: ${PROG} <command> --help)
  -v, --version   print the version

Exit codes: 0 ok, 1 failure (bad data, missing file, verify problems), 2 usage error.
`,
  convert: `Usage: ${PROG} convert --poems FILE --out FILE [options]

Converts poems.json plus any of embeddings.json, similarity_rankings_cache.json and diversity_cache.json
into one binary cache. Skips the work ("up to date") when the output was built from the same inputs.

Options:
  --poems FILE        poems.json: {"poems":[{"id","content","category","filepath","metadata":{...}}]} (required);
                      a poem is its position: poem_index 1, 2, ... (ids may repeat across categories)
  --embeddings FILE   embeddings.json: {"metadata":{"embedding_dimension"},"embeddings":[{"poem_index","id","embedding"}]}
  --similarity FILE   similarity_rankings_cache.json: {"rankings":{"<poem_index>":[poem_index, most similar first]}}
  --diversity FILE    diversity_cache.json: {"sequences":{"<position>":[positions, the poem itself first]}}
  --out FILE          the cache file to write (required)
  --embeddings-keys R, --similarity-keys R, --diversity-keys R
                      how that file names poems: auto (default: read from the data, and said), id (the poems'
                      "id"), index (1-based poem_index) or index0 (0-based position); config key "keys":
                      {"similarity": "index", ...}
  --fields A,B        poem fields to store besides the defaults (${DEFAULT_FIELDS.join(', ')}): dotted
                      paths to scalars, e.g. metadata.author,raw_content; config key "fields": ["..."]
  --force             rebuild even when the output is up to date
  --workers N         parser worker threads (0: parse on the main thread; default: the converter's choice)
  --parser NAME       auto (default) or stream-json
  --config FILE.json  the same keys as JSON ({"poems": "...", "out": "...", "force": true, ...});
                      relative paths are relative to the config file; flags override it
  --quiet             print nothing but errors
  --max-file-bytes N, --max-poems N, --max-dimension N, --max-list-length N
                      limits (defaults 8 GiB, 10,000,000, 65,536, 10,000,000); config key "limits":
                      {"maxFileBytes": N, "maxPoems": N, "maxDimension": N, "maxListLength": N}
  --on-mismatch MODE  error (default) or warn: when an input disagrees with poems.json (unknown or
                      missing ids, counts), warn once per file and convert a reconciled copy
  -h, --help          this help

Two conversions of the same --out run one at a time (lock file OUT.lock); the second finds the output
up to date. Temp and spool files of killed conversions are removed by the next one.

Progress goes to stderr: one updating line on a terminal, a plain line every ~2 s otherwise.
`,
  inspect: `Usage: ${PROG} inspect FILE [--json]

Prints the format version, file size, every section (name, kind, count, param, bytes, offset), row and
list counts, and the metadata the converter stored.

Options:
  --json       machine-readable output
  -h, --help   this help
`,
  verify: `Usage: ${PROG} verify FILE

Checks the header and section table, every section checksum, that every similar/diversity value is a
valid row and every diversity list starts with its own row, that the id index agrees with the ids, that
strings are valid UTF-8, that embeddings and scores are finite and that the metadata is JSON.
Prints OK, or each problem (to stderr) and exits 1.

Options:
  -h, --help   this help
`,
  query: `Usage: ${PROG} query FILE (--index N | --id N) [--k 10] [--json]

Prints a poem (its poem_index, id, file path, title), its top-k most similar poems (scores when the cache
has them) and the first k poems of its diversity sequence.

Options:
  --index N    the poem_index: the poem's 1-based position in poems.json
  --id N       the poem id (refused when several poems have it: ids restart per category)
  --k K        how many neighbours to show (default 10)
  --json       machine-readable output
  -h, --help   this help
`,
};

type Options = NonNullable<ParseArgsConfig['options']>;
function parse<O extends Options>(command: string, args: string[], options: O, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    // parseArgs messages are one line with a code; keep them and say where to look.
    throw new UsageError((err as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, ''), command);
  }
}

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

/** Runs the CLI; returns the exit code (the bin sets process.exitCode to it). */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const out = (s: string) => io.stdout.write(s);
  const err = (s: string) => io.stderr.write(s);
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      err(HELP.global);
      return 2;
    }
    if (command === '--help' || command === '-h' || command === 'help') {
      const topic = command === 'help' ? rest[0] : undefined;
      if (topic !== undefined && !(topic in HELP && topic !== 'global')) throw new UsageError(`unknown command "${topic}"`);
      out(HELP[topic ?? 'global']);
      return 0;
    }
    if (command === '--version' || command === '-v') {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      out(`${pkg.version}\n`);
      return 0;
    }
    if (!(command in COMMANDS)) {
      throw new UsageError(command.startsWith('-') ? `unknown option "${command}" (a command comes first)` : `unknown command "${command}"`);
    }
    if (wantsHelp(rest)) {
      out(HELP[command]);
      return 0;
    }
    return await COMMANDS[command](rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${PROG}: ${e.message}\nRun "${PROG} ${e.command ? `${e.command} ` : ''}--help" for usage.\n`);
      return 2;
    }
    err(`${PROG}: ${oneLine(e)}\n`);
    return 1;
  }
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

const COMMANDS: Record<string, (args: string[], io: CliIO) => Promise<number>> = { convert, inspect, verify, query };

// ---- files ----

/** Names the file in every error: "FILE: no such file", "FILE: is a directory", ... */
function fileError(path: string, e: unknown, what = 'file'): Failure {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Failure(`${path}: no such ${what}`);
  if (code === 'EISDIR') return new Failure(`${path}: is a directory, expected a ${what}`);
  if (code === 'EACCES') return new Failure(`${path}: permission denied`);
  return new Failure(`${path}: ${oneLine(e)}`);
}

/** The whole file in an unshared ArrayBuffer (fatal TextDecoder refuses shared memory), read in chunks. */
function readImage(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(path, e);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw fileError(path, { code: 'EISDIR' });
    const image = new Uint8Array(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, image, off, Math.min(st.size - off, 64 << 20), off);
      if (n === 0) throw new Failure(`${path}: the file shrank while being read (${off} of ${st.size} bytes)`);
      off += n;
    }
    return image;
  } finally {
    closeSync(fd);
  }
}

/**
 * For inspect: maps the file with the native addon when it is available (only the pages that validation and
 * inspect read are touched), else reads it; parseCache validates either way.
 */
async function parseImage(path: string): Promise<{ bytes: Uint8Array; parsed: ParsedCache }> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw fileError(path, e);
  }
  if (st.isDirectory()) throw fileError(path, { code: 'EISDIR' });
  const { loadNative } = await import('../native/index.ts');
  const native = process.env.POEM_CACHE_NO_NATIVE === '1' ? undefined : loadNative();
  try {
    const bytes = native ? new Uint8Array(native.mapFile(resolve(path))) : readImage(path);
    return { bytes, parsed: parseCache(bytes, path) };
  } catch (e) {
    if (e instanceof CacheFormatError) throw new Failure(oneLine(e));
    if (e instanceof Failure) throw e;
    throw fileError(path, e);
  }
}

// ---- formatting ----

const fmtInt = (n: number) => n.toLocaleString('en-US');
function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
const fmtMB = (n: number) => (n / 1e6).toFixed(1);
function fmtEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.ceil(s % 60)).padStart(2, '0')} s`;
}

function table(rows: string[][], rightAlign: boolean[] = []): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  return rows.map((r) => r.map((cell, c) => {
    const pad = ' '.repeat(widths[c] - [...cell].length);
    return rightAlign[c] ? pad + cell : cell + pad;
  }).join('  ').trimEnd()).join('\n') + '\n';
}

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SectionKind).map(([k, v]) => [v, k]));
const kindName = (k: number) => KIND_NAMES[k] ?? `unknown(${k})`;

// ---- convert ----

const CONFIG_KEYS = {
  poems: 'string', embeddings: 'string', similarity: 'string', diversity: 'string', out: 'string',
  force: 'boolean', quiet: 'boolean', workers: 'number', parser: 'string', limits: 'object', onMismatch: 'string',
  keys: 'object', fields: 'object',
} as const;
const LIMIT_FLAGS = { 'max-file-bytes': 'maxFileBytes', 'max-poems': 'maxPoems', 'max-dimension': 'maxDimension', 'max-list-length': 'maxListLength' } as const;
type ConfigKey = keyof typeof CONFIG_KEYS;
const PATH_KEYS = ['poems', 'embeddings', 'similarity', 'diversity', 'out'] as const;

function readConfig(path: string): Partial<Record<ConfigKey, string | number | boolean | object>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fileError(path, e, 'config file');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Failure(`${path}: not valid JSON (${oneLine(e)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Failure(`${path}: expected a JSON object of convert options`);
  const config: Partial<Record<ConfigKey, string | number | boolean | object>> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(key in CONFIG_KEYS)) throw new UsageError(`${path}: unknown key "${key}" (allowed: ${Object.keys(CONFIG_KEYS).join(', ')})`, 'convert');
    const type = CONFIG_KEYS[key as ConfigKey];
    const isArray = Array.isArray(v);
    if (typeof v !== type || v === null || isArray !== (key === 'fields')) {
      throw new UsageError(`${path}: "${key}" must be ${key === 'fields' ? 'an array' : `a ${type}`}, got ${JSON.stringify(v)}`, 'convert');
    }
    config[key as ConfigKey] = (PATH_KEYS as readonly string[]).includes(key) ? resolve(dirname(path), v as string) : v as string | number | boolean;
  }
  return config;
}

async function convert(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse('convert', args, {
    poems: { type: 'string' }, embeddings: { type: 'string' }, similarity: { type: 'string' }, diversity: { type: 'string' },
    out: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean' }, config: { type: 'string' },
    workers: { type: 'string' }, parser: { type: 'string' }, 'on-mismatch': { type: 'string' }, fields: { type: 'string' },
    ...Object.fromEntries(KEYED_ROLES.map((r) => [`${r}-keys`, { type: 'string' as const }])),
    ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((f) => [f, { type: 'string' as const }])),
  }, true);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (inputs are given with --poems, --embeddings, ...)`, 'convert');
  const config = values.config ? readConfig(values.config) : {};
  const pick = <K extends ConfigKey>(k: K) => (values as Record<string, unknown>)[k] ?? config[k];
  const poems = pick('poems') as string | undefined;
  const outPath = pick('out') as string | undefined;
  if (!poems) throw new UsageError('missing --poems FILE', 'convert');
  if (!outPath) throw new UsageError('missing --out FILE', 'convert');
  let workers: number | undefined;
  const w = pick('workers');
  if (w !== undefined) {
    workers = Number(w);
    if (!Number.isInteger(workers) || workers < 0) throw new UsageError(`--workers must be a whole number >= 0, got "${w}"`, 'convert');
  }
  const parser = pick('parser') as string | undefined;
  if (parser !== undefined && parser !== 'auto' && parser !== 'stream-json') {
    throw new UsageError(`--parser must be auto or stream-json, got "${parser}"`, 'convert');
  }
  const quiet = Boolean(pick('quiet'));
  const onMismatch = ((values as Record<string, unknown>)['on-mismatch'] ?? config.onMismatch) as string | undefined;
  if (onMismatch !== undefined && onMismatch !== 'error' && onMismatch !== 'warn') {
    throw new UsageError(`--on-mismatch must be error or warn, got "${onMismatch}"`, 'convert');
  }
  const limits: Record<string, number> = {};
  for (const [k, v] of Object.entries((config.limits ?? {}) as Record<string, unknown>)) {
    if (!Object.values(LIMIT_FLAGS).includes(k as never)) throw new UsageError(`${values.config}: unknown limit "${k}" (allowed: ${Object.values(LIMIT_FLAGS).join(', ')})`, 'convert');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`${values.config}: "limits.${k}" must be a whole number >= 1, got ${JSON.stringify(v)}`, 'convert');
    limits[k] = v;
  }
  for (const [flag, key] of Object.entries(LIMIT_FLAGS)) {
    const v = (values as Record<string, unknown>)[flag] as string | undefined;
    if (v === undefined) continue;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} must be a whole number >= 1, got "${v}"`, 'convert');
    limits[key] = n;
  }
  const keys: Partial<Record<KeyedRole, KeyMode>> = {};
  for (const [k, v] of Object.entries((config.keys ?? {}) as Record<string, unknown>)) {
    if (!(KEYED_ROLES as readonly string[]).includes(k)) throw new UsageError(`${values.config}: unknown input "${k}" in "keys" (allowed: ${KEYED_ROLES.join(', ')})`, 'convert');
    if (!(KEY_MODES as readonly unknown[]).includes(v)) throw new UsageError(`${values.config}: "keys.${k}" must be one of ${KEY_MODES.join(', ')}, got ${JSON.stringify(v)}`, 'convert');
    keys[k as KeyedRole] = v as KeyMode;
  }
  for (const role of KEYED_ROLES) {
    const v = (values as Record<string, unknown>)[`${role}-keys`] as string | undefined;
    if (v === undefined) continue;
    if (!(KEY_MODES as readonly string[]).includes(v)) throw new UsageError(`--${role}-keys must be one of ${KEY_MODES.join(', ')}, got "${v}"`, 'convert');
    keys[role] = v as KeyMode;
  }
  let fields: string[] | undefined;
  if (config.fields !== undefined) {
    if (!Array.isArray(config.fields)) throw new UsageError(`${values.config}: "fields" must be an array of dotted paths`, 'convert');
    fields = config.fields as string[];
  }
  if (values.fields !== undefined) fields = values.fields.split(',').map((f) => f.trim()).filter(Boolean);
  for (const f of fields ?? []) {
    const problem = fieldPathProblem(f);
    if (problem) throw new UsageError(`--fields: ${problem}`, 'convert');
  }
  const inputs: [InputRole, string | undefined][] = [
    ['poems', poems], ['embeddings', pick('embeddings') as string | undefined],
    ['similarity', pick('similarity') as string | undefined], ['diversity', pick('diversity') as string | undefined],
  ];
  for (const [role, file] of inputs) {
    if (file === undefined) continue;
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      throw fileError(file, e, `file (--${role})`);
    }
    if (!st.isFile()) throw new Failure(`${file}: not a regular file (--${role})`);
  }

  const outDir = dirname(resolve(outPath));
  try {
    if (!statSync(outDir).isDirectory()) throw new Failure(`${outDir}: not a directory (for --out ${outPath})`);
  } catch (e) {
    throw e instanceof Failure ? e : fileError(outDir, e, `directory (for --out ${outPath})`);
  }

  const { convertCaches } = await loadConverter();
  const progress = quiet ? undefined : progressReporter(io);
  const controller = new AbortController();
  const onSignal = () => controller.abort(new Error('interrupted'));
  const realProcess = io.stderr === process.stderr;
  if (realProcess) process.once('SIGINT', onSignal);
  let result: ConvertResult;
  try {
    result = await convertCaches({
      poems, embeddings: inputs[1][1], similarity: inputs[2][1], diversity: inputs[3][1], out: outPath,
      force: Boolean(pick('force')), parser: parser as ConvertOptions['parser'], workers,
      onProgress: progress?.update, signal: controller.signal,
      limits, onMismatch: onMismatch as ConvertOptions['onMismatch'], keys, fields,
      onWarning: (m) => io.stderr.write(`${PROG}: warning: ${m}\n`),
      lock: quiet ? {} : { onWait: (h, file) => io.stderr.write(`${PROG}: waiting for ${file} (another conversion: pid ${h.pid} on ${h.host} since ${h.started})\n`) },
    });
  } catch (e) {
    progress?.end();
    if (controller.signal.aborted) {
      io.stderr.write(`${PROG}: ${outPath}: interrupted; the output was not changed\n`);
      return 130;
    }
    throw e;
  } finally {
    if (realProcess) process.removeListener('SIGINT', onSignal);
  }
  progress?.end();
  if (quiet) return 0;
  if (result.skipped) {
    io.stdout.write(`${result.out}: up to date (${fmtInt(result.rows)} rows, ${fmtBytes(result.size)}; inputs unchanged, --force rebuilds)\n`);
    return 0;
  }
  io.stdout.write(`wrote ${result.out}: ${fmtInt(result.rows)} rows, ${fmtBytes(result.size)} in ${result.seconds.toFixed(1)} s\n`);
  io.stdout.write(`sections: ${result.sections.join(', ')}\n`);
  io.stdout.write(table([
    ['input', 'file', 'MB', 'seconds', 'MB/s', 'names poems by'],
    ...result.inputs.map((i) => [i.role, i.file, fmtMB(i.bytes), i.seconds.toFixed(2), i.mbPerSecond.toFixed(1),
      i.reading ? `${i.reading}${keys[i.role as KeyedRole] ? '' : ' (auto)'}` : '']),
  ], [false, false, true, true, true, false]));
  return 0;
}

/** TTY: one line rewritten with \r (at most ~10 times a second). Else: a line per file start and end, and every ~2 s. */
function progressReporter(io: CliIO): { update: (p: Progress) => void; end: () => void } {
  const tty = Boolean(io.isTTY);
  let lastWidth = 0;
  let lastAt = 0;
  let lastFile = '';
  let finished = new Set<string>();
  const text = (p: Progress) =>
    `${p.file}  ${fmtMB(p.bytesRead)}/${fmtMB(p.totalBytes)} MB  ${fmtMB(p.bytesPerSecond)} MB/s  ETA ${fmtEta(p.etaSeconds)}`;
  return {
    update(p) {
      const now = performance.now();
      const done = p.bytesRead >= p.totalBytes;
      if (tty) {
        if (p.file === lastFile && !done && now - lastAt < 100) return;
        const line = text(p);
        io.stderr.write(`\r${line}${' '.repeat(Math.max(0, lastWidth - line.length))}`);
        lastWidth = line.length;
      } else {
        const first = p.file !== lastFile && !finished.has(p.file);
        const last = done && !finished.has(p.file);
        if (!first && !last && now - lastAt < 2000) return;
        if (done) finished.add(p.file);
        io.stderr.write(`${text(p)}\n`);
      }
      lastAt = now;
      lastFile = p.file;
    },
    end() {
      if (tty && lastWidth > 0) io.stderr.write(`\r${' '.repeat(lastWidth)}\r`);
      lastWidth = 0;
      finished = new Set();
    },
  };
}

// ---- inspect ----

interface ListCounts { lists: number; values: number; minLength: number; maxLength: number; scores: boolean }

function describe(path: string, bytes: Uint8Array, parsed: ParsedCache) {
  const ids = parsed.sections.find((s) => s.name === SectionName.ids && s.kind === SectionKind.ids);
  const emb = parsed.sections.find((s) => s.name === SectionName.embeddings && s.kind === SectionKind.matrix);
  const lists: Record<string, ListCounts> = {};
  const strings: Record<string, { rows: number; bytes: number }> = {};
  for (const s of parsed.sections) {
    if (!s.known) continue;
    if (s.kind === SectionKind.ragged) {
      const lengths = new Uint32Array(bytes.buffer, bytes.byteOffset + s.parts.lengths.offset, s.count);
      let min = s.count ? Infinity : 0;
      let max = 0;
      for (let r = 0; r < s.count; r++) {
        if (lengths[r] < min) min = lengths[r];
        if (lengths[r] > max) max = lengths[r];
      }
      lists[s.name] = { lists: s.count, values: s.param, minLength: min, maxLength: max, scores: Boolean(s.flags & RAGGED_HAS_SCORES) };
    } else if (s.kind === SectionKind.strings) {
      strings[s.name] = { rows: s.count, bytes: s.param };
    }
  }
  let metadata: unknown = null;
  let metadataError: string | undefined;
  const meta = parsed.sections.find((s) => s.name === SectionName.meta && s.kind === SectionKind.json);
  if (meta) {
    try {
      metadata = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(meta.parts.bytes.offset, meta.parts.bytes.offset + meta.count)));
    } catch (e) {
      metadataError = `the "${SectionName.meta}" section is not UTF-8 JSON (${oneLine(e)})`;
    }
  }
  return {
    file: resolve(path),
    size: bytes.byteLength,
    format: { major: parsed.header.major, minor: parsed.header.minor },
    header: {
      flags: parsed.header.flags,
      sectionCount: parsed.header.sectionCount,
      headerChecksum: parsed.header.headerChecksum,
      tableChecksum: parsed.header.tableChecksum,
    },
    sections: parsed.sections.map((s) => ({
      name: s.name, kind: kindName(s.kind), kindCode: s.kind, known: s.known, flags: s.flags, count: s.count,
      param: s.param, param2: s.param2, bytes: s.byteLength, offset: s.offset, checksum: s.checksum,
    })),
    counts: { rows: ids ? ids.count : 0, dim: emb ? emb.param : 0, lists, strings },
    metadata,
    ...(metadataError ? { metadataError } : {}),
  };
}

async function inspect(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse('inspect', args, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}` : 'missing FILE', 'inspect');
  const path = positionals[0];
  const { bytes, parsed } = await parseImage(path);
  const d = describe(path, bytes, parsed);
  if (d.metadataError) io.stderr.write(`${PROG}: warning: ${path}: ${d.metadataError}\n`);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
    return 0;
  }
  const o: string[] = [];
  o.push(`${d.file}\n`);
  o.push(`format ${d.format.major}.${d.format.minor}, ${fmtBytes(d.size)} (${fmtInt(d.size)} bytes), ${d.sections.length} sections\n\n`);
  o.push(table([
    ['section', 'kind', 'count', 'param', 'bytes', 'offset'],
    ...d.sections.map((s) => [s.name, s.known ? s.kind : `${s.kind} (skipped)`, fmtInt(s.count), fmtInt(s.param), fmtBytes(s.bytes), fmtInt(s.offset)]),
  ], [false, false, true, true, true, true]));
  o.push(`\nrows: ${fmtInt(d.counts.rows)}\n`);
  o.push(`embedding dimension: ${d.counts.dim || 'none'}\n`);
  for (const [name, l] of Object.entries(d.counts.lists)) {
    o.push(`${name}: ${fmtInt(l.values)} values, ${l.minLength === l.maxLength ? fmtInt(l.minLength) : `${fmtInt(l.minLength)}..${fmtInt(l.maxLength)}`} per row${l.scores ? ', with scores' : ''}\n`);
  }
  for (const [name, s] of Object.entries(d.counts.strings)) o.push(`${name}: ${fmtBytes(s.bytes)} of text\n`);
  o.push(`\nmetadata: ${d.metadata === null ? 'none' : JSON.stringify(d.metadata, null, 2)}\n`);
  io.stdout.write(o.join(''));
  return 0;
}

// ---- verify ----

/** Every problem verify can find, each as one line; an empty list means the file is good. */
export function verifyImage(path: string, bytes: Uint8Array): string[] {
  let parsed: ParsedCache;
  try {
    parsed = parseCache(bytes, path);
  } catch (e) {
    if (e instanceof CacheFormatError) return [e.message];
    throw e;
  }
  const problems: string[] = [];
  const limit = 5;
  const perSection = (s: SectionInfo) => {
    let n = 0;
    return {
      add(msg: string) {
        if (n++ < limit) problems.push(`${path}: section "${s.name}": ${msg}`);
      },
      done() {
        if (n > limit) problems.push(`${path}: section "${s.name}": ... and ${n - limit} more problems like these`);
      },
    };
  };
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
  for (const s of parsed.sections) {
    if (!sectionChecksumOk(bytes, s)) {
      const actual = crc32(bytes.subarray(s.offset, s.offset + s.byteLength));
      problems.push(`${path}: section "${s.name}": checksum ${hex(actual)} does not match the table's ${hex(s.checksum)} (bytes ${s.offset}..${s.offset + s.byteLength} changed)`);
    }
  }
  const ids = parsed.sections.find((s) => s.name === SectionName.ids && s.kind === SectionKind.ids);
  if (!ids) {
    problems.push(`${path}: no "${SectionName.ids}" section (row <-> poem id table)`);
    return problems;
  }
  const rows = ids.count;
  const i32 = (s: SectionInfo, part: string) => new Int32Array(bytes.buffer, bytes.byteOffset + s.parts[part].offset, s.parts[part].length);
  const u32 = (s: SectionInfo, part: string) => new Uint32Array(bytes.buffer, bytes.byteOffset + s.parts[part].offset, s.parts[part].length);
  const f32 = (s: SectionInfo, part: string) => new Float32Array(bytes.buffer, bytes.byteOffset + s.parts[part].offset, s.parts[part].length);
  const decoder = new TextDecoder('utf-8', { fatal: true });

  for (const s of parsed.sections) {
    if (!s.known) continue;
    const p = perSection(s);
    if ((s.kind === SectionKind.matrix || s.kind === SectionKind.ragged || s.kind === SectionKind.strings) && s.count !== rows) {
      p.add(`${fmtInt(s.count)} rows, expected ${fmtInt(rows)} like "${SectionName.ids}"`);
    }
    if (s.kind === SectionKind.ids) {
      const idv = i32(s, 'ids');
      if (s.flags & IDS_DENSE_INDEX) {
        const table = i32(s, 'index');
        let mapped = 0;
        for (let k = 0; k < table.length; k++) if (table[k] >= 0) mapped++;
        for (let r = 0; r < s.count; r++) {
          const k = idv[r] - s.param;
          if (!(k >= 0 && k < table.length) || table[k] !== r) p.add(`row ${r} (id ${idv[r]}) is not found by the id index`);
        }
        if (mapped !== s.count) p.add(`the id index maps ${fmtInt(mapped)} ids, expected ${fmtInt(s.count)}`);
      } else {
        // by id, then by row; equal ids only where the section says ids repeat
        const perm = u32(s, 'index');
        const repeats = (s.flags & IDS_REPEATED) !== 0;
        for (let k = 1; k < perm.length; k++) {
          const a = idv[perm[k - 1]];
          const b = idv[perm[k]];
          if (a < b || (repeats && a === b && perm[k - 1] < perm[k])) continue;
          p.add(`sorted id index entry ${k}: id ${b} (row ${perm[k]}) does not follow id ${a} (row ${perm[k - 1]})${a === b && !repeats ? ' (a repeated id, but the section does not say ids repeat)' : ''}`);
        }
      }
    } else if (s.kind === SectionKind.ragged) {
      const starts = u32(s, 'starts');
      const lengths = u32(s, 'lengths');
      const values = i32(s, 'values');
      const isDiversity = s.name === SectionName.diversity;
      for (let r = 0; r < s.count; r++) {
        const a = starts[r];
        const n = lengths[r];
        for (let j = 0; j < n; j++) {
          const v = values[a + j];
          if (!(v >= 0 && v < rows)) p.add(`row ${r}, entry ${j}: row ${v} is outside 0..${rows - 1}`);
        }
        if (isDiversity && n > 0 && values[a] !== r) p.add(`row ${r}: the sequence starts with row ${values[a]}, expected the row itself`);
      }
      if (s.flags & RAGGED_HAS_SCORES) {
        const scores = f32(s, 'scores');
        for (let k = 0; k < scores.length; k++) if (!Number.isFinite(scores[k])) p.add(`score ${k} is ${scores[k]}`);
      }
    } else if (s.kind === SectionKind.strings) {
      const offsets = u32(s, 'offsets');
      const base = s.parts.bytes.offset;
      const isField = s.name.startsWith(FIELD_PREFIX);
      const tags: number[] = Object.values(FieldTag);
      for (let r = 0; r < s.count; r++) {
        const a = base + offsets[r];
        const b = base + offsets[r + 1];
        try {
          decoder.decode(bytes.subarray(a, b));
        } catch {
          p.add(`row ${r}: not valid UTF-8`);
        }
        if (!isField || a === b) continue;
        const tag = bytes[a];
        if (!tags.includes(tag)) p.add(`row ${r}: field tag ${tag}, expected one of s, n, t, f`);
        else if (tag === FieldTag.number && !Number.isFinite(Number(Buffer.from(bytes.subarray(a + 1, b)).toString('latin1')))) p.add(`row ${r}: not a number`);
        else if ((tag === FieldTag.true || tag === FieldTag.false) && b - a !== 1) p.add(`row ${r}: a boolean field row of ${b - a} bytes`);
      }
    } else if (s.kind === SectionKind.matrix) {
      const v = f32(s, 'values');
      const dim = s.param || 1;
      for (let k = 0; k < v.length; k++) if (!Number.isFinite(v[k])) p.add(`row ${Math.floor(k / dim)}, column ${k % dim}: ${v[k]}`);
    } else if (s.kind === SectionKind.json) {
      try {
        JSON.parse(decoder.decode(bytes.subarray(s.parts.bytes.offset, s.parts.bytes.offset + s.count)));
      } catch (e) {
        p.add(`not UTF-8 JSON (${oneLine(e)})`);
      }
    }
    p.done();
  }
  return problems;
}

async function verify(args: string[], io: CliIO): Promise<number> {
  const { positionals } = parse('verify', args, {}, true);
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}` : 'missing FILE', 'verify');
  const path = positionals[0];
  const started = performance.now();
  const bytes = readImage(path);
  const problems = verifyImage(path, bytes);
  if (problems.length) {
    for (const p of problems) io.stderr.write(`${p}\n`);
    io.stderr.write(`${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const parsed = parseCache(bytes, path, { indexes: false });
  const ids = parsed.sections.find((s) => s.name === SectionName.ids);
  io.stdout.write(`${path}: OK (${fmtInt(ids?.count ?? 0)} rows, ${parsed.sections.length} sections, ${fmtBytes(bytes.byteLength)}, ${((performance.now() - started) / 1000).toFixed(2)} s)\n`);
  return 0;
}

// ---- query ----

async function query(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse('query', args, { id: { type: 'string' }, index: { type: 'string' }, k: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}` : 'missing FILE', 'query');
  if ((values.id === undefined) === (values.index === undefined)) {
    throw new UsageError(values.id === undefined ? 'missing --index N (or --id N)' : 'give --index N or --id N, not both', 'query');
  }
  const flag = values.index !== undefined ? 'index' : 'id';
  const n = Number(values[flag]);
  if (!Number.isInteger(n)) throw new UsageError(`--${flag} must be a whole number, got "${values[flag]}"`, 'query');
  const k = values.k === undefined ? 10 : Number(values.k);
  if (!Number.isInteger(k) || k < 0) throw new UsageError(`--k must be a whole number >= 0, got "${values.k}"`, 'query');
  const path = positionals[0];
  try {
    statSync(path);
  } catch (e) {
    throw fileError(path, e);
  }
  const { openCache, AmbiguousIdError } = await import('../cache/reader.ts');
  let reader;
  try {
    reader = openCache(path);
  } catch (e) {
    if (e instanceof CacheFormatError) throw new Failure(oneLine(e));
    throw fileError(path, e);
  }
  let row: number;
  if (flag === 'index') {
    row = reader.rowOfIndex(n);
    if (row < 0) throw new Failure(`${path}: no poem_index ${n} (poem_index runs 1..${fmtInt(reader.count)})`);
  } else {
    try {
      row = reader.rowOf(n);
    } catch (e) {
      if (!(e instanceof AmbiguousIdError)) throw e;
      const where = e.rows.map((r) => `${reader.describe(r)}${reader.has(SectionName.category) && reader.category(r) ? ` in ${reader.category(r)}` : ''}`);
      throw new Failure(`${path}: poem id ${n} is not unique: ${e.rows.length} poems have it (${where.join(', ')}); ask with --index N`);
    }
    if (row < 0) throw new Failure(`${path}: no poem with id ${n} (${fmtInt(reader.count)} poems)`);
  }
  const has = (name: string) => reader.has(name);
  const titleOf = (r: number) => (has(SectionName.title) ? reader.title(r) : '');
  const pathOf = (r: number) => {
    const v = reader.fieldNames.includes('filepath') ? reader.field('filepath', r) : null;
    return typeof v === 'string' ? v : undefined;
  };
  const poem = (r: number) => ({ index: reader.index(r), id: reader.idOf(r), filepath: pathOf(r), title: titleOf(r) });
  const neighbours = (name: string, withScores: boolean) => {
    if (!has(name)) return null;
    const list = reader.list(name, row);
    const scores = withScores ? reader.listScores(name, row) : undefined;
    const items = Array.from(list.subarray(0, k), (r, j) => ({ ...poem(r), ...(scores ? { score: scores[j] } : {}) }));
    return { total: list.length, items };
  };
  const result = {
    file: resolve(path),
    ...poem(row),
    row,
    category: has(SectionName.category) ? reader.category(row) : undefined,
    date: has(SectionName.date) ? reader.date(row) : undefined,
    similar: neighbours(SectionName.similar, true),
    diversity: neighbours(SectionName.diversity, false),
  };
  if (values.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const label = (p: { filepath?: string; title: string; id: number }) => [p.filepath, p.title ? JSON.stringify(p.title) : ''].filter(Boolean).join(' ') || `id ${p.id}`;
  const o: string[] = [];
  const extra = [result.category, result.date].filter(Boolean).join(', ');
  o.push(`poem_index ${result.index} (id ${result.id}) ${label(result)}${extra ? ` (${extra})` : ''}, row ${row}\n`);
  const list = (heading: string, l: typeof result.similar) => {
    if (!l) {
      o.push(`\n${heading}: not in this cache\n`);
      return;
    }
    o.push(`\n${heading} (${l.items.length} of ${fmtInt(l.total)}):\n`);
    if (l.items.length) {
      const scored = l.items.some((it) => 'score' in it);
      o.push(table(l.items.map((it, j) => [
        `${j + 1}.`, `#${it.index}`, `id ${it.id}`, ...(scored ? [(it as { score: number }).score.toFixed(4)] : []), label(it),
      ]), scored ? [true, true, true, true, false] : [true, true, true, false]).replace(/^(?=.)/gm, '  '));
    }
  };
  list('most similar', result.similar);
  list('diversity sequence', result.diversity);
  io.stdout.write(o.join(''));
  return 0;
}
