// One independent input (embeddings, similarity, diversity) converted to spool files: run in a piscina
// worker thread, or in the calling thread when workers is 0. Only paths, the id list and small per-row
// arrays cross the thread boundary.
import { ConvertError } from './errors.ts';
import { IdIndex, openSource, readEmbeddings, readRagged, Ticker, type ParserChoice } from './inputs.ts';

export interface InputTask {
  role: 'embeddings' | 'similarity' | 'diversity';
  file: string;
  ids: Int32Array;
  /** Spool path prefix; the task appends "-<what>". */
  spoolBase: string;
  parser: ParserChoice;
  chunkSize?: number;
  progress?: SharedArrayBuffer;
  slot: number;
}

export interface InputResult {
  role: InputTask['role'];
  sourceMeta: Record<string, unknown>;
  crc: number;
  bytes: number;
  seconds: number;
  spools: string[];
  matrix?: { file: string; dim: number };
  ragged?: { valuesFile: string; scoresFile?: string; starts: Uint32Array; lengths: Uint32Array; total: number };
}

export type SerializedError = { convertError: true; file: string; message: string; what: string; expected?: string; line?: number; column?: number; offset?: number; poemId?: number };

export const spoolName = (base: string, what: string): string => `${base}-${what}`;

export async function runInput(task: InputTask, signal?: AbortSignal): Promise<InputResult> {
  const t0 = performance.now();
  const ticker = new Ticker(task.progress ? new Float64Array(task.progress) : undefined, task.slot, signal);
  const index = new IdIndex(task.ids);
  const src = openSource(task.file, task.parser, task.chunkSize);
  try {
    if (task.role === 'embeddings') {
      const file = spoolName(task.spoolBase, 'embeddings');
      const r = await readEmbeddings(src, index, file, ticker);
      return { role: task.role, sourceMeta: r.sourceMeta, crc: r.crc, bytes: r.bytes, seconds: (performance.now() - t0) / 1000, spools: [file], matrix: { file, dim: r.dim } };
    }
    const r = await readRagged(src, task.role, index, (what) => spoolName(task.spoolBase, what), ticker);
    return {
      role: task.role, sourceMeta: r.sourceMeta, crc: r.crc, bytes: r.bytes, seconds: (performance.now() - t0) / 1000,
      spools: [r.valuesFile, ...(r.scoresFile ? [r.scoresFile] : [])],
      ragged: { valuesFile: r.valuesFile, scoresFile: r.scoresFile, starts: r.starts, lengths: r.lengths, total: r.total },
    };
  } finally {
    src.close();
  }
}

/** Piscina entry: ConvertErrors come back as data (structured clone would drop their class and fields). */
export default async function (task: InputTask): Promise<InputResult | { error: SerializedError }> {
  try {
    return await runInput(task);
  } catch (err) {
    if (err instanceof ConvertError) {
      return { error: { convertError: true, file: err.file, message: err.message, what: err.what, expected: err.expected, line: err.line, column: err.column, offset: err.offset, poemId: err.poemId } };
    }
    throw err;
  }
}

export function reviveError(e: SerializedError): ConvertError {
  const err = new ConvertError(e.file, e.what, e.expected, { line: e.line, column: e.column, offset: e.offset }, e.poemId);
  err.message = e.message;
  return err;
}
