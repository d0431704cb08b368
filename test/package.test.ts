// The package as users get it: `npm pack`, the tarball installed into a new project, and used there through
// Node's own resolution (compiled JavaScript from dist/, the addon built by the package's install script),
// including a real `astro build` with worker rendering.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poemTitle, writeFixtureData, type FixtureData } from './fixtures/site/make-data.ts';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = join(repo, 'node_modules', '.bin');
// Install scripts and CLIs run on the Node 24 that the repository's devDependency provides.
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, npm_config_audit: 'false', npm_config_fund: 'false' };
delete (env as Record<string, string | undefined>).VITEST; // Astro's CLI behaves differently under vitest

let tmp: string;
let project: string;
let installed: string;
let data: FixtureData;

const run = (cmd: string, args: string[], cwd: string) => {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
};

describe('the packed and installed package', () => {
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'poem-cache-pkg-'));
    const packed = execFileSync('npm', ['pack', '--pack-destination', tmp, '--silent'], { cwd: repo, env, encoding: 'utf8' }).trim().split('\n').pop()!;
    project = join(tmp, 'site');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'installed-site', private: true, type: 'module' }));
    // Astro is the site's own dependency (a peer of ours): link the repository's copy instead of a second install.
    const install = run('npm', ['install', join(tmp, packed), '--legacy-peer-deps', '--prefer-offline', '--no-save'], project);
    expect(install.status, install.out).toBe(0);
    mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(join(repo, 'node_modules', 'astro'), join(project, 'node_modules', 'astro'));
    installed = join(project, 'node_modules', 'astro-poem-cache');
    cpSync(join(repo, 'test', 'fixtures', 'site', 'src'), join(project, 'src'), { recursive: true });
    // The fixture's image page needs sharp, a dependency of sites that optimise images, not of this package.
    rmSync(join(project, 'src', 'pages', 'about.astro'));
    data = writeFixtureData(join(project, 'data'), 12);
  }, 600_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('ships compiled JavaScript and declarations, no TypeScript sources to strip', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.name === 'build' && d.endsWith('native')) continue; // the addon build tree
        if (e.isDirectory()) walk(join(d, e.name));
        else files.push(join(d, e.name).slice(installed.length + 1));
      }
    };
    walk(installed);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    for (const f of ['dist/integration/index.js', 'dist/integration/render-worker.js', 'dist/integration/index.d.ts', 'dist/cache/reader.js', 'dist/converter/cli/main.js', 'bin/poem-cache.mjs', 'native/src/addon.cc']) {
      expect(files).toContain(f);
    }
  });

  it('built its native addon at install and loads it from dist/', () => {
    expect(existsSync(join(installed, 'native', 'build', 'Release', 'poem_cache.node'))).toBe(true);
    // The raw addon is not a package export: load it through the installed files, as the reader does.
    const loader = join(installed, 'dist', 'native', 'index.js');
    const r = run('node', ['--input-type=module', '-e', `const m = await import(${JSON.stringify(loader)}); console.log(typeof m.loadNative()?.mapFile)`], project);
    expect(r.stdout.trim()).toBe('function');
  });

  it('runs the poem-cache CLI: version, convert, then query', () => {
    // the version comes from the installed package.json, found from dist/ as from the sources
    const v = run('npx', ['poem-cache', '--version'], project);
    expect(v.status, v.out).toBe(0);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version);
    const out = join(project, 'cli.cache');
    const c = run('npx', ['poem-cache', 'convert', '--poems', data.poems, '--similarity', data.similarity, '--diversity', data.diversity, '--out', out, '--quiet'], project);
    expect(c.status, c.out).toBe(0);
    const q = run('npx', ['poem-cache', 'query', out, '--id', String(data.ids[3]), '--json'], project);
    expect(q.status, q.out).toBe(0);
    expect(JSON.parse(q.stdout).title).toBe(poemTitle(data.ids[3]));
  });

  it('builds an Astro site with worker rendering through the installed integration', () => {
    writeFileSync(join(project, 'astro.config.mjs'), [
      "import { defineConfig } from 'astro/config';",
      "import poemCache from 'astro-poem-cache';",
      'export default defineConfig({ integrations: [poemCache({',
      "  poems: 'data/poems.json', embeddings: 'data/embeddings.json', similarity: 'data/similarity_rankings_cache.json',",
      "  diversity: 'data/diversity_cache.json', workers: 2, pageSize: 5 })] });",
    ].join('\n'));
    const b = run('node', [join(project, 'node_modules', 'astro', 'bin', 'astro.mjs'), 'build'], project);
    expect(b.status, b.out).toBe(0);
    expect(b.out).toMatch(/with 2 worker thread\(s\)/);
    const id = data.ids[5];
    const html = readFileSync(join(project, 'dist', 'poems', String(id), 'index.html'), 'utf8');
    expect(html).toContain(poemTitle(id));
    // The bundled page code imports the reader by the package's name, resolved from node_modules.
    expect(b.out).not.toMatch(/reader was bundled/);
  });
});
