// The `virtual:poem-cache` module: accessors only, never data. Page chunks bundle this module, so it holds
// the cache path, two numbers and an import of the reader, which stays external (loaded by Node at run
// time, so native/index.ts finds poem_cache.node relative to its own file, in native/build or prebuilds/).
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { SHM_ENV } from '../cache/shm.ts';

export const VIRTUAL_ID = 'virtual:poem-cache';
const RESOLVED_ID = '\0' + VIRTUAL_ID;
export const PACKAGE = 'astro-poem-cache';
/**
 * The specifier page chunks import the reader by at run time; external in every server environment.
 * Installed (compiled .js) it is the package's own name, which a deployed server bundle resolves from
 * node_modules; run from this repository's TypeScript sources it is the reader's absolute path.
 */
export const READER_SPECIFIER = import.meta.url.endsWith('.ts')
  ? fileURLToPath(new URL('../cache/reader.ts', import.meta.url))
  : `${PACKAGE}/reader`;
/** The same for the Reuse component (integration/reuse.ts): run by Node in the thread that renders the page. */
export const REUSE_SPECIFIER = import.meta.url.endsWith('.ts')
  ? fileURLToPath(new URL('./reuse.ts', import.meta.url))
  : `${PACKAGE}/reuse`;

export interface VirtualConfig {
  cacheFile: string;
  pageSize: number;
  maxPagesPerPoem: number;
  /**
   * 'shm': getCache() opens the shared-memory segment named by process.env.ASTRO_POEM_CACHE_SHM when it is
   * set (the integration sets it at build start, before render threads start) and the file otherwise.
   */
  share?: 'file' | 'shm';
  /**
   * Dev: getCache() asks openCache each call (one stat), so a file re-converted after a restart is seen.
   * Builds (default): the cache cannot change while pages render, so each thread opens it once.
   */
  reopen?: boolean;
  /** How the reader is imported (default READER_SPECIFIER). */
  readerImport?: string;
  /** How Reuse is imported (default REUSE_SPECIFIER). */
  reuseImport?: string;
}

const num = (n: number): string => (n === Infinity ? 'Infinity' : String(n));

/** Source of the virtual module. */
export function virtualModuleSource(c: VirtualConfig): string {
  const shm = c.share === 'shm';
  // With share: "shm", the segment published at build start (name in the environment); the file otherwise (dev).
  const open = shm
    ? `const shm = process.env.${SHM_ENV}; return shm ? openShm(shm) : openCache(cacheFile);`
    : 'return openCache(cacheFile);';
  return [
    `import { ${shm ? 'openCache, openShm' : 'openCache'} } ` +
      `from ${JSON.stringify(c.readerImport ?? READER_SPECIFIER)};`,
    `export const cacheFile = ${JSON.stringify(c.cacheFile)};`,
    `export const pageSize = ${num(c.pageSize)};`,
    `export const maxPagesPerPoem = ${num(c.maxPagesPerPoem)};`,
    `export { Reuse } from ${JSON.stringify(c.reuseImport ?? REUSE_SPECIFIER)};`,
    ...(c.reopen
      ? [
          '/** The cache reader of the calling thread; opened on first use, reopened when the file was replaced ' +
            '(stat per call). */',
          `export function getCache() { ${open} }`,
        ]
      : [
          '/** The cache reader of the calling thread, opened on first use ' +
            '(the cache does not change during a build). */',
          'let reader;',
          `function openReader() { ${open} }`,
          'export function getCache() { return reader ??= openReader(); }',
        ]),
    '',
  ].join('\n');
}

/** Type declarations injected with injectTypes() so `astro check` and editors know the module. */
export const VIRTUAL_TYPES = `declare module '${VIRTUAL_ID}' {
  /** The poem cache reader of the calling thread (opened lazily with openCache(cacheFile)). */
  export function getCache(): import('astro-poem-cache/reader').CacheReader;
  /** Absolute path of the binary cache file. */
  export const cacheFile: string;
  /** Neighbours per listing page. */
  export const pageSize: number;
  /** Most listing pages per poem (Infinity = no limit). */
  export const maxPagesPerPoem: number;
  /**
   * <Reuse of={Component} …props />: renders Component with props; in a build, once per distinct props
   * (its key: JSON-like values only) and reused on every page that uses it. No children.
   */
  export const Reuse: import('astro-poem-cache/reuse').ReuseComponent;
}
`;

export function poemCacheVitePlugin(get: () => VirtualConfig): Plugin {
  let building = true;
  return {
    configResolved(config) {
      building = config.command === 'build';
    },
    name: 'astro-poem-cache:virtual',
    enforce: 'pre',
    // Dev: Vite's own externalization (bare import kept, resolved by Node through package self-reference
    // or node_modules and imported natively by the module runner).
    configEnvironment(_name, config) {
      if (config.consumer === 'client') return undefined;
      return { resolve: { external: [PACKAGE] } };
    },
    resolveId(id, _importer, options) {
      if (id === VIRTUAL_ID) return RESOLVED_ID;
      // The reader (and through it the native loader) stays external in every server environment (ssr,
      // prerender, dev): the built chunk keeps `import … from "astro-poem-cache/reader"` and Node loads it.
      if (id === READER_SPECIFIER || id === REUSE_SPECIFIER || id.startsWith(`${PACKAGE}/`)) {
        const env = (this as { environment?: { config?: { consumer?: string } } }).environment;
        const server = env?.config?.consumer ? env.config.consumer === 'server' : options?.ssr === true;
        if (server && (building || id === READER_SPECIFIER || id === REUSE_SPECIFIER)) return { id, external: true };
      }
      return undefined;
    },
    load(id) {
      if (id === RESOLVED_ID) return virtualModuleSource({ ...get(), reopen: !building });
      return undefined;
    },
  };
}
