// convert's progress on stderr: one line rewritten on a terminal, plain lines otherwise.
import type { ConvertOptions } from '../index.ts';
import type { CliIO } from './common.ts';
import { fmtEta, fmtMB } from './format.ts';

type Progress = Parameters<NonNullable<ConvertOptions['onProgress']>>[0];

/** TTY: one line rewritten with \r (at most ~10 times a second). Else: a line per file start and end, every ~2 s. */
export function progressReporter(io: CliIO): { update: (p: Progress) => void; end: () => void } {
  const tty = Boolean(io.isTTY);
  let lastWidth = 0;
  let lastAt = 0;
  let lastFile = '';
  let finished = new Set<string>();
  const text = (p: Progress) =>
    `${p.file}  ${fmtMB(p.bytesRead)}/${fmtMB(p.totalBytes)} MB  ` +
    `${fmtMB(p.bytesPerSecond)} MB/s  ETA ${fmtEta(p.etaSeconds)}`;
  return {
    update(p) {
      const now = performance.now();
      const done = p.bytesRead >= p.totalBytes;
      if (tty) {
        if (p.file === lastFile && !done && now - lastAt < 100) return;
        const line = text(p);
        io.stderr.write(`\r${line}${' '.repeat(Math.max(0, lastWidth - line.length))}`);
        lastWidth = line.length;
      } else {
        const first = p.file !== lastFile && !finished.has(p.file);
        const last = done && !finished.has(p.file);
        if (!first && !last && now - lastAt < 2000) return;
        if (done) finished.add(p.file);
        io.stderr.write(`${text(p)}\n`);
      }
      lastAt = now;
      lastFile = p.file;
    },
    end() {
      if (tty && lastWidth > 0) io.stderr.write(`\r${' '.repeat(lastWidth)}\r`);
      lastWidth = 0;
      finished = new Set();
    },
  };
}
