// ConvertError: every input problem the converter reports, with file, position and poem id when known.

export interface ErrorPosition {
  line?: number;
  column?: number;
  offset?: number;
}

/**
 * Message format: `${file}:${line}:${column}: ${what}, expected ${expected}` plus ` (poem id N)` when known.
 * Without a line (stream-json path, or problems found after parsing) the position part is left out, or
 * given as `byte N` when only an approximate byte offset is known.
 */
export class ConvertError extends Error {
  file: string;
  line?: number;
  column?: number;
  offset?: number;
  poemId?: number;
  what: string;
  expected?: string;

  constructor(file: string, what: string, expected?: string, pos: ErrorPosition = {}, poemId?: number) {
    const where = pos.line !== undefined ? `${file}:${pos.line}:${pos.column}` : pos.offset !== undefined ? `${file}: byte ${pos.offset}` : file;
    super(`${where}: ${what}${expected !== undefined ? `, expected ${expected}` : ''}${poemId !== undefined ? ` (poem id ${poemId})` : ''}`);
    this.name = 'ConvertError';
    this.file = file;
    this.line = pos.line;
    this.column = pos.column;
    this.offset = pos.offset;
    this.poemId = poemId;
    this.what = what;
    this.expected = expected;
  }
}

/** Thrown by a list consumer for one element of a numeric batch; the source turns it into a ConvertError at that element. */
export class ElementError extends Error {
  index: number;
  what: string;
  expected?: string;
  poemId?: number;
  constructor(index: number, what: string, expected?: string, poemId?: number) {
    super(what);
    this.index = index;
    this.what = what;
    this.expected = expected;
    this.poemId = poemId;
  }
}

/** Thrown when the caller's AbortSignal fires. */
export class AbortError extends Error {
  constructor(reason?: unknown) {
    super(`conversion aborted${reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : ''}`);
    this.name = 'AbortError';
  }
}
