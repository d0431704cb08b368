// The reader fuzz property of test/fuzz.test.ts at scale:
//   node scripts/fuzz.ts --cases 100000 [--seed N] [--path P]
// Prints counts, time and, on failure, the shrunk counterexample with the seed and path that replay it.
import { parseArgs } from 'node:util';
import { describeRun, runFuzz } from '../test/support/fuzz-cases.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    path: { type: 'string' },
    'watchdog-ms': { type: 'string', default: '30000' },
  },
});
const cases = Number(values.cases);
const seed = values.seed === undefined ? (Date.now() ^ (Math.random() * 0x100000000)) | 0 : Number(values.seed);
if (!Number.isInteger(cases) || cases <= 0 || !Number.isInteger(seed)) {
  console.error('usage: node scripts/fuzz.ts --cases N [--seed S] [--path P] [--watchdog-ms MS]');
  process.exit(2);
}
console.log(
  `fuzz: ${cases} cases, seed ${seed}${values.path ? `, path ${values.path}` : ''}, ` +
    `node ${process.version}, started ${new Date().toISOString()}`,
);
const started = Date.now();
const result = await runFuzz({
  cases,
  seed,
  path: values.path,
  watchdogMs: Number(values['watchdog-ms']),
  onProgress: (done) => console.log(`  ${done} cases, ${((Date.now() - started) / 1000).toFixed(0)} s`),
});
console.log(describeRun(result, 60).join('\n'));
process.exitCode = result.failure ? 1 : 0;
