// Property-based fuzzing of the cache reader (test/support/fuzz-cases.ts): a short, seeded, deterministic run.
// scripts/fuzz.ts runs the same property at scale; docs/RELIABILITY.md records the results.
import { describe, expect, it } from 'vitest';
import { createFuzzer, describeRun, runFuzz } from './support/fuzz-cases.ts';
import { withoutNative } from './support/native.ts';

// Fixed, so CI is deterministic; POEM_FUZZ_SEED / POEM_FUZZ_CASES override it for a local exploration.
const SEED = Number(process.env.POEM_FUZZ_SEED ?? 20250601);
const CASES = Number(process.env.POEM_FUZZ_CASES ?? 1500);

describe('cache reader under random corruption (fast-check)', () => {
  withoutNative('fuzz.test: the native (mmap) path; the fallback path runs'); // skips nothing: says why, or fails in CI
  it('accepts every unmutated base image on both paths and reads it back as the image says', async () => {
    const fuzzer = await createFuzzer();
    try {
      expect(fuzzer.bases.map((b) => b.name)).toEqual([
        'full-dense',
        'sparse-sorted',
        'empty',
        'extra-sections',
        'single',
      ]);
      fuzzer.bases.forEach((_, base) => {
        fuzzer.check({ base, mutations: [], seal: 'none' });
      });
      const paths = fuzzer.native ? [fuzzer.stats.native, fuzzer.stats.fallback] : [fuzzer.stats.fallback];
      for (const p of paths) expect(p).toEqual({ accepted: fuzzer.bases.length, rejected: 0 });
      expect(fuzzer.stats.metadataErrors).toBe(0);
    } finally {
      fuzzer.close();
    }
  });

  it('rejects with a format error or reads inside the image, natively and in the fallback alike ' +
    `(${CASES} cases, seed ${SEED})`, async () => {
    const result = await runFuzz({ cases: CASES, seed: SEED, watchdogMs: 20_000 });
    console.log(describeRun(result).join('\n'));
    expect(result.failure?.message, result.failure && describeRun(result).slice(-3).join('\n')).toBeUndefined();
    expect(result.stats.cases).toBe(CASES);
    // The mutations reach both outcomes, and past the checksums into the deep checks.
    expect(result.stats.fallback.accepted).toBeGreaterThan(CASES / 20);
    expect(result.stats.fallback.rejected).toBeGreaterThan(CASES / 4);
    expect([...result.stats.reasons.keys()].some((k) => k.includes('string offset'))).toBe(true);
  }, 60_000);
});
