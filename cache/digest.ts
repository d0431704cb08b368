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
 * The key of a page: SHA-256 (32 hex characters of it) of the scheme, `salt` (what the whole cache says
 * about its rows, e.g. which field path each field section holds), the row count, the digests of `rows` in
 * order, then each extra value type-tagged and length-prefixed. Rows must already be checked.
 */
export function pageKeyOf(
  digests: Uint8Array,
  salt: string,
  rows: ArrayLike<number>,
  extra: readonly (string | number)[],
): string {
  const head = Buffer.from(`${SCHEME}\0${salt}\0`, 'utf8');
  const parts: Uint8Array[] = [head, u32(rows.length)];
  const picked = new Uint8Array(rows.length * ROW_DIGEST_BYTES);
  for (let i = 0; i < rows.length; i++) {
    const at = rows[i] * ROW_DIGEST_BYTES;
    picked.set(digests.subarray(at, at + ROW_DIGEST_BYTES), i * ROW_DIGEST_BYTES);
  }
  parts.push(picked, u32(extra.length));
  for (const x of extra) {
    // Numbers as their shortest round-trip decimal: one spelling per value (every NaN alike).
    const isString = typeof x === 'string';
    const body = Buffer.from(isString ? x : String(x), 'utf8');
    parts.push(Buffer.from(isString ? 's' : 'n', 'latin1'), u32(body.length), body);
  }
  return hash('sha256', Buffer.concat(parts), 'hex').slice(0, 32);
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(n, 0);
  return b;
}
