/// <reference types="astro/client" />
// Types of the integration's virtual module, as the pages use it.
declare module 'virtual:poem-cache' {
  import type { CacheReader } from '../../cache/reader.ts';
  /** The cache, opened lazily in the calling thread. */
  export function getCache(): CacheReader;
  export const pageSize: number;
  export const maxPagesPerPoem: number;
  /** <Reuse of={Component} …props />: Component rendered once per build for each distinct props (JSON-like). */
  export const Reuse: import('../../integration/reuse.ts').ReuseComponent;
}
