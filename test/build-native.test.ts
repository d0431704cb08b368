// `npm install` must succeed without a working C++ toolchain: the install script uses the prebuilt addon the
// package ships when it loads here, else builds from source, else reports the failure in one line and exits 0
// (the package then runs on the pure-JS fallback); `--strict` always builds from source and fails loudly.
// Runs the real script on a temp copy of the package, so the repository's own build is left alone.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutNative } from './support/native.ts';
import { nativeAddonPath } from '../native/index.ts';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
let pkg: string;
const skipNative = withoutNative('build-native.test: the prebuilt cases (they copy the loaded addon)');
const built = () => join(pkg, 'native', 'build', 'Release', 'poem_cache.node');
/** Puts `bytes` (default: the addon this process loaded) where the tarball carries the prebuilt. */
const prebuiltPath = () => join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'poem_cache.node');
function placePrebuilt(bytes?: Buffer) {
  const path = prebuiltPath();
  mkdirSync(dirname(path), { recursive: true });
  if (bytes) writeFileSync(path, bytes);
  else cpSync(nativeAddonPath!, path);
}

beforeAll(() => {
  pkg = mkdtempSync(join(tmpdir(), 'poem-cache-build-'));
  for (const p of ['package.json', 'scripts/build-native.mjs', 'native/CMakeLists.txt', 'native/src']) {
    cpSync(join(repo, p), join(pkg, p), { recursive: true });
  }
  symlinkSync(join(repo, 'node_modules'), join(pkg, 'node_modules'));
});
afterAll(() => rmSync(pkg, { recursive: true, force: true }));

const build = (args: string[], env: Record<string, string>) =>
  spawnSync(process.execPath, [join(pkg, 'scripts', 'build-native.mjs'), ...args], {
    cwd: pkg,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
  });

describe('scripts/build-native.mjs', () => {
  it('without a compiler: exits 0 with one line saying the fallback will be used', () => {
    const r = build([], { CXX: '/nonexistent/c++' });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(
      /astro-poem-cache: native addon not built \(.+\); the pure-JS fallback will be used\./,
    );
    expect(existsSync(join(pkg, 'native', 'build', 'Release', 'poem_cache.node'))).toBe(false);
  });

  it('without a compiler and --strict: exits 1', () => {
    rmSync(join(pkg, 'native', 'build'), { recursive: true, force: true });
    const r = build(['--strict'], { CXX: '/nonexistent/c++' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/native addon not built/);
  });

  it.skipIf(skipNative)('with a prebuilt that loads here: uses it and builds nothing, without a compiler', () => {
    rmSync(join(pkg, 'native', 'build'), { recursive: true, force: true });
    placePrebuilt();
    const r = build([], { CXX: '/nonexistent/c++' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`astro-poem-cache: using the prebuilt addon ${prebuiltPath()}\n`);
    expect(existsSync(join(pkg, 'native', 'build'))).toBe(false);
  });

  it.skipIf(skipNative)('npm install --build-from-source builds even when the prebuilt loads', () => {
    placePrebuilt();
    const r = build([], { CXX: '/nonexistent/c++', npm_config_build_from_source: 'true' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('astro-poem-cache: building the addon from source (--build-from-source)');
    expect(`${r.stdout}${r.stderr}`).toMatch(/native addon not built \(.+\); the pure-JS fallback will be used\./);
  });

  it('with a prebuilt that does not load here: builds from source', () => {
    rmSync(join(pkg, 'native', 'build'), { recursive: true, force: true });
    placePrebuilt(Buffer.from('not a shared object\n'.repeat(64)));
    const r = build([], {});
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stderr).toMatch(/the prebuilt addon does not load here \(.*invalid ELF header\); building from source/);
    expect(r.stdout).toContain(`astro-poem-cache: built ${built()}`);
    expect(existsSync(built())).toBe(true);
  });

  it.skipIf(skipNative)('--strict builds from source even when the prebuilt loads', () => {
    placePrebuilt();
    const r = build(['--strict'], {});
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).not.toContain('using the prebuilt');
    expect(r.stdout).toContain(`astro-poem-cache: built ${built()}`);
  });
});
