// Child process for test/shm.test.ts: publishes a cache file to shared memory, prints the segment name as
// one JSON line, then ends as the mode says (the parent checks what is left in /dev/shm).
import { publishToShm } from '../../cache/shm.ts';

const [cacheFile, mode] = process.argv.slice(2);
if (mode === 'other-listener') {
  // Someone else owns SIGTERM: they decide how the process ends (here: exit code 7).
  process.on('SIGTERM', () => setTimeout(() => process.exit(7), 50));
}
const { name, reader } = publishToShm(cacheFile);
process.stdout.write(JSON.stringify({ name, pid: process.pid, count: reader?.count }) + '\n');
switch (mode) {
  case 'exit':
    break; // normal end of the event loop
  // biome-ignore lint/suspicious/noFallthroughSwitchClause: process.exit never returns
  case 'process-exit':
    process.exit(3);
  case 'throw':
    setTimeout(() => {
      throw new Error('boom (uncaught, on purpose)');
    }, 10);
    break;
  case 'reject':
    setTimeout(() => {
      void Promise.reject(new Error('unhandled rejection (on purpose)'));
    }, 10);
    break;
  default:
    setInterval(() => {}, 1000); // wait for a signal
}
