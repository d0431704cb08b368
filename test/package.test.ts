// The package as users get it: `npm pack`, the tarball installed into a new project on a machine without cmake or
// a C++ compiler (PATH holds node, npm and sh only), and used there through Node's own resolution (compiled
// JavaScript from dist/, the prebuilt addon the tarball carries), including a real `astro build` with worker
// rendering. Without the prebuilt, that install could not build the addon and the cache would not be mapped.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poemTitle, writeFixtureData, type FixtureData } from './fixtures/site/make-data.ts';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = join(repo, 'node_modules', '.bin');
const quiet = { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
// Packing runs on the Node 24 that the repository's devDependency provides, with the toolchain (prepack builds
// the prebuilt addon).
const packEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...quiet };
delete (packEnv as Record<string, string | undefined>).VITEST; // Astro's CLI behaves differently under vitest
// What builds C++ here; none of it may be reachable in the installing project.
const TOOLCHAIN = ['cmake', 'make', 'ninja', 'c++', 'g++', 'gcc', 'cc', 'clang', 'clang++'];
const TARGET = `${process.platform}-${process.arch}`;
// The Node 20 of the machine, when there is one: the prebuilt (N-API 8) must load there too.
const NODE20 = ['/usr/bin/node', '/usr/local/bin/node'].find(
  (p) => existsSync(p) && spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.startsWith('20.'),
);

let tmp: string;
let project: string;
let installed: string;
let installLog: string;
let data: FixtureData;
let env: NodeJS.ProcessEnv;

const run = (cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}) => {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
};

/** A directory of links to node (24), npm, npx and sh: a PATH without cmake or a compiler. */
function toolchainFreeBin(dir: string): string {
  mkdirSync(dir);
  const which = (name: string) =>
    execFileSync('sh', ['-c', `command -v ${name}`], { env: packEnv, encoding: 'utf8' }).trim();
  const links: Record<string, string> = { node: realpathSync(join(bin, 'node')), sh: realpathSync(which('sh')) };
  for (const name of ['npm', 'npx']) links[name] = realpathSync(which(name));
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(dir, name));
  return dir;
}

