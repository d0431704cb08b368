// A cache file as inspect and verify read it: mapped (inspect, when the addon is there) or read whole.
import { closeSync, fstatSync, openSync, type Stats, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { readFileInto } from '../../cache/read-file.ts';
import { CacheFormatError, parseCache, type ParsedCache } from '../../cache/validate.ts';
import { Failure, fileError, oneLine } from './common.ts';

/** The whole file in an unshared ArrayBuffer (fatal TextDecoder refuses shared memory), read in chunks. */
export function readImage(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(path, e);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw fileError(path, { code: 'EISDIR' });
    const image = new Uint8Array(st.size);
    const got = readFileInto(fd, image);
    if (got < st.size) throw new Failure(`${path}: the file shrank while being read (${got} of ${st.size} bytes)`);
    return image;
  } finally {
    closeSync(fd);
  }
}

/**
 * For inspect: maps the file with the native addon when it is available (only the pages that validation and
 * inspect read are touched), else reads it; parseCache validates either way.
 */
export async function parseImage(path: string): Promise<{ bytes: Uint8Array; parsed: ParsedCache }> {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw fileError(path, e);
  }
  if (st.isDirectory()) throw fileError(path, { code: 'EISDIR' });
  const { loadNative } = await import('../../native/index.ts');
  const native = loadNative(); // undefined with POEM_CACHE_NO_NATIVE=1 too: the loader is where that is decided
  try {
    const bytes = native ? new Uint8Array(native.mapFile(resolve(path))) : readImage(path);
    return { bytes, parsed: parseCache(bytes, path) };
  } catch (e) {
    if (e instanceof CacheFormatError) throw new Failure(oneLine(e));
    if (e instanceof Failure) throw e;
    throw fileError(path, e);
  }
}
