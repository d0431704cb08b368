// One input that refers to poems (embeddings, similarity, diversity) converted to spool files: run in a
// piscina worker thread, or in the calling thread when workers is 0. Only paths, the poem list and small
// per-row arrays cross the thread boundary.
import { readEmbeddings } from './embeddings.ts';
import { ConvertError } from './errors.ts';
import { PoemIndex, type KeyMode, type KeyReading, type PoemList } from './identity.ts';
import { readLists } from './lists.ts';
import { openSource, type ParserChoice } from './open-source.ts';
import type { KeyedRole } from './roles.ts';
import { spoolName } from './spool.ts';
import { Ticker } from './ticker.ts';

export interface InputTask {
  role: KeyedRole;
  file: string;
  poems: PoemList;
  keys: KeyMode;
  /** Spool path prefix; the task appends "-<what>". */
  spoolBase: string;
  parser: ParserChoice;
  chunkSize?: number;
  matrixInMemory?: number;
  progress?: SharedArrayBuffer;
  slot: number;
}

export interface InputResult {
  role: KeyedRole;
  reading: KeyReading;
  sourceMeta: Record<string, unknown>;
  crc: number;
  bytes: number;
  seconds: number;
  spools: string[];
  matrix?: { file: string; dim: number };
  ragged?: { valuesFile: string; scoresFile?: string; starts: Uint32Array; lengths: Uint32Array; total: number };
}

export type SerializedError = {
  convertError: true;
  file: string;
  message: string;
  what: string;
  expected?: string;
  line?: number;
  column?: number;
  offset?: number;
  poem?: number | string;
  mismatch: boolean;
};

export async function runInput(task: InputTask, signal?: AbortSignal): Promise<InputResult> {
  const t0 = performance.now();
  const ticker = new Ticker(task.progress ? new Float64Array(task.progress) : undefined, task.slot, signal);
  const index = new PoemIndex(task.poems);
  const src = openSource(task.file, task.parser, task.chunkSize);
  const seconds = () => (performance.now() - t0) / 1000;
  try {
    if (task.role === 'embeddings') {
      const file = spoolName(task.spoolBase, 'embeddings');
      const r = await readEmbeddings(src, index, file, ticker, {
        keys: task.keys,
        matrixInMemory: task.matrixInMemory,
      });
      return {
        role: task.role,
        reading: r.reading,
        sourceMeta: r.sourceMeta,
        crc: r.crc,
        bytes: r.bytes,
        seconds: seconds(),
        spools: [file],
        matrix: { file, dim: r.dim },
      };
    }
    const r = await readLists(src, task.role, index, (what) => spoolName(task.spoolBase, what), ticker, {
      keys: task.keys,
    });
    return {
      role: task.role,
      reading: r.reading,
      sourceMeta: r.sourceMeta,
      crc: r.crc,
      bytes: r.bytes,
      seconds: seconds(),
      spools: [r.valuesFile, ...(r.scoresFile ? [r.scoresFile] : [])],
      ragged: {
        valuesFile: r.valuesFile,
        scoresFile: r.scoresFile,
        starts: r.starts,
        lengths: r.lengths,
        total: r.total,
      },
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
      return {
        error: {
          convertError: true,
          file: err.file,
          message: err.message,
          what: err.what,
          expected: err.expected,
          line: err.line,
          column: err.column,
          offset: err.offset,
          poem: err.poem,
          mismatch: err.mismatch,
        },
      };
    }
    throw err;
  }
}

export function reviveError(e: SerializedError): ConvertError {
  const err = new ConvertError(
    e.file,
    e.what,
    e.expected,
    { line: e.line, column: e.column, offset: e.offset },
    e.poem,
  );
  err.message = e.message;
  err.mismatch = e.mismatch;
  return err;
}
