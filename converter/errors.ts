// ConvertError: every input problem the converter reports, with file, position and poem when known.

export interface ErrorPosition {
  line?: number;
  column?: number;
  offset?: number;
}

/**
 * Message format: `${file}:${line}:${column}: ${what}, expected ${expected}` plus ` (poem id N)` or ` (<poem>)`
 * when known. Without a line (stream-json path, or problems found after parsing) the position part is left
 * out, or given as `byte N` when only an approximate byte offset is known.
 */
export class ConvertError extends Error {
  file: string;
  line?: number;
  column?: number;
  offset?: number;
  /** The poem concerned: its id (poems.json) or a description such as "poem_index 57 (fediverse/0058.txt)". */
  poem?: number | string;
  what: string;
  expected?: string;
  /** The input disagrees with poems.json (unknown or missing poems, counts): what onMismatch: 'warn' reconciles. */
  mismatch = false;

  constructor(file: string, what: string, expected?: string, pos: ErrorPosition = {}, poem?: number | string) {
    const where =
      pos.line !== undefined
        ? `${file}:${pos.line}:${pos.column}`
        : pos.offset !== undefined
          ? `${file}: byte ${pos.offset}`
          : file;
    const about = poem === undefined ? '' : typeof poem === 'number' ? ` (poem id ${poem})` : ` (${poem})`;
    super(`${where}: ${what}${expected !== undefined ? `, expected ${expected}` : ''}${about}`);
    this.name = 'ConvertError';
    this.file = file;
    this.line = pos.line;
    this.column = pos.column;
    this.offset = pos.offset;
    this.poem = poem;
    this.what = what;
    this.expected = expected;
  }
}

/**
 * Thrown by a list consumer for one element of a numeric batch; the source turns it into a ConvertError at that
 * element.
 */
export class ElementError extends Error {
  index: number;
  what: string;
  expected?: string;
  poem?: number | string;
  mismatch: boolean;
  constructor(index: number, what: string, expected?: string, poem?: number | string, mismatch = false) {
    super(what);
    this.index = index;
    this.what = what;
    this.expected = expected;
    this.poem = poem;
    this.mismatch = mismatch;
  }
}

/** Thrown when the caller's AbortSignal fires. */
export class AbortError extends Error {
  constructor(reason?: unknown) {
    super(
      'conversion aborted' +
        (reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : ''),
    );
    this.name = 'AbortError';
  }
}
