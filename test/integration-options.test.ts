// poemCache() option validation and the virtual module's source (accessors, path, no data).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import poemCache, { poemCache as named, PoemCacheOptionError } from 'astro-poem-cache';
import { spawnSync } from 'node:child_process';
import { checkOptions, defaultWorkers, resolveOptions } from '../integration/options.ts';
import { native, requireNative } from './support/native.ts';
import {
  poemCacheVitePlugin,
  READER_SPECIFIER,
  virtualModuleSource,
  VIRTUAL_ID,
  VIRTUAL_TYPES,
} from '../integration/virtual.ts';

const root = mkdtempSync(join(tmpdir(), 'poem-cache-opts-'));
mkdirSync(join(root, 'data'));
writeFileSync(join(root, 'data', 'poems.json'), '{"poems": []}');
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('poemCache options', () => {
  it('default and named exports are the same factory', () => {
    expect(named).toBe(poemCache);
    const i = poemCache({ poems: 'data/poems.json' });
    expect(i.name).toBe('astro-poem-cache');
    expect(Object.keys(i.hooks).sort()).toEqual([
      'astro:build:done',
      'astro:build:start',
      'astro:config:done',
      'astro:config:setup',
      'astro:server:setup',
    ]);
  });

  it('applies defaults', () => {
    const o = checkOptions({ poems: 'data/poems.json' });
    expect(o.workers).toBe(defaultWorkers());
    // One worker per available core (the main thread is mostly idle while workers render).
    expect(o.workers).toBe(Math.max(1, availableParallelism()));
    expect(o.pageSize).toBe(100);
    expect(o.maxPagesPerPoem).toBe(Infinity);
    expect(o.keys).toBeUndefined(); // every input: 'auto'
    expect(o.fields).toEqual([]); // the defaults only (converter/fields.ts)
  });

  it('keys and fields reach the converter as given', () => {
    const o = checkOptions({
      poems: 'p.json',
      keys: { similarity: 'index', diversity: 'index0' },
      fields: ['metadata.author', 'raw_content'],
    });
    expect(o.keys).toEqual({ similarity: 'index', diversity: 'index0' });
    expect(o.fields).toEqual(['metadata.author', 'raw_content']);
  });

  it.each([
    [{ poems: 'p.json', workers: -1 }, 'poemCache: option "workers" must be an integer >= 0, got -1'],
    [{ poems: 'p.json', workers: 1.5 }, 'poemCache: option "workers" must be an integer >= 0, got 1.5'],
    [{ poems: 'p.json', workers: '2' }, 'poemCache: option "workers" must be an integer >= 0, got "2"'],
    [{ poems: 'p.json', workers: NaN }, 'poemCache: option "workers" must be an integer >= 0, got NaN'],
    [{ poems: 'p.json', pageSize: 0 }, 'poemCache: option "pageSize" must be an integer >= 1, got 0'],
    [{ poems: 'p.json', pageSize: Infinity }, 'poemCache: option "pageSize" must be an integer >= 1, got Infinity'],
    [
      { poems: 'p.json', maxPagesPerPoem: 0 },
      'poemCache: option "maxPagesPerPoem" must be an integer >= 1 or Infinity (no limit), got 0',
    ],
    [
      { poems: 'p.json', maxPagesPerPoem: -3 },
      'poemCache: option "maxPagesPerPoem" must be an integer >= 1 or Infinity (no limit), got -3',
    ],
    [{}, 'poemCache: option "poems" must be a non-empty path string (it is required), got undefined'],
    [{ poems: '' }, 'poemCache: option "poems" must be a non-empty path string (it is required), got ""'],
    [{ poems: 'p.json', similarity: 3 }, 'poemCache: option "similarity" must be a non-empty path string, got 3'],
    [{ poems: 'p.json', cacheFile: null }, 'poemCache: option "cacheFile" must be a non-empty path string, got null'],
    [{ poems: 'p.json', share: 'memory' }, 'poemCache: option "share" must be "file" or "shm", got "memory"'],
    [{ poems: 'p.json', share: true }, 'poemCache: option "share" must be "file" or "shm", got boolean true'],
    [{ poems: 'p.json', fragments: 'yes' }, 'poemCache: option "fragments" must be true or false, got "yes"'],
    [
      { poems: 'p.json', keys: { similarity: 'pos' } },
      'poemCache: option "keys.similarity" must be "auto", "id", "index", "index0", got "pos"',
    ],
    [
      { poems: 'p.json', keys: { poems: 'id' } },
      'poemCache: option "keys": unknown input "poems" (known inputs: embeddings, similarity, diversity)',
    ],
    [
      { poems: 'p.json', keys: 'index' },
      'poemCache: option "keys" must be an object like { similarity: "index" }, got "index"',
    ],
    [
      { poems: 'p.json', fields: 'metadata.author' },
      'poemCache: option "fields" must be an array of dotted path strings, got "metadata.author"',
    ],
    [
      { poems: 'p.json', fields: ['ok', 3] },
      'poemCache: option "fields.1" must be a dotted path string such as "metadata.author", got 3',
    ],
    [
      { poems: 'p.json', fields: ['metadata.'] },
      'poemCache: option "fields.0": "metadata." has an empty segment (expected e.g. "metadata.author")',
    ],
    [
      { poems: 'p.json', worker: 2 },
      'poemCache: unknown option "worker" (known options: poems, embeddings, similarity, diversity, cacheFile, ' +
        'workers, pageSize, maxPagesPerPoem, keys, fields, limits, onMismatch, allowOutsideRoot, share, fragments)',
    ],
  ])('rejects %j', (input, message) => {
    expect(() => poemCache(input as never)).toThrow(PoemCacheOptionError);
    expect(() => poemCache(input as never)).toThrow(message);
  });

  it('share: default "file"; "shm" accepted with the addon, rejected with a clear message without it', () => {
    expect(checkOptions({ poems: 'x' }).share).toBe('file');
    expect(checkOptions({ poems: 'x', share: 'file' }).share).toBe('file');
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import('${fileURLToPath(new URL('../integration/options.ts', import.meta.url))}').then((m) => { try { ` +
          `m.checkOptions({ poems: 'x', share: 'shm' }); console.log('accepted'); } catch (e) { ` +
          'console.log(e.message); } })',
      ],
      { encoding: 'utf8', env: { ...process.env, POEM_CACHE_NO_NATIVE: '1' } },
    );
    expect(r.stdout.trim()).toBe(
      'poemCache: option "share" is "shm", which needs the native addon poem_cache.node, and it is not available ' +
        '(disabled by POEM_CACHE_NO_NATIVE=1); use share: "file" or build the addon (npm run build:native)',
    );
    if (native || requireNative) expect(checkOptions({ poems: 'x', share: 'shm' }).share).toBe('shm');
    else console.log('integration-options.test: share: "shm" with the addon not checked: the addon is not available');
  });

  it('rejects a non-object', () => {
    expect(() => poemCache('data/poems.json' as never)).toThrow(
      'poemCache: expected an options object like { poems: "data/poems.json" }, got "data/poems.json"',
    );
  });

  it('fragments: default true, false accepted', () => {
    expect(checkOptions({ poems: 'x' }).fragments).toBe(true);
    expect(checkOptions({ poems: 'x', fragments: false }).fragments).toBe(false);
  });

  it('accepts maxPagesPerPoem: Infinity and workers: 0', () => {
    const o = checkOptions({ poems: 'x', workers: 0, maxPagesPerPoem: Infinity, pageSize: 7 });
    expect(o).toMatchObject({ workers: 0, maxPagesPerPoem: Infinity, pageSize: 7 });
  });

  it('resolves paths against the project root and names missing files by their resolved path', () => {
    const r = resolveOptions(
      checkOptions({ poems: 'data/poems.json' }),
      new URL(`file://${root}/`),
      new URL(`file://${root}/node_modules/.astro/`),
    );
    expect(r.inputs).toEqual([{ role: 'poems', file: join(root, 'data', 'poems.json') }]);
    expect(r.cacheFile).toBe(join(root, 'node_modules', '.astro', 'poem-cache', 'poems.cache'));
    expect(() =>
      resolveOptions(
        checkOptions({ poems: 'data/poems.json', similarity: 'data/missing.json' }),
        root,
        join(root, '.c'),
      ),
    ).toThrow(
      `poemCache: option "similarity": file not found: ${join(root, 'data', 'missing.json')} ("data/missing.json" ` +
        `resolved against the project root ${root})`,
    );
    expect(() => resolveOptions(checkOptions({ poems: 'data' }), root, join(root, '.c'))).toThrow(
      `poemCache: option "poems": ${join(root, 'data')} is not a file`,
    );
    const custom = resolveOptions(
      checkOptions({ poems: 'data/poems.json', cacheFile: 'out/x.cache' }),
      root,
      join(root, '.c'),
    );
    expect(custom.cacheFile).toBe(join(root, 'out', 'x.cache'));
  });

  it('fails in astro:config:setup when an input is missing', () => {
    const i = poemCache({ poems: 'data/nope.json' });
    const setup = i.hooks['astro:config:setup'] as (o: unknown) => void;
    expect(() =>
      setup({
        config: {
          root: new URL(`file://${root}/`),
          cacheDir: new URL(`file://${root}/node_modules/.astro/`),
          trailingSlash: 'ignore',
          build: { concurrency: 1 },
        },
        updateConfig: () => {},
        addWatchFile: () => {},
        logger: { debug() {}, info() {}, warn() {} },
      }),
    ).toThrow(`poemCache: option "poems": file not found: ${join(root, 'data', 'nope.json')}`);
  });

  it('registers every input as a watch file and the vite plugins in astro:config:setup', () => {
    mkdirSync(join(root, 'more'), { recursive: true });
    for (const f of ['s.json', 'd.json']) writeFileSync(join(root, 'more', f), '{}');
    const i = poemCache({ poems: 'data/poems.json', similarity: 'more/s.json', diversity: 'more/d.json', workers: 3 });
    const watched: string[] = [];
    let update: Record<string, unknown> = {};
    (i.hooks['astro:config:setup'] as (o: unknown) => void)({
      config: {
        root: new URL(`file://${root}/`),
        cacheDir: new URL(`file://${root}/node_modules/.astro/`),
        trailingSlash: 'ignore',
        build: { concurrency: 1 },
      },
      updateConfig: (c: Record<string, unknown>) => (update = c),
      addWatchFile: (p: string) => watched.push(p),
      logger: { debug() {}, info() {}, warn() {} },
    });
    expect(watched).toEqual([
      join(root, 'data', 'poems.json'),
      join(root, 'more', 's.json'),
      join(root, 'more', 'd.json'),
    ]);
    expect(update.build).toEqual({ concurrency: 24 }); // 3 workers x 4 pages each x 2 (queued)
    const vite = update.vite as { plugins: { name: string }[]; ssr: { external: string[] } };
    expect(vite.plugins.map((p) => p.name)).toEqual(['astro-poem-cache:virtual', 'astro-poem-cache:prerender-entry']);
    expect(vite.ssr.external).toContain('astro-poem-cache');
  });
});

describe('virtual:poem-cache', () => {
  const cfg = { cacheFile: '/abs/path/poems.cache', pageSize: 25, maxPagesPerPoem: Infinity };
  const plugin = poemCacheVitePlugin(() => cfg);
  const call = <T>(hook: unknown, ctx: object, ...args: unknown[]): T => {
    const fn = typeof hook === 'function' ? hook : (hook as { handler: (...a: unknown[]) => T }).handler;
    return fn.apply(ctx, args) as T;
  };

  it('resolves and loads a module holding the path and accessors, no data', () => {
    const id = call<string>(plugin.resolveId, {}, VIRTUAL_ID, undefined, {});
    expect(id).toBe('\0virtual:poem-cache');
    const src = call<string>(plugin.load, {}, id);
    expect(src).toContain('export const cacheFile = "/abs/path/poems.cache";');
    expect(src).toContain('export const pageSize = 25;');
    expect(src).toContain('export const maxPagesPerPoem = Infinity;');
    // From this repository's sources the reader is imported by absolute path; installed (compiled), by the
    // package name (test/package.test.ts checks the installed package).
    expect(READER_SPECIFIER).toBe(fileURLToPath(new URL('../cache/reader.ts', import.meta.url)));
    expect(src).toContain(`import { openCache } from ${JSON.stringify(READER_SPECIFIER)};`);
    // A build: each thread opens the cache once (no stat per page); dev re-checks the file on every call.
    expect(src).toContain(
      'let reader;\nfunction openReader() { return openCache(cacheFile); }\nexport function getCache() { return ' +
        'reader ??= openReader(); }',
    );
    expect(virtualModuleSource({ ...cfg, reopen: true })).toContain(
      'export function getCache() { return openCache(cacheFile); }',
    );
    expect(virtualModuleSource({ ...cfg, reopen: true })).not.toContain('let reader');
    // Accessors only: nothing but the path, two numbers and the import.
    expect(src.length).toBeLessThan(600);
    expect(src).not.toMatch(/\[\s*\d+\s*,/);
    expect(src).toBe(virtualModuleSource(cfg));
  });

  it('share: "shm" makes getCache() open the segment named in the environment, the file otherwise', () => {
    const src = virtualModuleSource({ ...cfg, share: 'shm' });
    expect(src).toContain(`import { openCache, openShm } from ${JSON.stringify(READER_SPECIFIER)};`);
    expect(src).toContain(
      'function openReader() { const shm = process.env.ASTRO_POEM_CACHE_SHM; return shm ? openShm(shm) : ' +
        'openCache(cacheFile); }\nexport function getCache() { return reader ??= openReader(); }',
    );
    expect(virtualModuleSource({ ...cfg, share: 'shm', reopen: true })).toContain(
      'export function getCache() { const shm = process.env.ASTRO_POEM_CACHE_SHM; return shm ? openShm(shm) : ' +
        'openCache(cacheFile); }',
    );
    expect(src.length).toBeLessThan(800);
    // 'file' (the default) is the source as before.
    expect(virtualModuleSource({ ...cfg, share: 'file' })).toBe(virtualModuleSource(cfg));
  });

  it('keeps the reader external in server environments only', () => {
    const server = { environment: { config: { consumer: 'server' } } };
    const client = { environment: { config: { consumer: 'client' } } };
    expect(call(plugin.resolveId, server, 'astro-poem-cache/reader', '\0virtual:poem-cache', {})).toEqual({
      id: 'astro-poem-cache/reader',
      external: true,
    });
    expect(call(plugin.resolveId, client, 'astro-poem-cache/reader', '\0virtual:poem-cache', {})).toBeUndefined();
    expect(call(plugin.resolveId, server, READER_SPECIFIER, '\0virtual:poem-cache', {})).toEqual({
      id: READER_SPECIFIER,
      external: true,
    });
    expect(call(plugin.resolveId, server, 'other', undefined, {})).toBeUndefined();
  });

  it('injects type declarations for astro check', () => {
    expect(VIRTUAL_TYPES).toContain("declare module 'virtual:poem-cache'");
    expect(VIRTUAL_TYPES).toContain("export function getCache(): import('astro-poem-cache/reader').CacheReader;");
    for (const name of ['cacheFile: string', 'pageSize: number', 'maxPagesPerPoem: number'])
      expect(VIRTUAL_TYPES).toContain(name);
    const i = poemCache({ poems: 'x.json' });
    const injected: { filename: string; content: string }[] = [];
    (i.hooks['astro:config:done'] as (o: unknown) => void)({
      injectTypes: (t: { filename: string; content: string }) => injected.push(t),
      config: { build: { concurrency: 1 } },
    });
    expect(injected).toEqual([{ filename: 'virtual-poem-cache.d.ts', content: VIRTUAL_TYPES }]);
  });
});
