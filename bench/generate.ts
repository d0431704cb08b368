// Deterministic benchmark data in the poetry pipeline's JSON shapes (same bytes on every run):
//   node bench/generate.ts --size small|seed|tang --out DIR
// writes DIR/poems.json, DIR/embeddings.json, DIR/similarity_rankings_cache.json, DIR/diversity_cache.json.
//   small: 300 poems, 768-d embeddings, full similarity and diversity lists (~6 MB; CI smoke tests)
//   seed:  7,800 poems, 768-d embeddings, full 7,800 x 7,800 lists (~830 MB; the benchmark scale)
//   tang:  the 57,607 real poems of the Complete Tang Poems, top-100 lists (~940 MB; bench/generate-tang.ts)
// Everything is streamed in chunks: memory stays bounded (tens of MB) whatever the size (tang computes its lists
// from embeddings held in memory: ~1 GB peak RSS at 57,607 poems).
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const SIZES = {
  small: { poems: 300, dim: 768, seed: 0x5eed0001 },
  seed: { poems: 7800, dim: 768, seed: 0x5eed7800 },
} as const;
export type Size = keyof typeof SIZES;

export const FILES = {
  poems: 'poems.json',
  embeddings: 'embeddings.json',
  similarity: 'similarity_rankings_cache.json',
  diversity: 'diversity_cache.json',
} as const;

/** sfc32: small, fast, seedable; the same sequence on every platform. */
export function prng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** Python's repr() of a float: shortest round-trip digits, exponent form below 1e-4 or from 1e16 ("1.2e-05"). */
export function pyFloat(x: number): string {
  // 1e-4 <= |x| < 1e16, not an integer: JavaScript's shortest round trip is already Python's repr (2.5 x faster)
  const a = Math.abs(x);
  if (a >= 1e-4 && a < 1e16 && !Number.isInteger(x)) return String(x);
  if (!Number.isFinite(x)) throw new Error(`not finite: ${x}`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let out: string;
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp < 0) {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length > exp + 1) {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  } else {
    out = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  }
  return neg ? `-${out}` : out;
}

const WORDS = (
  'moon river stone light shadow wind autumn spring winter summer mountain valley silence echo ember ' +
  'harbor lantern willow sparrow meadow thunder petal ash frost dawn dusk orchard candle ferry bell ' +
  'horizon salt rain cloud field road window door letter memory hunger mercy grief sorrow laughter ' +
  'old young slow bright dark cold warm hollow golden silver quiet restless distant tender broken wild ' +
  'walks waits falls rises burns sings remembers forgets carries gathers leaves returns wanders breaks ' +
  'under over beyond between through across against toward within beside the a my your our their ' +
  'and but or yet so still again never always once only'
).split(' ');
// Non-ASCII words, so the converter's UTF-8 handling (and the cache's string sections) are exercised.
const RARE_WORDS = ['café', 'naïve', 'Æther', 'façade', 'élan', 'Škoda', '淡月', '春眠', '山河', 'мир', 'λόγος', '🌙', '—'];
const CATEGORIES = ['nature', 'love', 'loss', 'war', 'faith', 'city', 'sea', 'time', 'childhood', 'night', 'travel', 'myth'];
const AUTHORS = ['A. Rowan', 'B. Okafor', 'C. Lindqvist', 'D. Moreau', 'E. Tanaka', 'F. Alvarez', 'G. Novak', 'H. Osei'];

function word(rand: () => number): string {
  return rand() < 0.02 ? RARE_WORDS[Math.floor(rand() * RARE_WORDS.length)] : WORDS[Math.floor(rand() * WORDS.length)];
}

function line(rand: () => number, min: number, max: number): string {
  const n = min + Math.floor(rand() * (max - min + 1));
  const ws: string[] = [];
  for (let i = 0; i < n; i++) ws.push(word(rand));
  let s = ws.join(' ');
  s = s[0].toUpperCase() + s.slice(1);
  const r = rand();
  if (r < 0.15) s += ',';
  else if (r < 0.2) s += '.';
  else if (r < 0.22) s = `"${s}"`; // escaped quotes in JSON
  else if (r < 0.23) s += '\t\\'; // a tab and a backslash: escapes again
  return s;
}

