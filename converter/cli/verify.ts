// poem-cache verify FILE: every check verifyImage (cache/verify.ts) makes; OK with a summary, or the problems.
import { parseCache } from '../../cache/validate.ts';
import { SectionName } from '../../cache/layout.ts';
import { verifyImage } from '../../cache/verify.ts';
import { oneFile, parse, type CliIO } from './common.ts';
import { fmtBytes, fmtInt } from './format.ts';
import { readImage } from './image.ts';

export async function verify(args: string[], io: CliIO): Promise<number> {
  const { positionals } = parse('verify', args, {}, true);
  const path = oneFile('verify', positionals);
  const started = performance.now();
  const bytes = readImage(path);
  const problems = verifyImage(path, bytes);
  if (problems.length) {
    for (const p of problems) io.stderr.write(`${p}\n`);
    io.stderr.write(`${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const parsed = parseCache(bytes, path, { indexes: false });
  const rows = fmtInt(parsed.sections.find((s) => s.name === SectionName.ids)?.count ?? 0);
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const summary = `${rows} rows, ${parsed.sections.length} sections, ${fmtBytes(bytes.byteLength)}, ${seconds} s`;
  io.stdout.write(`${path}: OK (${summary})\n`);
  return 0;
}
