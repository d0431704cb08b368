// Leftovers of converters that died (SIGKILL, power loss): CacheWriter temp files `${out}.tmp-<pid>-<hex>`
// and spool files `${out}.spool-<pid>-<hex>-<what>` beside the cache. Removed at the start of the next
// conversion (under the output's lock, converter/guard.ts) when <pid> is not a live process on this
// machine; a live process's files are never touched.
import { readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pidAlive } from '../cache/pid.ts';

export { pidAlive };

/** The pid in a leftover's name, or undefined when the name is not a temp or spool file of `out`. */
export function leftoverPid(out: string, name: string): number | undefined {
  const base = basename(out);
  for (const mark of ['.tmp-', '.spool-']) {
    const prefix = `${base}${mark}`;
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-[0-9a-f]+/.exec(name.slice(prefix.length));
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * Removes the temp and spool files of `out` left by processes that no longer exist; returns the paths removed.
 * Files of this process and of any live process are kept (another conversion may be writing them).
 */
export async function removeDeadLeftovers(out: string): Promise<string[]> {
  const dir = dirname(out);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  await Promise.all(
    names.map(async (name) => {
      const pid = leftoverPid(out, name);
      if (pid === undefined || pidAlive(pid)) return;
      const path = join(dir, name);
      try {
        await unlink(path);
        removed.push(path);
      } catch {
        // gone already (another process cleaned it) or not removable: leave it
      }
    }),
  );
  return removed.sort();
}
