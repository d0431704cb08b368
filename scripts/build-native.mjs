// The native addon, poem_cache.node, three ways (one N-API 8 file serves every Node from 20 on):
// - no flag, the package's "install" script: use the prebuilt the package ships for this platform and CPU
//   (prebuilds/<platform>-<arch>/poem_cache.node) when it loads here, else build native/build/Release from
//   source with cmake-js against node-api-headers (offline: no Node headers are downloaded). It must never
//   fail the install: without an addon the package falls back to pure JS. `npm install --build-from-source`
//   (npm_config_build_from_source=true) builds even when the prebuilt loads.
// - `--strict` (npm run build:native, CI): always builds from source, and fails loudly when it cannot.
// - `--prebuild` ("prepack"): builds from source, strictly, in native/build-prebuilt and places the result at
//   prebuilds/<platform>-<arch>/poem_cache.node, where the tarball carries it.
// native/index.ts tries native/build/Release first, then the prebuilt.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, renameSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const prebuild = process.argv.includes('--prebuild');
const strict = prebuild || process.argv.includes('--strict');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const directory = join(root, 'native');
const out = join(directory, prebuild ? 'build-prebuilt' : 'build');
const addon = join(out, 'Release', 'poem_cache.node');
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'poem_cache.node');
const require = createRequire(join(root, 'package.json'));

function giveUp(reason) {
  if (strict) {
    console.error(`astro-poem-cache: native addon not built (${reason})`);
    process.exit(1);
  }
  console.warn(`astro-poem-cache: native addon not built (${reason}); the pure-JS fallback will be used.`);
  process.exit(0);
}

/** Why the addon at `path` does not load in this Node, or undefined when it does. */
function loadError(path) {
  try {
    return typeof require(path).mapFile === 'function' ? undefined : 'it has no mapFile';
  } catch (error) {
    return String(error?.message ?? error).split('\n')[0];
  }
}

if (!strict && existsSync(prebuilt)) {
  if (process.env.npm_config_build_from_source === 'true') {
    console.log('astro-poem-cache: building the addon from source (--build-from-source)');
  } else {
    const why = loadError(prebuilt);
    if (why === undefined) {
      console.log(`astro-poem-cache: using the prebuilt addon ${prebuilt}`);
      process.exit(0);
    }
    console.warn(`astro-poem-cache: the prebuilt addon does not load here (${why}); building from source`);
  }
}

if (process.env.POEM_CACHE_SKIP_NATIVE_BUILD === '1' && !strict) giveUp('POEM_CACHE_SKIP_NATIVE_BUILD=1');

let BuildSystem;
try {
  ({ BuildSystem } = require('cmake-js'));
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
if (!prebuild) {
  console.log(`astro-poem-cache: built ${addon}`);
  process.exit(0);
}

// A copy beside the build, then a rename: prebuilds/ never holds a half-written or temporary file.
const staged = join(out, 'poem_cache.node.staged');
copyFileSync(addon, staged);
mkdirSync(dirname(prebuilt), { recursive: true });
renameSync(staged, prebuilt);
const why = loadError(prebuilt);
if (why !== undefined) giveUp(`the prebuilt ${prebuilt} does not load: ${why}`);
console.log(`astro-poem-cache: prebuilt ${prebuilt} (Node ${process.versions.node}, N-API 8)`);
