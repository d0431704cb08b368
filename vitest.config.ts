import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Native mappings, worker threads and Astro builds: forks isolate a crash to one test file.
    pool: 'forks',
    // Astro builds and Chromium are heavy; on 2 cores more parallel files only thrash.
    maxWorkers: 2,
    reporters: ['default', 'json'],
    // .ci/run prints its closing line from this report.
    outputFile: { json: 'node_modules/.cache/vitest-report.json' },
  },
});
