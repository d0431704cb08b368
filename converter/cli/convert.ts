// poem-cache convert: flags and an optional JSON config file -> convertCaches options, with one clear line for
// every wrong value; then the conversion with progress, and a table of what each input took.
import { readFileSync, type Stats, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ConvertOptions, ConvertResult } from '../index.ts';
import { fieldPathProblem } from '../fields.ts';
import { KEY_MODES, type KeyMode } from '../identity.ts';
import type { LockOptions } from '../lock.ts';
import { KEYED_ROLES, type InputRole, type KeyedRole } from '../roles.ts';
import { Failure, fileError, oneLine, parse, PROG, UsageError, type CliIO } from './common.ts';
import { fmtBytes, fmtInt, fmtMB, table } from './format.ts';
import { progressReporter } from './progress.ts';

// The converter library is loaded on demand: inspect, verify and query never load it (nor its workers).
const loadConverter = () => import('../index.ts');

const CONFIG_KEYS = {
  poems: 'string',
  embeddings: 'string',
  similarity: 'string',
  diversity: 'string',
  out: 'string',
  force: 'boolean',
  quiet: 'boolean',
  workers: 'number',
  parser: 'string',
  limits: 'object',
  onMismatch: 'string',
  keys: 'object',
  fields: 'object',
} as const;
const LIMIT_FLAGS = {
  'max-file-bytes': 'maxFileBytes',
  'max-poems': 'maxPoems',
  'max-dimension': 'maxDimension',
  'max-list-length': 'maxListLength',
} as const;
type ConfigKey = keyof typeof CONFIG_KEYS;
type Config = Partial<Record<ConfigKey, string | number | boolean | object>>;
const PATH_KEYS = ['poems', 'embeddings', 'similarity', 'diversity', 'out'] as const;

function readConfig(path: string): Config {
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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Failure(`${path}: expected a JSON object of convert options`);
  }
  const config: Config = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(key in CONFIG_KEYS)) {
      const allowed = Object.keys(CONFIG_KEYS).join(', ');
      throw new UsageError(`${path}: unknown key "${key}" (allowed: ${allowed})`, 'convert');
    }
    const type = CONFIG_KEYS[key as ConfigKey];
    const isArray = Array.isArray(v);
    if (typeof v !== type || v === null || isArray !== (key === 'fields')) {
      const want = key === 'fields' ? 'an array' : `a ${type}`;
      throw new UsageError(`${path}: "${key}" must be ${want}, got ${JSON.stringify(v)}`, 'convert');
    }
    const isPath = (PATH_KEYS as readonly string[]).includes(key);
    config[key as ConfigKey] = isPath ? resolve(dirname(path), v as string) : (v as string | number | boolean);
  }
  return config;
}

/** The limits: the config's "limits" object, then the --max-* flags over it. */
function limitsOf(values: Record<string, unknown>, config: Config): Record<string, number> {
  const limits: Record<string, number> = {};
  const allowed = Object.values(LIMIT_FLAGS);
  for (const [k, v] of Object.entries((config.limits ?? {}) as Record<string, unknown>)) {
    if (!allowed.includes(k as never)) {
      throw new UsageError(`${values.config}: unknown limit "${k}" (allowed: ${allowed.join(', ')})`, 'convert');
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      const got = JSON.stringify(v);
      throw new UsageError(`${values.config}: "limits.${k}" must be a whole number >= 1, got ${got}`, 'convert');
    }
    limits[k] = v;
  }
  for (const [flag, key] of Object.entries(LIMIT_FLAGS)) {
    const v = values[flag] as string | undefined;
    if (v === undefined) continue;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`--${flag} must be a whole number >= 1, got "${v}"`, 'convert');
    }
    limits[key] = n;
  }
  return limits;
}

/** How each input names poems: the config's "keys" object, then the --<role>-keys flags over it. */
function keysOf(values: Record<string, unknown>, config: Config): Partial<Record<KeyedRole, KeyMode>> {
  const keys: Partial<Record<KeyedRole, KeyMode>> = {};
  for (const [k, v] of Object.entries((config.keys ?? {}) as Record<string, unknown>)) {
    if (!(KEYED_ROLES as readonly string[]).includes(k)) {
      const allowed = KEYED_ROLES.join(', ');
      throw new UsageError(`${values.config}: unknown input "${k}" in "keys" (allowed: ${allowed})`, 'convert');
    }
    if (!(KEY_MODES as readonly unknown[]).includes(v)) {
      const want = `one of ${KEY_MODES.join(', ')}`;
      throw new UsageError(`${values.config}: "keys.${k}" must be ${want}, got ${JSON.stringify(v)}`, 'convert');
    }
    keys[k as KeyedRole] = v as KeyMode;
  }
  for (const role of KEYED_ROLES) {
    const v = values[`${role}-keys`] as string | undefined;
    if (v === undefined) continue;
    if (!(KEY_MODES as readonly string[]).includes(v)) {
      throw new UsageError(`--${role}-keys must be one of ${KEY_MODES.join(', ')}, got "${v}"`, 'convert');
    }
    keys[role] = v as KeyMode;
  }
  return keys;
}

