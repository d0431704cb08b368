// Builds native/build/Release/poem_cache.node with cmake-js against node-api-headers (offline: no Node
// headers are downloaded). Runs as the package's "install" script, where it must never fail the install:
// the package falls back to pure JS without the addon. `--strict` (npm run build:native) fails loudly.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const strict = process.argv.includes('--strict');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const directory = join(root, 'native');
const out = join(directory, 'build');
const addon = join(out, 'Release', 'poem_cache.node');

function giveUp(reason) {
  const line = `astro-poem-cache: native addon not built (${reason}); the pure-JS fallback will be used.`;
  if (strict) {
    console.error(line);
    process.exit(1);
  }
  console.warn(line);
  process.exit(0);
}

if (process.env.POEM_CACHE_SKIP_NATIVE_BUILD === '1' && !strict) giveUp('POEM_CACHE_SKIP_NATIVE_BUILD=1');

let BuildSystem;
try {
  ({ BuildSystem } = createRequire(join(root, 'package.json'))('cmake-js'));
} catch (error) {
  giveUp(`cmake-js is not installed: ${error.message}`);
}

try {
  // cmake-js's own INFO chatter is noise in an install log; cmake and compiler output stay visible because
  // they are what explains a failure.
  const build = new BuildSystem({ directory, out, noLog: !strict });
  // cmake-js decides between node-api-headers and downloading full Node headers from the package.json in
  // `directory`; ours is one level up (it holds "binary": {"napi_versions": [8]}), so say it here.
  build.options.isNodeApi = true;
  await build.compile();
} catch (error) {
  const reason = String(error?.message ?? error).split('\n')[0] || 'cmake-js failed';
  giveUp(strict ? reason : `${reason}; see the cmake output above`);
}

if (!existsSync(addon)) giveUp(`cmake-js finished but ${addon} is missing`);
console.log(`astro-poem-cache: built ${addon}`);
