// Converts the JSON inputs into the binary cache when stale, through the converter library, logging
// progress through the integration logger; prepare() does that once per cache file and opens the cache.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AstroIntegrationLogger } from 'astro';
import { openCache } from '../cache/reader.ts';
import { READING_NAMES } from '../converter/identity.ts';
import type { ConvertResult } from '../converter/index.ts';
import type { KeyedRole } from '../converter/roles.ts';
import type { ResolvedOptions } from './options.ts';

// Conversions in flight, per cache file, on globalThis: integration modules survive `astro dev` restarts,
// and a restart while converting waits for the same run.
const CONVERTING_KEY = Symbol.for('astro-poem-cache:converting');
function converting(): Map<string, Promise<unknown>> {
  const g = globalThis as { [CONVERTING_KEY]?: Map<string, Promise<unknown>> };
  return (g[CONVERTING_KEY] ??= new Map());
}

/** Converts if stale (one run per cache file at a time), then opens the cache on this thread. */
export async function prepare(o: ResolvedOptions, logger: AstroIntegrationLogger): Promise<void> {
  const runs = converting();
  let run = runs.get(o.cacheFile);
  if (!run) {
    run = ensureCache(o, logger).finally(() => runs.delete(o.cacheFile));
    runs.set(o.cacheFile, run);
  }
  await run;
  // openCache is keyed by path + inode + size + mtime: a converted (renamed-in) file is a new reader.
  openCache(o.cacheFile);
}

const mb = (n: number) => (n / 1048576).toFixed(1);

/** Converts when stale (the converter decides, from the input fingerprints; `skipped` says it kept the cache). */
export async function ensureCache(
  o: ResolvedOptions,
  logger: AstroIntegrationLogger,
  force = false,
): Promise<ConvertResult> {
  // Loaded on first use: pages that only read a cache never pay for the converter's modules.
  const { convertCaches } = await import('../converter/index.ts');
  mkdirSync(dirname(o.cacheFile), { recursive: true });
  let last = 0;
  let lastFile = '';
  const input = (role: string) => o.inputs.find((i) => i.role === role)?.file;
  const result = await convertCaches({
    poems: input('poems')!,
    embeddings: input('embeddings'),
    similarity: input('similarity'),
    diversity: input('diversity'),
    out: o.cacheFile,
    force,
    keys: o.keys,
    fields: o.fields,
    limits: o.limits,
    onMismatch: o.onMismatch,
    onWarning: (m) => logger.warn(m),
    lock: {
      onWait: (h, file) =>
        logger.info(`waiting for ${file}: another build (pid ${h.pid} on ${h.host}, since ${h.started}) is converting`),
    },
    onProgress(p) {
      const now = Date.now();
      if (p.file === lastFile && now - last < 2000 && p.bytesRead < p.totalBytes) return;
      last = now;
      lastFile = p.file;
      const pct = p.totalBytes > 0 ? ((100 * p.bytesRead) / p.totalBytes).toFixed(0) : '?';
      const rate = `${mb(p.bytesPerSecond)} MB/s, ~${Math.ceil(p.etaSeconds)} s left`;
      logger.info(`converting ${p.file}: ${mb(p.bytesRead)}/${mb(p.totalBytes)} MB (${pct}%), ${rate}`);
    },
  });
  if (result.skipped) {
    logger.info(`cache is fresh: ${result.out} (${result.rows} poems, ${mb(result.size)} MB)`);
  } else {
    const per = result.inputs.map((i) => `${i.role} ${mb(i.bytes)} MB at ${i.mbPerSecond.toFixed(0)} MB/s`).join(', ');
    const what = `${mb(result.size)} MB, sections ${result.sections.join(', ')}`;
    const took = `${result.seconds.toFixed(1)} s${per ? ` — ${per}` : ''}`;
    logger.info(`converted ${result.rows} poems into ${result.out} (${what}) in ${took}`);
    // How each input named poems, once per file (readings: docs/INPUTS.md)
    for (const i of result.inputs) {
      if (!i.reading) continue;
      const how = o.keys?.[i.role as KeyedRole] ? `as keys.${i.role} says` : 'read from the data (keys: auto)';
      logger.info(`${i.file} names poems by ${READING_NAMES[i.reading]} (${how})`);
    }
  }
  return result;
}