/** Python's json.dumps(s) with ensure_ascii=True: every non-ASCII code unit as \uXXXX. */
function asciiJson(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The poem ids: 1..~1.01 n with ~1% holes (the real ids have gaps). */
export function makeIds(n: number, rand: () => number): Int32Array {
  const ids = new Int32Array(n);
  let id = 0;
  for (let i = 0; i < n; i++) {
    id += 1;
    while (rand() < 0.01) id += 1 + Math.floor(rand() * 3);
    ids[i] = id;
  }
  return ids;
}

/** A file written in ~256 K-character chunks, waiting for the stream to drain (bounded memory). */
export class Out {
  private ws;
  private buf: string[] = [];
  private pending = 0;
  readonly path: string;
  constructor(path: string) {
    this.path = path;
    this.ws = createWriteStream(path, { highWaterMark: 1 << 20 });
  }
  async put(s: string): Promise<void> {
    this.buf.push(s);
    this.pending += s.length;
    if (this.pending >= 256 << 10) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const chunk = this.buf.join('');
    this.buf = [];
    this.pending = 0;
    if (!this.ws.write(chunk)) await once(this.ws, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.ws.end();
    await once(this.ws, 'finish');
  }
}

async function writePoems(path: string, ids: Int32Array, rand: () => number): Promise<void> {
  const out = new Out(path);
  await out.put('{"poems": [');
  for (let i = 0; i < ids.length; i++) {
    const title = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => word(rand))
      .map((w) => w[0].toUpperCase() + w.slice(1)).join(' ');
    const stanzas = 1 + Math.floor(rand() * (rand() < 0.1 ? 12 : 5));
    const text: string[] = [];
    for (let s = 0; s < stanzas; s++) {
      const lines = 2 + Math.floor(rand() * 6);
      const block: string[] = [];
      for (let l = 0; l < lines; l++) block.push(line(rand, 3, 9));
      text.push(block.join('\n'));
    }
    const category = CATEGORIES[Math.floor(rand() * CATEGORIES.length)];
    const author = AUTHORS[Math.floor(rand() * AUTHORS.length)];
    const y = 1990 + Math.floor(rand() * 35);
    const mo = 1 + Math.floor(rand() * 12);
    const d = 1 + Math.floor(rand() * 28);
    const date = `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
    const content = text.join('\n\n');
    // About 5% of poems are written the way json.dumps(ensure_ascii=True) would: \u escapes.
    const enc = rand() < 0.05 ? asciiJson : JSON.stringify;
    await out.put(
      `${i ? ', ' : ''}{"id": ${ids[i]}, "title": ${enc(title)}, "author": ${enc(author)}, "content": ${enc(content)}, ` +
      `"category": ${enc(category)}, "line_count": ${content.split('\n').filter(Boolean).length}, ` +
      `"metadata": {"creation_date": "${date}", "source": "synthetic", "language": "en"}}`,
    );
  }
  await out.put(']}');
  await out.close();
}

async function writeEmbeddings(path: string, ids: Int32Array, dim: number, rand: () => number): Promise<void> {
  const out = new Out(path);
  await out.put(`{"metadata": {"embedding_dimension": ${dim}, "model": "synthetic-${dim}", "total_embeddings": ${ids.length}, ` +
    `"normalized": true}, "embeddings": [`);
  const v = new Float64Array(dim);
  const parts: string[] = new Array(dim);
  for (let i = 0; i < ids.length; i++) {
    let norm = 0;
    for (let k = 0; k < dim; k++) {
      // Sum of uniforms ~ normal-ish; a few tiny values give Python's exponent form ("3.1e-05").
      let x = rand() + rand() + rand() - 1.5;
      if (rand() < 0.004) x *= 1e-4;
      v[k] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    // Values are float32 (as a model emits them) printed as Python prints the float64 of a float32.
    for (let k = 0; k < dim; k++) parts[k] = pyFloat(Math.fround(v[k] / norm));
    await out.put(`${i ? ', ' : ''}{"poem_index": ${ids[i]}, "embedding": [${parts.join(', ')}]}`);
  }
  await out.put(']}');
  await out.close();
}

/** Per poem: every other id in a deterministic pseudo-random order (diversity: the poem itself first). */
async function writeLists(path: string, kind: 'similarity' | 'diversity', ids: Int32Array, rand: () => number): Promise<void> {
  const n = ids.length;
  const out = new Out(path);
  const idText = Array.from(ids, String);
  if (kind === 'similarity') {
    await out.put(`{"metadata": {"total_poems": ${n}, "method": "cosine", "model": "synthetic-768", "top_k": ${n - 1}}, "rankings": {`);
  } else {
    await out.put(`{"metadata": {"num_poems": ${n}, "top_k": ${n}, "method": "mmr", "lambda": 0.5}, "sequences": {`);
  }
  const order = new Int32Array(n);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    // Fisher-Yates over the row numbers, then drop the poem itself.
    for (let k = 0; k < n; k++) order[k] = k;
    for (let k = n - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1));
      const t = order[k];
      order[k] = order[j];
      order[j] = t;
    }
    parts.length = 0;
    if (kind === 'diversity') parts.push(idText[i]);
    for (let k = 0; k < n; k++) if (order[k] !== i) parts.push(idText[order[k]]);
    await out.put(`${i ? ', ' : ''}"${ids[i]}": [${parts.join(', ')}]`);
  }
  await out.put('}}');
  await out.close();
}

export interface GenerateResult {
  dir: string;
  files: { file: string; bytes: number; seconds: number }[];
  seconds: number;
}

export async function generate(size: Size, dir: string): Promise<GenerateResult> {
  const spec = SIZES[size];
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const started = performance.now();
  const ids = makeIds(spec.poems, prng(spec.seed));
  const files: GenerateResult['files'] = [];
  const step = async (name: string, fn: (path: string) => Promise<void>) => {
    const t = performance.now();
    const path = join(abs, name);
    await fn(path);
    files.push({ file: path, bytes: statSync(path).size, seconds: (performance.now() - t) / 1000 });
  };
  // Each file has its own stream of random numbers: changing one file's recipe leaves the others' bytes alone.
  await step(FILES.poems, (p) => writePoems(p, ids, prng(spec.seed + 1)));
  await step(FILES.embeddings, (p) => writeEmbeddings(p, ids, spec.dim, prng(spec.seed + 2)));
  await step(FILES.similarity, (p) => writeLists(p, 'similarity', ids, prng(spec.seed + 3)));
  await step(FILES.diversity, (p) => writeLists(p, 'diversity', ids, prng(spec.seed + 4)));
  return { dir: abs, files, seconds: (performance.now() - started) / 1000 };
}

const USAGE = `Usage: node bench/generate.ts --size small|seed|tang --out DIR [--limit N] [--threads N]

Writes deterministic synthetic inputs in the poetry pipeline's JSON shapes:
  poems.json, embeddings.json, similarity_rankings_cache.json, diversity_cache.json
  small  ${SIZES.small.poems} poems, ${SIZES.small.dim}-d embeddings, full lists (~6 MB)
  seed   ${SIZES.seed.poems} poems, ${SIZES.seed.dim}-d embeddings, full ${SIZES.seed.poems} x ${SIZES.seed.poems} lists (~830 MB)
  tang   the 57,607 poems of the Complete Tang Poems (real text, fetched on demand with npm pack chinese-poetry@2.0.1
         into DIR/src), 768-d embeddings from their text, exact top-100 similarity lists, 100-long diversity
         sequences (~940 MB; ~3 minutes on 2 cores). --limit N: only the first N poems (for trying it out);
         --threads N: worker threads (default: available cores; the bytes do not depend on it)
`;

class UsageError extends Error {}

export const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

async function cli(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        size: { type: 'string' }, out: { type: 'string' }, limit: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`generate: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const tang = values.size === 'tang';
  if (!values.size || !(tang || values.size in SIZES) || !values.out) {
    process.stderr.write(`generate: ${!values.out ? 'missing --out DIR' : `--size must be small, seed or tang, got ${JSON.stringify(values.size ?? '')}`}\n${USAGE}`);
    return 2;
  }
  const whole = (name: 'limit' | 'threads', min: number) => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (!tang) throw new UsageError(`--${name} is only for --size tang`);
    if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  let limit: number | undefined;
  let threads: number | undefined;
  try {
    limit = whole('limit', 2);
    threads = whole('threads', 1);
  } catch (err) {
    process.stderr.write(`generate: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  // tang lives in its own module (loaded only when asked for: it starts worker threads and fetches its source).
  const r = tang
    ? await (await import('./generate-tang.ts')).generateTang(values.out, { limit, threads })
    : await generate(values.size as Size, values.out);
  for (const f of r.files) process.stdout.write(`${f.file}  ${mb(f.bytes)}  ${f.seconds.toFixed(1)} s\n`);
  const total = r.files.reduce((a, f) => a + f.bytes, 0);
  process.stdout.write(`wrote ${r.files.length} files, ${mb(total)} in ${r.seconds.toFixed(1)} s\n`);
  return 0;
}

if (import.meta.url === `file://${resolve(process.argv[1] ?? '')}`) {
  cli(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {
    process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
