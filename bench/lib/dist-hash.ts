// A built site's files hashed (sha256 of each, and one hash over paths and hashes in path order): what
// bench/astro-build.ts and bench/incremental.ts compare builds by. heavy*: the similar/different pages.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface Dist {
  hash: string;
  files: Map<string, string>;
  count: number;
  bytes: number;
  heavyFiles: number;
  heavyBytes: number;
}

export function hashDist(dir: string): Dist {
  const files = new Map<string, string>();
  let bytes = 0;
  let heavyFiles = 0;
  let heavyBytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const buf = readFileSync(p);
        const r = relative(dir, p);
        files.set(r, createHash('sha256').update(buf).digest('hex'));
        bytes += buf.length;
        if (/^(similar|different)\//.test(r)) {
          heavyFiles++;
          heavyBytes += buf.length;
        }
      }
    }
  };
  walk(dir);
  const h = createHash('sha256');
  for (const [p, x] of files) h.update(`${p}\0${x}\n`);
  return { hash: h.digest('hex'), files, count: files.size, bytes, heavyFiles, heavyBytes };
}
