// One "build" for test/shm-builds.test.ts, doing exactly what the integration does with share: 'shm' at
// astro:build:start and astro:build:done, minus Vite: sweep stale segments, publish the cache file, hand the
// name to render threads through the environment (threads inherit a copy of process.env at creation), let
// every thread open the segment read-only with openShm (as the virtual module's getCache() does) and read
// every poem, then stop the threads and release the segment. Prints one JSON line per step so the parent can
// interrupt it anywhere.
import { Worker } from 'node:worker_threads';
import { openShm } from '../../cache/reader.ts';
import { publishToShm, releaseShm, SHM_ENV, sweepStaleShm, unlinkAllOnError } from '../../cache/shm.ts';

const [cacheFile, threadsArg, roundsArg] = process.argv.slice(2);
const threads = Number(threadsArg ?? 2);
const rounds = Number(roundsArg ?? 20);
const say = (o: object) => process.stdout.write(JSON.stringify({ pid: process.pid, ...o }) + '\n');

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.reader).then(({ openShm }) => {
  let sum = 0;
  for (let k = 0; k < workerData.rounds; k++) {
    const cache = openShm(process.env[workerData.env]);
    for (let row = 0; row < cache.count; row++) sum += cache.idOf(row) + cache.title(row).length;
  }
  parentPort.postMessage(sum);
});
`;

async function main(): Promise<void> {
  const swept = sweepStaleShm();
  say({ step: 'swept', swept });
  const { name, reader } = publishToShm(cacheFile);
  process.env[SHM_ENV] = name;
  say({ step: 'published', name });
  try {
    let expected = 0;
    for (let row = 0; row < reader!.count; row++) expected += reader!.idOf(row) + reader!.title(row).length;
    const sums = await Promise.all(
      Array.from(
        { length: threads },
        () =>
          new Promise<number>((res, rej) => {
            const w = new Worker(WORKER, {
              eval: true,
              workerData: { reader: new URL('../../cache/reader.ts', import.meta.url).href, env: SHM_ENV, rounds },
            });
            w.once('message', (s: number) => {
              res(s);
              void w.terminate();
            });
            w.once('error', rej);
          }),
      ),
    );
    if (sums.some((s) => s !== expected * rounds)) throw new Error(`thread sums ${sums} != ${expected * rounds}`);
    if (openShm(name).count !== reader!.count) throw new Error('main-thread reopen differs');
    say({ step: 'rendered', threads, sum: expected });
  } catch (err) {
    unlinkAllOnError();
    throw err;
  }
  releaseShm(name);
  delete process.env[SHM_ENV];
  say({ step: 'done' });
}

await main();
