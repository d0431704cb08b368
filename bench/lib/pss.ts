// Memory figures from /proc: PSS divides every shared page among the processes that map it, so the sum
// over processes is the memory really used. RSS would count a shared mapping once per mapper.
import { readFileSync } from 'node:fs';

/** Pss and Rss of a process in bytes, from /proc/PID/smaps_rollup. */
export function memoryOf(pid: number | 'self' = 'self'): { pss: number; rss: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { pss: kb('Pss'), rss: kb('Rss') };
}

export const mb = (bytes: number) => bytes / (1 << 20);
export const fmtMB = (bytes: number) => `${mb(bytes).toFixed(1)} MB`;

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
