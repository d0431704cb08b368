// What every command shares: the I/O it writes to, its two kinds of error (exit 2: usage, exit 1: failure),
// argument parsing and error messages that name the file.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const PROG = 'poem-cache';

export interface Writable {
  write(s: string): unknown;
}
export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr (where progress goes) is a terminal: one updating line instead of a line every ~2 s. */
  isTTY?: boolean;
}

export const processIO = (): CliIO => ({
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: Boolean(process.stderr.isTTY),
});

/** Exit 2: the command line is wrong. */
export class UsageError extends Error {
  command?: string;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}
/** Exit 1: the data or a file is wrong; the message names the file. */
export class Failure extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
export function parse<O extends Options>(command: string, args: string[], options: O, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    // parseArgs messages are one line with a code; keep them and say where to look.
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(message, command);
  }
}

/** The one FILE of inspect, verify and query. */
export function oneFile(command: string, positionals: string[]): string {
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}` : 'missing FILE', command);
  }
  return positionals[0];
}

export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** Names the file in every error: "FILE: no such file", "FILE: is a directory", ... */
export function fileError(path: string, e: unknown, what = 'file'): Failure {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new Failure(`${path}: no such ${what}`);
  if (code === 'EISDIR') return new Failure(`${path}: is a directory, expected a ${what}`);
  if (code === 'EACCES') return new Failure(`${path}: permission denied`);
  return new Failure(`${path}: ${oneLine(e)}`);
}
