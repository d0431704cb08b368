// One validator (cache/validate.ts), every way in. Each image of the deterministic corpus
// (test/support/format-corpus.ts: about 1,750 valid and mutated images) is opened as a file through the native
// addon (mmap) and the pure-JS fallback, as POSIX shared memory (openShm), and read the way the converter's
// freshness check reads it (readCacheLayout: header and table only, from a file handle). Every path makes the
// same decision and rejects with the same CacheFormatError message; an accepted reader holds exactly the image.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forgetCache, openCache, openShm, type CacheReader } from '../cache/reader.ts';
import { SectionKind } from '../cache/layout.ts';
import { CacheFormatError, parseCache, readCacheLayout, sectionChecksumOk } from '../cache/validate.ts';
import { readCacheMeta } from '../converter/index.ts';
import { corpus } from './support/format-corpus.ts';
import { native, withoutNative } from './support/native.ts';

const skipNative = withoutNative('open-paths: the mmap and shm paths');

const dir = mkdtempSync(join(tmpdir(), 'poem-open-paths-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cases = corpus();

/** 'accepted', or the CacheFormatError's message with the label replaced by `file`; anything else is a failure. */
function outcome(run: () => { bytes?: Uint8Array } | unknown, image: Uint8Array, label: string, file: string): string {
  try {
    const reader = run() as CacheReader | undefined;
    if (reader?.bytes && Buffer.compare(Buffer.from(reader.bytes), image) !== 0) return 'ACCEPTED, but not the image';
    return 'accepted';
  } catch (error) {
    const e = error as Error;
    if (!(e instanceof CacheFormatError)) return `THREW ${e?.name}: ${e?.message}`;
    if (!e.message.startsWith(`${label}: byte ${e.offset}: expected `)) return `BAD MESSAGE: ${e.message}`;
    return `rejected: ${file}${e.message.slice(label.length)}`;
  }
}

describe('every way of opening a cache decides as parseCache does', () => {
  it('has a large corpus with both accepted and rejected images', () => {
    const accepted = (b: Uint8Array) => outcome(() => parseCache(b, 'img'), b, 'img', 'img') === 'accepted';
    const rejected = cases.filter((c) => !accepted(c.bytes)).length;
    console.log(`open-paths: ${cases.length} images, ${cases.length - rejected} accepted, ${rejected} rejected`);
    expect(cases.length).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(200);
    expect(cases.length - rejected).toBeGreaterThan(20);
  });

  it('readCacheLayout (freshness: header and table from a file) = parseCache without per-row checks', async () => {
    const disagreements: string[] = [];
    const file = join(dir, 'layout.poemcache');
    for (const c of cases) {
      writeFileSync(file, c.bytes);
      const fh = await open(file, 'r');
      let fromFile: string;
      try {
        const parsed = await readCacheLayout(fh, file);
        fromFile = outcome(() => parsed, c.bytes, file, file);
      } catch (e) {
        fromFile = outcome(
          () => {
            throw e;
          },
          c.bytes,
          file,
          file,
        );
      } finally {
        await fh.close();
      }
      const inMemory = outcome(() => parseCache(c.bytes, file, { indexes: false }), c.bytes, file, file);
      if (fromFile !== inMemory) {
        disagreements.push(`${c.label}\n  readCacheLayout: ${fromFile}\n  parseCache:      ${inMemory}`);
      }
    }
    expect(disagreements.slice(0, 10).join('\n')).toBe('');
  });

  it.skipIf(skipNative)(
    'native mmap and shm decide as the fallback does, with the same CacheFormatError message',
    () => {
      const disagreements: string[] = [];
      let shmSkipped = 0;
      let rejected = 0;
      cases.forEach((c, i) => {
        const file = join(dir, `case-${i}.poemcache`);
        writeFileSync(file, c.bytes);
        const open = (fallback: boolean) => {
          forgetCache(file);
          try {
            const reader = openCache(file, { fallback });
            if (reader.backing !== (fallback ? 'memory' : 'mmap')) throw new Error(`backing ${reader.backing}`);
            return reader;
          } finally {
            forgetCache(file);
          }
        };
        // The fallback is the reference: parseCache plus the reader's own checks (row counts, section kinds).
        const expected = outcome(() => open(true), c.bytes, file, file);
        if (expected !== 'accepted') rejected++;
        const got: [string, string][] = [['mmap', outcome(() => open(false), c.bytes, file, file)]];
        if (c.bytes.length === 0)
          shmSkipped++; // shmCreate makes no empty segment
        else {
          const name = `poem-open-paths-${process.pid}-${i}`;
          new Uint8Array(native!.shmCreate(name, c.bytes.length)).set(c.bytes);
          try {
            got.push(['shm', outcome(() => openShm(name), c.bytes, `shm:${name}`, file)]);
          } finally {
            native!.shmUnlink(name);
          }
        }
        for (const [path, o] of got) {
          if (o !== expected) disagreements.push(`${c.label} [${path}]\n  ${o}\n  fallback: ${expected}`);
        }
        rmSync(file);
      });
      const inShm = cases.length - shmSkipped;
      console.log(
        `open-paths: ${cases.length} images on mmap and fallback, ${inShm} in shared memory ` +
          `(${shmSkipped} empty ones cannot be): ${cases.length - rejected} readers, ${rejected} rejected`,
      );
      expect(disagreements.slice(0, 10).join('\n')).toBe('');
      expect(rejected).toBeGreaterThan(200);
    },
  );

  it('readCacheMeta finds the meta object exactly when the layout is valid and meta matches its CRC', async () => {
    const file = join(dir, 'meta.poemcache');
    let found = 0;
    let damagedMeta = 0;
    for (const c of cases) {
      writeFileSync(file, c.bytes);
      let expected: unknown;
      try {
        const { sections } = parseCache(c.bytes, file, { indexes: false });
        const meta = sections.find((s) => s.name === 'meta' && s.known && s.kind === SectionKind.json);
        const text = () => Buffer.from(c.bytes.subarray(meta!.offset, meta!.offset + meta!.byteLength)).toString();
        if (meta && sectionChecksumOk(c.bytes, meta)) expected = JSON.parse(text());
        else if (meta) damagedMeta++;
      } catch {
        // a damaged layout: no meta
      }
      const m = await readCacheMeta(file);
      expect(m?.meta, c.label).toEqual(expected);
      if (m) found++;
    }
    expect(found).toBeGreaterThan(100);
    expect(damagedMeta).toBeGreaterThan(0); // its checksum is what refuses these
  });
});
