#!/usr/bin/env node
// Biome formats code to 120 columns but leaves long strings, comments and .astro/C++ files as they are;
// this names every tracked source line still over the limit.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const LIMIT = 120;
const SOURCE = /\.(ts|mjs|js|astro|cc|h)$/;
const EXCLUDED = /^(example-site\/data|bench\/data|bench\/out)\//;

const files = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8' })
  .split('\0')
  .filter((f) => SOURCE.test(f) && !EXCLUDED.test(f));
let long = 0;
for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    // Columns as an editor counts them: code points, not UTF-16 units.
    const width = [...line].length;
    if (width > LIMIT) {
      long++;
      console.log(`${file}:${i + 1}: ${width} columns (limit ${LIMIT})`);
    }
  });
}
if (long > 0) {
  console.log(`${long} line(s) over ${LIMIT} columns`);
  process.exit(1);
}
console.log(`${files.length} files: every line within ${LIMIT} columns`);
