// Converts the JSON inputs into the binary cache when stale, through the converter library
// (astro-poem-cache/converter), logging progress through the integration logger.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AstroIntegrationLogger } from 'astro';
import type { ResolvedOptions } from './options.ts';

interface ConverterProgress { file: string; bytesRead: number; totalBytes: number; bytesPerSecond: number; etaSeconds: number }
interface ConverterResult {
  out: string;
  skipped: boolean;
  size: number;
  rows: number;
  sections: string[];
  seconds: number;
  inputs: { role: string; file: string; bytes: number; seconds: number; mbPerSecond: number }[];
}
interface ConverterOptions {
  poems: string;
  embeddings?: string;
  similarity?: string;
  diversity?: string;
  out: string;
  force?: boolean;
  workers?: number;
  onProgress?: (p: ConverterProgress) => void;
  signal?: AbortSignal;
}
interface ConverterModule {
  convertCaches(o: ConverterOptions): Promise<ConverterResult>;
}

// A variable specifier: the converter is loaded only when a conversion is needed.
const CONVERTER = 'astro-poem-cache/converter';

async function loadConverter(): Promise<ConverterModule | Error> {
  try {
    const mod = (await import(CONVERTER)) as Partial<ConverterModule>;
    if (typeof mod.convertCaches !== 'function') return new Error(`${CONVERTER} does not export convertCaches()`);
    return mod as ConverterModule;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

const mb = (n: number) => (n / 1048576).toFixed(1);

/** Converts when stale (the converter decides, from the input fingerprints), returns the result or undefined when an existing cache was kept. */
export async function ensureCache(o: ResolvedOptions, logger: AstroIntegrationLogger, force = false): Promise<ConverterResult | undefined> {
  const conv = await loadConverter();
  if (conv instanceof Error) {
    if (existsSync(o.cacheFile)) {
      logger.warn(`the converter is not available (${conv.message}); using the existing cache ${o.cacheFile} without a freshness check`);
      return undefined;
    }
    throw new Error(`poemCache: cannot build ${o.cacheFile}: the converter is not available (${conv.message})`);
  }
  mkdirSync(dirname(o.cacheFile), { recursive: true });
  let last = 0;
  let lastFile = '';
  const input = (role: string) => o.inputs.find((i) => i.role === role)?.file;
  const result = await conv.convertCaches({
    poems: input('poems')!,
    embeddings: input('embeddings'),
    similarity: input('similarity'),
    diversity: input('diversity'),
    out: o.cacheFile,
    force,
    onProgress(p) {
      const now = Date.now();
      if (p.file === lastFile && now - last < 2000 && p.bytesRead < p.totalBytes) return;
      last = now;
      lastFile = p.file;
      const pct = p.totalBytes > 0 ? ((100 * p.bytesRead) / p.totalBytes).toFixed(0) : '?';
      logger.info(`converting ${p.file}: ${mb(p.bytesRead)}/${mb(p.totalBytes)} MB (${pct}%), ${mb(p.bytesPerSecond)} MB/s, ~${Math.ceil(p.etaSeconds)} s left`);
    },
  });
  if (result.skipped) {
    logger.info(`cache is fresh: ${result.out} (${result.rows} poems, ${mb(result.size)} MB)`);
  } else {
    const per = result.inputs.map((i) => `${i.role} ${mb(i.bytes)} MB at ${i.mbPerSecond.toFixed(0)} MB/s`).join(', ');
    logger.info(`converted ${result.rows} poems into ${result.out} (${mb(result.size)} MB, sections ${result.sections.join(', ')}) in ${result.seconds.toFixed(1)} s${per ? ` — ${per}` : ''}`);
  }
  return result;
}