/** The fields to store: the config's "fields" array, or --fields a,b over it. */
function fieldsOf(values: Record<string, unknown>, config: Config): string[] | undefined {
  let fields: string[] | undefined;
  if (config.fields !== undefined) {
    if (!Array.isArray(config.fields)) {
      throw new UsageError(`${values.config}: "fields" must be an array of dotted paths`, 'convert');
    }
    fields = config.fields as string[];
  }
  if (values.fields !== undefined)
    fields = (values.fields as string)
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean);
  for (const f of fields ?? []) {
    const problem = fieldPathProblem(f);
    if (problem) throw new UsageError(`--fields: ${problem}`, 'convert');
  }
  return fields;
}

export async function convert(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(
    'convert',
    args,
    {
      poems: { type: 'string' },
      embeddings: { type: 'string' },
      similarity: { type: 'string' },
      diversity: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean' },
      quiet: { type: 'boolean' },
      config: { type: 'string' },
      workers: { type: 'string' },
      parser: { type: 'string' },
      'on-mismatch': { type: 'string' },
      fields: { type: 'string' },
      ...Object.fromEntries(KEYED_ROLES.map((r) => [`${r}-keys`, { type: 'string' as const }])),
      ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((f) => [f, { type: 'string' as const }])),
    },
    true,
  );
  if (positionals.length) {
    const hint = 'inputs are given with --poems, --embeddings, ...';
    throw new UsageError(`unexpected argument "${positionals[0]}" (${hint})`, 'convert');
  }
  const config = values.config ? readConfig(values.config) : {};
  const given = values as Record<string, unknown>;
  const pick = <K extends ConfigKey>(k: K) => given[k] ?? config[k];
  const poems = pick('poems') as string | undefined;
  const outPath = pick('out') as string | undefined;
  if (!poems) throw new UsageError('missing --poems FILE', 'convert');
  if (!outPath) throw new UsageError('missing --out FILE', 'convert');
  let workers: number | undefined;
  const w = pick('workers');
  if (w !== undefined) {
    workers = Number(w);
    if (!Number.isInteger(workers) || workers < 0) {
      throw new UsageError(`--workers must be a whole number >= 0, got "${w}"`, 'convert');
    }
  }
  const parser = pick('parser') as string | undefined;
  if (parser !== undefined && parser !== 'auto' && parser !== 'stream-json') {
    throw new UsageError(`--parser must be auto or stream-json, got "${parser}"`, 'convert');
  }
  const quiet = Boolean(pick('quiet'));
  const onMismatch = (given['on-mismatch'] ?? config.onMismatch) as string | undefined;
  if (onMismatch !== undefined && onMismatch !== 'error' && onMismatch !== 'warn') {
    throw new UsageError(`--on-mismatch must be error or warn, got "${onMismatch}"`, 'convert');
  }
  const limits = limitsOf(given, config);
  const keys = keysOf(given, config);
  const fields = fieldsOf(given, config);
  const inputs: [InputRole, string | undefined][] = [
    ['poems', poems],
    ['embeddings', pick('embeddings') as string | undefined],
    ['similarity', pick('similarity') as string | undefined],
    ['diversity', pick('diversity') as string | undefined],
  ];
  for (const [role, file] of inputs) {
    if (file === undefined) continue;
    let st: Stats;
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
  const onWait: LockOptions['onWait'] = (h, file) => {
    const holder = `pid ${h.pid} on ${h.host} since ${h.started}`;
    io.stderr.write(`${PROG}: waiting for ${file} (another conversion: ${holder})\n`);
  };
  let result: ConvertResult;
  try {
    result = await convertCaches({
      poems,
      embeddings: inputs[1][1],
      similarity: inputs[2][1],
      diversity: inputs[3][1],
      out: outPath,
      force: Boolean(pick('force')),
      parser: parser as ConvertOptions['parser'],
      workers,
      onProgress: progress?.update,
      signal: controller.signal,
      limits,
      onMismatch: onMismatch as ConvertOptions['onMismatch'],
      keys,
      fields,
      onWarning: (m) => io.stderr.write(`${PROG}: warning: ${m}\n`),
      lock: quiet ? {} : { onWait },
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
  const size = `${fmtInt(result.rows)} rows, ${fmtBytes(result.size)}`;
  if (result.skipped) {
    io.stdout.write(`${result.out}: up to date (${size}; inputs unchanged, --force rebuilds)\n`);
    return 0;
  }
  io.stdout.write(`wrote ${result.out}: ${size} in ${result.seconds.toFixed(1)} s\n`);
  io.stdout.write(`sections: ${result.sections.join(', ')}\n`);
  io.stdout.write(
    table(
      [
        ['input', 'file', 'MB', 'seconds', 'MB/s', 'names poems by'],
        ...result.inputs.map((i) => [
          i.role,
          i.file,
          fmtMB(i.bytes),
          i.seconds.toFixed(2),
          i.mbPerSecond.toFixed(1),
          i.reading ? `${i.reading}${keys[i.role as KeyedRole] ? '' : ' (auto)'}` : '',
        ]),
      ],
      [false, false, true, true, true, false],
    ),
  );
  return 0;
}
