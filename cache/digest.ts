// Content digests for Astro's incremental builds (CacheReader.pageKey). Each row gets a 16-byte digest of
// everything the cache holds for that poem as per-row strings: its poem_index, its id and, for every
// strings-kind section in section-table order, the section's name and the row's bytes with their length.
// The digests depend on the data only: not on the file's path, its mtime or where the image lives.
import { hash } from 'node:crypto';

/** Bytes per row digest. */
export const ROW_DIGEST_BYTES = 16;
// Bumped whenever what goes into a digest changes, so that keys of an older scheme never match.
const SCHEME = 'astro-poem-cache pageKey 1';

/** One per-row strings section: its name, offsets[count + 1] and bytes (views into the image). */
export interface StringsColumn {
  name: string;
  offsets: Uint32Array;
  bytes: Buffer;
}

/**
 * One pass over the raw bytes (nothing is decoded): digest r is SHA-256, cut to 16 bytes, of
 * u32 poem_index, i32 id, then per column: u32 name length, name, u32 byte length, the row's bytes.
 * Lengths are explicit, so "ab" + "c" and "a" + "bc" differ.
 */
export function rowDigests(ids: Int32Array, columns: readonly StringsColumn[]): Uint8Array {
  const count = ids.length;
  const out = new Uint8Array(count * ROW_DIGEST_BYTES);
  const names = columns.map((c) => Buffer.from(c.name, 'utf8'));
  let scratch = Buffer.allocUnsafe(4096);
  for (let r = 0; r < count; r++) {
    let need = 8;
    for (let c = 0; c < columns.length; c++) {
      need += 8 + names[c].length + columns[c].offsets[r + 1] - columns[c].offsets[r];
    }
    if (need > scratch.length) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
    scratch.writeUInt32LE(r + 1, 0);
    scratch.writeInt32LE(ids[r], 4);
    let at = 8;
    for (let c = 0; c < columns.length; c++) {
      const { offsets, bytes } = columns[c];
      const a = offsets[r];
      const b = offsets[r + 1];
      scratch.writeUInt32LE(names[c].length, at);
      names[c].copy(scratch, at + 4);
      at += 4 + names[c].length;
      scratch.writeUInt32LE(b - a, at);
      bytes.copy(scratch, at + 4, a, b);
      at += 4 + b - a;
    }
    out.set(hash('sha256', scratch.subarray(0, at), 'buffer').subarray(0, ROW_DIGEST_BYTES), r * ROW_DIGEST_BYTES);
  }
  return out;
}

/**
 * The keys of pages over one reader's row digests: SHA-256 (32 hex characters of it) of the scheme, `salt`
 * (what the whole cache says about its rows, e.g. which field path each field section holds), the row count,
 * the digests of `rows` in order, then each extra value type-tagged and length-prefixed. The bytes are written
 * into one scratch buffer kept for the next call (a page key is asked for every page of a site).
 */
export class PageKeys {
  private readonly digests: Uint8Array;
  private readonly head: Buffer;
  private scratch = Buffer.allocUnsafe(4096);
  constructor(digests: Uint8Array, salt: string) {
    this.digests = digests;
    this.head = Buffer.from(`${SCHEME}\0${salt}\0`, 'utf8');
  }

  /** Rows must already be checked. */
  key(rows: ArrayLike<number>, extra: readonly (string | number)[]): string {
    // Numbers as their shortest round-trip decimal: one spelling per value (every NaN alike).
    const bodies = extra.map((x) => (typeof x === 'string' ? x : String(x)));
    let need = this.head.length + 8 + rows.length * ROW_DIGEST_BYTES;
    for (const b of bodies) need += 5 + Buffer.byteLength(b, 'utf8');
    if (need > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    const out = this.scratch;
    let at = this.head.copy(out, 0);
    at = out.writeUInt32LE(rows.length, at);
    const digests = this.digests;
    for (let i = 0; i < rows.length; i++) {
      // 16 bytes: a loop is cheaper than a subarray per row
      for (let from = rows[i] * ROW_DIGEST_BYTES, k = 0; k < ROW_DIGEST_BYTES; k++) out[at++] = digests[from + k];
    }
    at = out.writeUInt32LE(extra.length, at);
    for (let i = 0; i < extra.length; i++) {
      out[at++] = typeof extra[i] === 'string' ? 0x73 : 0x6e; // 's' | 'n'
      const len = out.write(bodies[i], at + 4, 'utf8');
      out.writeUInt32LE(len, at);
      at += 4 + len;
    }
    return hash('sha256', out.subarray(0, at), 'hex').slice(0, 32);
  }
}
