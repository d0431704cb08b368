// poem-cache: convert the pipeline's JSON caches to one binary cache, and inspect, verify and query it.
// No CLI framework: node:util parseArgs. Exit codes: 0 ok, 1 failure (bad data, missing file, verify
// problems), 2 usage (unknown command or flag, missing required flag). Errors go to stderr, one line each.
// bin/poem-cache.mjs runs main(); each command lives in its own module here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { oneLine, processIO, PROG, UsageError, type CliIO } from './common.ts';
import { convert } from './convert.ts';
import { HELP } from './help.ts';
import { inspect } from './inspect.ts';
import { query } from './query.ts';
import { verify } from './verify.ts';

export type { CliIO, Writable } from './common.ts';

const COMMANDS: Record<string, (args: string[], io: CliIO) => Promise<number>> = { convert, inspect, verify, query };

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

/** The package's version: its package.json found by the package's own name (the same from the sources and dist/). */
function version(): string {
  const file = createRequire(import.meta.url).resolve('astro-poem-cache/package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Runs the CLI; returns the exit code (the bin sets process.exitCode to it). */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const out = (s: string) => io.stdout.write(s);
  const err = (s: string) => io.stderr.write(s);
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      err(HELP.global);
      return 2;
    }
    if (command === '--help' || command === '-h' || command === 'help') {
      const topic = command === 'help' ? rest[0] : undefined;
      if (topic !== undefined && !(topic in HELP && topic !== 'global')) {
        throw new UsageError(`unknown command "${topic}"`);
      }
      out(HELP[topic ?? 'global']);
      return 0;
    }
    if (command === '--version' || command === '-v') {
      out(`${version()}\n`);
      return 0;
    }
    if (!(command in COMMANDS)) {
      if (command.startsWith('-')) throw new UsageError(`unknown option "${command}" (a command comes first)`);
      throw new UsageError(`unknown command "${command}"`);
    }
    if (wantsHelp(rest)) {
      out(HELP[command]);
      return 0;
    }
    return await COMMANDS[command](rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${PROG}: ${e.message}\nRun "${PROG} ${e.command ? `${e.command} ` : ''}--help" for usage.\n`);
      return 2;
    }
    err(`${PROG}: ${oneLine(e)}\n`);
    return 1;
  }
}
