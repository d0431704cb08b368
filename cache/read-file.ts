// The one chunked read of a whole file into memory the caller owns: a SharedArrayBuffer (reader.ts), a
// shared-memory segment (shm.ts), a plain buffer (the CLI's verify). Chunks keep each readSync call bounded
// (a single call may move at most 2 GiB).
import { readSync } from 'node:fs';

const CHUNK = 8 << 20;

/**
 * Reads the file open as `fd` from its start into `target`, up to target.length bytes. Returns how many bytes
 * it read: fewer than target.length means the file is shorter than that now (it shrank; the caller says so).
 */
export function readFileInto(fd: number, target: Uint8Array): number {
  let at = 0;
  while (at < target.length) {
    const n = readSync(fd, target, at, Math.min(CHUNK, target.length - at), at);
    if (n === 0) break;
    at += n;
  }
  return at;
}
