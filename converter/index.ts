// The converter library: poems.json (+ embeddings, similarity rankings, diversity sequences) -> one cache
// file. convertCaches runs a conversion under the output's lock (guard.ts) when the cache is not fresh.
import { type FileHandle, open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { SectionKind, SectionName } from '../cache/layout.ts';
import { CacheFormatError, readCacheLayout, readSectionChecked } from '../cache/validate.ts';
import {
  CONVERTER_VERSION,
  conversionSettings,
  convertUnguarded,
  inputsOf,
  type ConvertOptions,
  type ConvertResult,
  type Fingerprint,
} from './convert.ts';
import { runGuarded } from './guard.ts';

export { ConvertError, AbortError } from './errors.ts';
export { CONVERTER_VERSION, type ConvertOptions, type ConvertResult } from './convert.ts';
export { DEFAULT_FIELDS } from './fields.ts';
export { KEY_MODES, type KeyMode, type KeyReading } from './identity.ts';
export { INPUT_ROLES, KEYED_ROLES, PIPELINE_FILES, type InputRole, type KeyedRole } from './roles.ts';

// ---------------------------------------------------------------- freshness

/**
 * Reads the "meta" JSON section (and the section names) of an existing cache without reading the rest: the
 * header and the section table, validated by cache/validate.ts, then the meta section, checked against its
 * checksum. Undefined when there is no readable cache there (missing, damaged, not ours, no meta object).
 */
export async function readCacheMeta(
  path: string,
): Promise<{ meta: Record<string, unknown>; sections: string[]; rows: number; size: number } | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const { header, sections } = await readCacheLayout(fh, path);
    const known = (name: string, kind: number) => sections.find((s) => s.name === name && s.known && s.kind === kind);
    const metaSection = known(SectionName.meta, SectionKind.json);
    if (!metaSection) return undefined;
    const meta: unknown = JSON.parse(new TextDecoder().decode(await readSectionChecked(fh, path, metaSection)));
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return undefined;
    const rows = known(SectionName.ids, SectionKind.ids)?.count ?? 0;
    const names = sections.map((s) => s.name);
    return { meta: meta as Record<string, unknown>, sections: names, rows, size: header.fileSize };
  } catch (e) {
    // Not a cache this converter can trust: convert again. OS errors (EISDIR, EIO) say the same; bugs do not.
    const osError = typeof (e as { code?: unknown }).code === 'string';
    if (e instanceof CacheFormatError || e instanceof SyntaxError || osError) return undefined;
    throw e;
  } finally {
    await fh.close();
  }
}

async function crcOfFile(file: string): Promise<number> {
  let c = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) c = crc32(chunk as Buffer, c);
  return c;
}

/**
 * True when `out` is a cache written by this converter version from exactly these inputs with the same
 * settings (fields, keys): the same set of roles, and per input the same size and the same CRC-32 of the
 * whole file (hashed here, streamed; mtime is recorded but not compared, so a touch or a fresh checkout does
 * not force a conversion).
 */
export async function isFresh(
  o: Pick<ConvertOptions, 'poems' | 'embeddings' | 'similarity' | 'diversity' | 'out' | 'keys' | 'fields'>,
): Promise<boolean> {
  return (await freshCache(o)) !== undefined;
}

async function freshCache(
  o: Pick<ConvertOptions, 'poems' | 'embeddings' | 'similarity' | 'diversity' | 'out' | 'keys' | 'fields'>,
) {
  const existing = await readCacheMeta(resolve(o.out));
  if (!existing) return undefined;
  const meta = existing.meta as {
    converter?: { version?: string };
    inputs?: Record<string, Fingerprint>;
    settings?: unknown;
  };
  if (meta.converter?.version !== CONVERTER_VERSION || !meta.inputs) return undefined;
  if (JSON.stringify(meta.settings) !== JSON.stringify(conversionSettings(o))) return undefined;
  const given = inputsOf(o);
  if (
    Object.keys(meta.inputs).sort().join() !==
    given
      .map((g) => g.role)
      .sort()
      .join()
  )
    return undefined;
  for (const { role, file } of given) {
    const fp = meta.inputs[role];
    try {
      const st = await stat(file);
      if (st.size !== fp.size) return undefined;
      if ((await crcOfFile(file)) !== fp.crc32) return undefined;
    } catch {
      return undefined;
    }
  }
  return { size: existing.size, rows: existing.rows, sections: existing.sections };
}

/** Converts under the output's lock, after removing dead converters' leftovers (converter/guard.ts). */
export async function convertCaches(o: ConvertOptions): Promise<ConvertResult> {
  return runGuarded(o, (opts) => convertUnguarded(opts, freshCache));
}
