// Deterministic benchmark data in the poetry pipeline's real file shapes (same bytes on every run):
//   node bench/generate.ts --size small|seed|tang --out DIR
// writes DIR/poems.json, DIR/embeddings.json, DIR/similarity_rankings_cache.json, DIR/diversity_cache.json.
//   small: 300 poems in the 4 real categories with every feature, 768-d, full lists (~4 MB; CI smoke tests)
//   seed:  7,790 poems as the real file has them (fediverse 5,977, fediverse_boost 458, messages 1,081,
//          notes 274), 768-d, exact full N - 1 rankings and full diversity walks (~740 MB; the benchmark scale)
//   tang:  the 57,607 real poems of the Complete Tang Poems, top-100 lists (bench/generate-tang.ts)
// small and seed come from scripts/pipeline/generate.ts (its header describes the data); their files are
// streamed, and memory peaks at the n x n neighbour orders the diversity walks need (121 MB at seed).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SIZES, writePipeline, type GenerateResult } from '../scripts/pipeline/generate.ts';

export type Size = keyof typeof SIZES;

export function generate(size: Size, dir: string, log?: (line: string) => void): Promise<GenerateResult> {
  return writePipeline(dir, SIZES[size], log);
}

const USAGE = `Usage: node bench/generate.ts --size small|seed|tang --out DIR [--limit N] [--threads N]

Writes deterministic inputs in the poetry pipeline's real shapes (dkjson poems and embeddings, C-written
similarity rankings by 1-based poem_index, compact diversity sequences by 0-based position):
  poems.json, embeddings.json, similarity_rankings_cache.json, diversity_cache.json
  small  ${SIZES.small.poems} poems in 4 categories, ${SIZES.small.dim}-d embeddings, full lists (~4 MB)
  seed   ${SIZES.seed.poems} poems in 4 categories, ${SIZES.seed.dim}-d embeddings, exact full
         ${SIZES.seed.poems} x ${SIZES.seed.poems} lists (~740 MB)
  tang   the 57,607 poems of the Complete Tang Poems (real text, fetched on demand with npm pack chinese-poetry@2.0.1
         into DIR/src), 768-d embeddings from their text, exact top-100 similarity lists, 100-long diversity
         sequences (~3 minutes on 2 cores). --limit N: only the first N poems (for trying it out);
         --threads N: worker threads (default: available cores; the bytes do not depend on it)
`;

class UsageError extends Error {}

export const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

async function cli(argv: string[]): Promise<number> {
  let values: { size?: string; out?: string; limit?: string; threads?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        size: { type: 'string' },
        out: { type: 'string' },
        limit: { type: 'string' },
        threads: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
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
    const problem = !values.out
      ? 'missing --out DIR'
      : `--size must be small, seed or tang, got ${JSON.stringify(values.size ?? '')}`;
    process.stderr.write(`generate: ${problem}\n${USAGE}`);
    return 2;
  }
  const whole = (name: 'limit' | 'threads', min: number) => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (!tang) throw new UsageError(`--${name} is only for --size tang`);
    if (!/^\d+$/.test(v) || Number(v) < min)
      throw new UsageError(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
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
  const log = (line: string) => process.stdout.write(`${line}\n`);
  // tang lives in its own module (loaded only when asked for: it starts worker threads and fetches its source).
  const r = tang
    ? await (await import('./generate-tang.ts')).generateTang(values.out, { limit, threads })
    : await generate(values.size as Size, values.out, log);
  for (const f of r.files) process.stdout.write(`${f.file}  ${mb(f.bytes)}  ${f.seconds.toFixed(1)} s\n`);
  const total = r.files.reduce((a, f) => a + f.bytes, 0);
  process.stdout.write(`wrote ${r.files.length} files, ${mb(total)} in ${r.seconds.toFixed(1)} s\n`);
  return 0;
}

if (import.meta.url === `file://${resolve(process.argv[1] ?? '')}`) {
  cli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
