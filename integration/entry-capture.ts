// A Vite plugin that captures the file name of Astro's built prerender entry (the render threads import it)
// and checks that the prerender chunks import the cache reader at run time instead of bundling it.
import { join } from 'node:path';
import type { Plugin } from 'vite';
import type { RenderStats } from './build-stats.ts';
import { PACKAGE, READER_SPECIFIER } from './virtual.ts';

const PRERENDER_ENTRY_PREFIX = 'prerender-entry';

export interface EntryCapture {
  plugin: Plugin;
  /** The built prerender entry, once the prerender environment's bundle was written. */
  entry(): string | undefined;
  bundle(): RenderStats['bundle'];
}

/** `readerFiles`: the reader's and the native loader's source files, which must stay out of page chunks. */
export function captureEntry(readerFiles: string[]): EntryCapture {
  let entry: string | undefined;
  let bundle: RenderStats['bundle'];
  const plugin: Plugin = {
    name: 'astro-poem-cache:prerender-entry',
    apply: 'build',
    writeBundle(outputOptions, out) {
      const env = (this as { environment?: { name?: string } }).environment?.name;
      if (env !== undefined && env !== 'prerender') return;
      const check = { readerImports: 0, readerBundled: false };
      for (const chunk of Object.values(out)) {
        if (chunk.type !== 'chunk') continue;
        if (chunk.isEntry && chunk.fileName.startsWith(PRERENDER_ENTRY_PREFIX) && outputOptions.dir) {
          entry = join(outputOptions.dir, chunk.fileName);
        }
        if (chunk.imports.includes(READER_SPECIFIER)) check.readerImports++;
        if (chunk.moduleIds.some((id) => readerFiles.includes(id))) check.readerBundled = true;
      }
      bundle = check;
      if (check.readerBundled) {
        this.warn(
          'the cache reader was bundled into the prerender chunks; the native addon may not load from there ' +
            `(is "${PACKAGE}" in ssr.noExternal?)`,
        );
      }
    },
  };
  return { plugin, entry: () => entry, bundle: () => bundle };
}
