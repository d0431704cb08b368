import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import this package by name: resolve it to the TypeScript sources (package.json "source"), not to
  // dist/, which only `npm pack` builds.
  resolve: { conditions: ['source', 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
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
