/// <reference types="astro/client" />
// Types of the integration's virtual module, as the pages use it.
declare module 'virtual:poem-cache' {
  import type { CacheReader } from '../../cache/reader.ts';
  /** The cache, opened lazily in the calling thread. */
  export function getCache(): CacheReader;
  export const pageSize: number;
  export const maxPagesPerPoem: number;
}
