// Numbers, sizes and tables as the commands print them.
import { SectionKind } from '../../cache/layout.ts';

export const fmtInt = (n: number) => n.toLocaleString('en-US');
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
export const fmtMB = (n: number) => (n / 1e6).toFixed(1);
export function fmtEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.ceil(s % 60)).padStart(2, '0')} s`;
}

/** Columns padded to their widest cell (in characters), two spaces apart. */
export function table(rows: string[][], rightAlign: boolean[] = []): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => [...(r[c] ?? '')].length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, c) => {
            const pad = ' '.repeat(widths[c] - [...cell].length);
            return rightAlign[c] ? pad + cell : cell + pad;
          })
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const KIND_NAMES: Record<number, string> = Object.fromEntries(Object.entries(SectionKind).map(([k, v]) => [v, k]));
export const kindName = (k: number) => KIND_NAMES[k] ?? `unknown(${k})`;
