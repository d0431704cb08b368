// Proportional set size (Linux): the process total from /proc/<pid>/smaps_rollup and the share of one
// mapped file from /proc/<pid>/smaps. Worker threads live in the process, so there is no per-thread PSS:
// the process number covers the main thread and every worker, and a file mapped once per thread shows up
// as several mappings whose PSS (shared pages divided among their mappers) adds up to one copy.
import { readFileSync } from 'node:fs';

export interface PssReport {
  pid: number;
  /** Process PSS in kB (undefined when /proc is not readable). */
  processKb?: number;
  /** PSS of every mapping of the cache file, summed, in kB. */
  cacheKb?: number;
  /** RSS of those mappings summed (counts a page once per mapping), in kB. */
  cacheRssKb?: number;
  /** How many mappings of the cache file the process holds (one per thread that opened it with mmap). */
  cacheMappings: number;
}

export function readPss(cacheFile: string, pid: number | 'self' = 'self'): PssReport {
  const report: PssReport = { pid: pid === 'self' ? process.pid : pid, cacheMappings: 0 };
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+) kB/m.exec(rollup);
    if (m) report.processKb = Number(m[1]);
  } catch {
    return report;
  }
  try {
    const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n');
    let inCache = false;
    let pss = 0;
    let rss = 0;
    for (const line of smaps) {
      // Mapping header: "start-end perms offset dev inode   path"
      const header = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
      if (header) {
        inCache = header[1] === cacheFile || header[1] === `${cacheFile} (deleted)`;
        if (inCache) report.cacheMappings++;
        continue;
      }
      if (!inCache) continue;
      const pm = /^Pss:\s+(\d+) kB/.exec(line);
      if (pm) pss += Number(pm[1]);
      const rm = /^Rss:\s+(\d+) kB/.exec(line);
      if (rm) rss += Number(rm[1]);
    }
    report.cacheKb = pss;
    report.cacheRssKb = rss;
  } catch {
    // smaps unreadable: process number only
  }
  return report;
}

const mbOf = (kb: number | undefined) => (kb === undefined ? '?' : (kb / 1024).toFixed(kb < 1024 ? 3 : 1));

export function describePss(r: PssReport, workers: number): string {
  if (r.processKb === undefined) return `PSS not available (no /proc/${r.pid}/smaps_rollup on this system)`;
  const each = mbOf((r.cacheKb ?? 0) / Math.max(1, r.cacheMappings));
  const perWorker =
    workers > 0
      ? `; per worker: the ${workers} worker thread(s) share this process, so there is no separate per-worker PSS — ` +
        `each thread maps the cache itself and the ${r.cacheMappings} mapping(s) together cost ${mbOf(r.cacheKb)} MB ` +
        `PSS (≈${each} MB each; RSS summed over mappings ${mbOf(r.cacheRssKb)} MB counts shared pages once per ` +
        'mapping)'
      : `; cache mapping(s): ${r.cacheMappings}, ${mbOf(r.cacheKb)} MB PSS`;
  const source = `pid ${r.pid}: main thread + all worker threads, from /proc/${r.pid}/smaps_rollup`;
  return `process PSS ${mbOf(r.processKb)} MB (${source})${perWorker}`;
}
