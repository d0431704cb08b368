// The converter library: poems.json (+ embeddings, similarity rankings, diversity sequences) -> one cache
// file. convertCaches runs a conversion under the output's lock (guard.ts) when the cache is not fresh.
import { open, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { E, H, HEADER_SIZE, MAGIC, SECTION_ENTRY_SIZE, SECTION_NAME_BYTES, SectionKind, SectionName } from '../cache/layout.ts';
import { CONVERTER_VERSION, conversionSettings, convertUnguarded, inputsOf, type ConvertOptions, type ConvertResult, type Fingerprint } from './convert.ts';
import { runGuarded } from './guard.ts';

export { ConvertError, AbortError } from './errors.ts';
export { CONVERTER_VERSION, type ConvertOptions, type ConvertResult } from './convert.ts';
export { DEFAULT_FIELDS } from './fields.ts';
export { KEY_MODES, type KeyMode, type KeyReading } from './identity.ts';
export { INPUT_ROLES, KEYED_ROLES, PIPELINE_FILES, type InputRole, type KeyedRole } from './roles.ts';

// ---------------------------------------------------------------- freshness

/** Reads the "meta" JSON section (and the section names) of an existing cache without reading the rest. */
export async function readCacheMeta(path: string): Promise<{ meta: Record<string, unknown>; sections: string[]; rows: number; size: number } | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(HEADER_SIZE);
    await fh.read(head, 0, HEADER_SIZE, 0);
    if (head.toString('latin1', 0, 8) !== MAGIC) return undefined;
    const count = head.readUInt32LE(H.sectionCount);
    if (count > 1024 || Number(head.readBigUInt64LE(H.fileSize)) !== size) return undefined;
    const table = Buffer.alloc(count * SECTION_ENTRY_SIZE);
    await fh.read(table, 0, table.length, HEADER_SIZE);
    if (crc32(table) !== head.readUInt32LE(H.tableChecksum)) return undefined;
    const sections: string[] = [];
    let meta: Record<string, unknown> | undefined;
    let rows = 0;
    for (let i = 0; i < count; i++) {
      const at = i * SECTION_ENTRY_SIZE;
      const name = table.toString('utf8', at + E.name, at + E.name + SECTION_NAME_BYTES).replace(/\0+$/, '');
      const kind = table.readUInt16LE(at + E.kind);
      sections.push(name);
      if (name === SectionName.ids) rows = table.readUInt32LE(at + E.count);
      if (name === SectionName.meta && kind === SectionKind.json) {
        const offset = Number(table.readBigUInt64LE(at + E.offset));
        const len = table.readUInt32LE(at + E.count);
        if (len > 64 << 20 || offset + len > size) return undefined;
        const bytes = Buffer.alloc(len);
        await fh.read(bytes, 0, len, offset);
        if (crc32(bytes) !== table.readUInt32LE(at + E.checksum) && len === Number(table.readBigUInt64LE(at + E.byteLength))) return undefined;
        meta = JSON.parse(bytes.toString('utf8'));
      }
    }
    return meta ? { meta, sections, rows, size } : undefined;
  } catch {
    return undefined;
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
export async function isFresh(o: Pick<ConvertOptions, 'poems' | 'embeddings' | 'similarity' | 'diversity' | 'out' | 'keys' | 'fields'>): Promise<boolean> {
  return (await freshCache(o)) !== undefined;
}

async function freshCache(o: Pick<ConvertOptions, 'poems' | 'embeddings' | 'similarity' | 'diversity' | 'out' | 'keys' | 'fields'>) {
  const existing = await readCacheMeta(resolve(o.out));
  if (!existing) return undefined;
  const meta = existing.meta as { converter?: { version?: string }; inputs?: Record<string, Fingerprint>; settings?: unknown };
  if (meta.converter?.version !== CONVERTER_VERSION || !meta.inputs) return undefined;
  if (JSON.stringify(meta.settings) !== JSON.stringify(conversionSettings(o))) return undefined;
  const given = inputsOf(o);
  if (Object.keys(meta.inputs).sort().join() !== given.map((g) => g.role).sort().join()) return undefined;
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
