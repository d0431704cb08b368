// Converts the JSON inputs into the binary cache when stale, through the converter library, logging
// progress through the integration logger.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AstroIntegrationLogger } from 'astro';
import type { ConvertResult } from '../converter/index.ts';
import type { ResolvedOptions } from './options.ts';

const mb = (n: number) => (n / 1048576).toFixed(1);

/** Converts when stale (the converter decides, from the input fingerprints; `skipped` says it kept the cache). */
export async function ensureCache(o: ResolvedOptions, logger: AstroIntegrationLogger, force = false): Promise<ConvertResult> {
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
    limits: o.limits,
    onMismatch: o.onMismatch,
    onWarning: (m) => logger.warn(m),
    lock: { onWait: (h, file) => logger.info(`waiting for ${file}: another build (pid ${h.pid} on ${h.host}, since ${h.started}) is converting`) },
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
