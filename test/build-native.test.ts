// `npm install` must succeed without a working C++ toolchain: the install script reports the failure in one
// line and exits 0 (the package then runs on the pure-JS fallback); `--strict` fails loudly instead.
// Runs the real script on a temp copy of the package, so the repository's own build is left alone.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
let pkg: string;

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
    cwd: pkg, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000,
  });

describe('scripts/build-native.mjs', () => {
  it('without a compiler: exits 0 with one line saying the fallback will be used', () => {
    const r = build([], { CXX: '/nonexistent/c++' });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/astro-poem-cache: native addon not built \(.+\); the pure-JS fallback will be used\./);
    expect(existsSync(join(pkg, 'native', 'build', 'Release', 'poem_cache.node'))).toBe(false);
  });

  it('without a compiler and --strict: exits 1', () => {
    rmSync(join(pkg, 'native', 'build'), { recursive: true, force: true });
    const r = build(['--strict'], { CXX: '/nonexistent/c++' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/native addon not built/);
  });

  it('with the toolchain: builds the addon', () => {
    rmSync(join(pkg, 'native', 'build'), { recursive: true, force: true });
    const r = build(['--strict'], {});
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(existsSync(join(pkg, 'native', 'build', 'Release', 'poem_cache.node'))).toBe(true);
  });
});
