import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Native mappings and worker threads: forks isolate a crash to one test file.
    pool: 'forks',
  },
});
