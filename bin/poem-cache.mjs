#!/usr/bin/env node
// Launcher for converter/cli/main.ts. Plain JavaScript that any Node parses, so an old Node gets one clear line.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(`poem-cache: astro-poem-cache needs Node >= 22.12 (this is Node ${process.versions.node})\n`);
  process.exit(1);
}

// The installed package runs its compiled JavaScript (Node strips no types under node_modules); this
// repository runs the TypeScript sources.
const compiled = fileURLToPath(new URL('../dist/converter/cli/main.js', import.meta.url));
const cli = existsSync(compiled) ? compiled : fileURLToPath(new URL('../converter/cli/main.ts', import.meta.url));
if (cli !== compiled && !process.features.typescript) {
  // Node 22.12..22.17 strips types only behind a flag: run the CLI in a child that has it.
  const r = spawnSync(
    process.execPath,
    ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', cli, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(r.status ?? 1);
}
const { main } = await import(cli);
process.exitCode = await main(process.argv.slice(2));