describe('the packed and installed package', () => {
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'poem-cache-pkg-'));
    // "prepack" writes dist/ and prebuilds/ into the directory it packs, and "postpack" removes them: pack a copy
    // of the repository's files (tracked or new, not ignored), so that no other suite sees them come and go
    // (bin/poem-cache.mjs runs dist/ when it exists).
    const source = join(tmp, 'source');
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: repo,
      encoding: 'utf8',
    })
      .split('\0')
      .filter((f) => f && existsSync(join(repo, f)));
    for (const f of listed) cpSync(join(repo, f), join(source, f));
    symlinkSync(join(repo, 'node_modules'), join(source, 'node_modules'));
    const pack = ['pack', '--pack-destination', tmp, '--silent'];
    const packed = execFileSync('npm', pack, { cwd: source, env: packEnv, encoding: 'utf8' }).trim().split('\n').pop()!;
    env = { ...packEnv, PATH: toolchainFreeBin(join(tmp, 'bin')) };
    project = join(tmp, 'site');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'installed-site', private: true, type: 'module' }),
    );
    // Astro is the site's own dependency (a peer of ours): link the repository's copy instead of a second install.
    const install = run(
      'npm',
      ['install', join(tmp, packed), '--legacy-peer-deps', '--prefer-offline', '--no-save', '--foreground-scripts'],
      project,
    );
    expect(install.status, install.out).toBe(0);
    installLog = install.out;
    mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(join(repo, 'node_modules', 'astro'), join(project, 'node_modules', 'astro'));
    installed = join(project, 'node_modules', 'astro-poem-cache');
    cpSync(join(repo, 'test', 'fixtures', 'site', 'src'), join(project, 'src'), { recursive: true });
    // The fixture's image page needs sharp, a dependency of sites that optimise images, not of this package.
    rmSync(join(project, 'src', 'pages', 'about.astro'));
    data = writeFixtureData(join(project, 'data'), 12);
  }, 600_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("ships compiled JavaScript, declarations, the prebuilt addon and the addon's sources, nothing else", () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else files.push(join(d, e.name).slice(installed.length + 1));
      }
    };
    walk(installed);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('dist/') && !/\.(d\.ts|js)$/.test(f))).toEqual([]);
    const outsideDist = files.filter((f) => !f.startsWith('dist/')).sort();
    expect(outsideDist).toEqual([
      'README.md',
      'bin/poem-cache.mjs',
      'docs/FORMAT.md',
      'docs/INPUTS.md',
      'docs/RELIABILITY.md',
      'native/CMakeLists.txt',
      'native/src/addon.cc',
      'native/src/floats.cc',
      'native/src/floats.h',
      'package.json',
      `prebuilds/${TARGET}/poem_cache.node`,
      'scripts/build-native.mjs',
    ]);
    const compiled = [
      'integration/index.js',
      'integration/render-worker.js',
      'integration/reuse.js',
      'integration/index.d.ts',
      'cache/reader.js',
      'converter/cli/main.js',
    ];
    for (const f of compiled) {
      expect(files).toContain(`dist/${f}`);
    }
  });

  it('installs without cmake or a compiler and maps the cache through the prebuilt addon', () => {
    for (const tool of TOOLCHAIN) expect(run('sh', ['-c', `command -v ${tool}`], project).status, tool).not.toBe(0);
    const prebuilt = join(realpathSync(installed), 'prebuilds', TARGET, 'poem_cache.node');
    // The raw addon is not a package export: ask the installed loader which file it loaded.
    const cache = join(project, 'prebuilt.cache');
    const r = run(
      'node',
      [
        '--input-type=module',
        '-e',
        `
      import { convertCaches } from 'astro-poem-cache/converter';
      import { openCache } from 'astro-poem-cache/reader';
      await convertCaches({ poems: ${JSON.stringify(data.poems)}, similarity: ${JSON.stringify(data.similarity)},
        out: ${JSON.stringify(cache)}, workers: 0 });
      const loader = await import(${JSON.stringify(join(installed, 'dist', 'native', 'index.js'))});
      const reader = openCache(${JSON.stringify(cache)});
      const addon = loader.nativeAddonPath ?? null;
      console.log(JSON.stringify({ backing: reader.backing, count: reader.count, addon }));
    `,
      ],
      project,
    );
    expect(r.status, r.out).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ backing: 'mmap', count: 12, addon: prebuilt });
    expect(r.out).not.toContain('POEM_CACHE_NO_NATIVE');
    expect(installLog).toContain(`astro-poem-cache: using the prebuilt addon ${prebuilt}`);
    expect(existsSync(join(installed, 'native', 'build'))).toBe(false); // nothing was built
    // The same file maps the cache in Node 24 and, when the machine has it, Node 20 (N-API 8).
    const mapInChild = `process.version + ' ' + require(process.argv[1]).mapFile(process.argv[2]).byteLength`;
    for (const [node, major] of [[join(tmp, 'bin', 'node'), 24], ...(NODE20 ? [[NODE20, 20] as const] : [])] as const) {
      const m = run(node, ['-p', mapInChild, prebuilt, cache], project);
      expect(m.stdout.trim(), m.out).toMatch(new RegExp(`^v${major}\\.\\d+\\.\\d+ ${statSync(cache).size}$`));
    }
    if (!NODE20) console.log('package.test: the prebuilt not tried in Node 20: none at /usr/bin or /usr/local/bin');
  });

  it('runs the poem-cache CLI: version, convert, then query', () => {
    // the version comes from the installed package.json, found from dist/ as from the sources
    const v = run('npx', ['poem-cache', '--version'], project);
    expect(v.status, v.out).toBe(0);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version);
    const out = join(project, 'cli.cache');
    const c = run(
      'npx',
      [
        'poem-cache',
        'convert',
        '--poems',
        data.poems,
        '--similarity',
        data.similarity,
        '--diversity',
        data.diversity,
        '--out',
        out,
        '--quiet',
      ],
      project,
    );
    expect(c.status, c.out).toBe(0);
    const q = run('npx', ['poem-cache', 'query', out, '--id', String(data.ids[3]), '--json'], project);
    expect(q.status, q.out).toBe(0);
    expect(JSON.parse(q.stdout).title).toBe(poemTitle(data.ids[3]));
  });

  it('builds an Astro site with worker rendering through the installed integration', () => {
    writeFileSync(
      join(project, 'astro.config.mjs'),
      [
        "import { defineConfig } from 'astro/config';",
        "import poemCache from 'astro-poem-cache';",
        'export default defineConfig({ integrations: [poemCache({',
        "  poems: 'data/poems.json', embeddings: 'data/embeddings.json', similarity: " +
          "'data/similarity_rankings_cache.json',",
        "  diversity: 'data/diversity_cache.json', workers: 2, pageSize: 5 })] });",
      ].join('\n'),
    );
    const b = run('node', [join(project, 'node_modules', 'astro', 'bin', 'astro.mjs'), 'build'], project);
    expect(b.status, b.out).toBe(0);
    expect(b.out).toMatch(/with 2 worker thread\(s\)/);
    // The fixture's similar pages reuse a card per poem through the installed astro-poem-cache/reuse.
    expect(b.out).toMatch(/fragments \(<Reuse>\): 12 rendered once/);
    const id = data.ids[5];
    const html = readFileSync(join(project, 'dist', 'poems', String(id), 'index.html'), 'utf8');
    expect(html).toContain(poemTitle(id));
    // The bundled page code imports the reader by the package's name, resolved from node_modules.
    expect(b.out).not.toMatch(/reader was bundled/);
  });

  it('could not have built the addon from source on this PATH (the prebuilt is what made mmap possible)', () => {
    const script = join(installed, 'scripts', 'build-native.mjs');
    const r = run('node', [script], installed, { npm_config_build_from_source: 'true' });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/astro-poem-cache: native addon not built \(.+\); the pure-JS fallback will be used\./);
    expect(existsSync(join(installed, 'native', 'build', 'Release', 'poem_cache.node'))).toBe(false);
  });
});
