// The native addon: read-only zero-copy mappings of cache files and shared memory, errors, worker threads.
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { FORMAT_MINOR, H, HEADER_SIZE, SECTION_ENTRY_SIZE, SectionKind } from '../cache/layout.ts';
import { openCache, openShm } from '../cache/reader.ts';
import { CacheFormatError, parseCache } from '../cache/validate.ts';
import { loadNative, NativeSystemError } from '../native/index.ts';
import { buildImage, reseal, sampleImage } from './native-cache-image.ts';

const native = loadNative();
const ADDON = fileURLToPath(new URL('../native/build/Release/poem_cache.node', import.meta.url));
if (!native) console.log(`native.test: skipped, native addon not available (${process.env.POEM_CACHE_NO_NATIVE === '1' ? 'POEM_CACHE_NO_NATIVE=1' : 'not built: npm run build:native'})`);
const noShared = !native?.mapFileShared;
if (native && noShared) console.log(`native.test: mapFileShared skipped, node_api_create_external_sharedarraybuffer is missing in Node ${process.version} (needs >= 24.16)`);

const dir = mkdtempSync(join(tmpdir(), 'poem-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
function file(bytes: Uint8Array): string {
  const path = join(dir, `cache-${fileNo++}.bin`);
  writeFileSync(path, bytes);
  return path;
}
const messageOf = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

// A worker that maps (or receives) the cache and reports what it reads.
const READER = `
const { parentPort, workerData } = require('node:worker_threads');
const { crc32 } = require('node:zlib');
const buffer = workerData.shared ?? require(workerData.addon).mapFile(workerData.path);
const bytes = new Uint8Array(buffer);
const floats = new Float32Array(buffer, workerData.floatsAt, 4);
parentPort.postMessage({ crc: crc32(bytes), length: bytes.length, floats: [...floats], shared: buffer instanceof SharedArrayBuffer });
`;
function readInWorker(data: Record<string, unknown>): Promise<{ crc: number; length: number; floats: number[]; shared: boolean }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(READER, { eval: true, workerData: data });
    worker.once('message', (m) => { resolve(m); void worker.terminate(); });
    worker.once('error', reject);
  });
}

describe.skipIf(!native)('native mapFile', () => {
  const image = sampleImage();
  const path = file(image);
  const embeddingsAt = parseCache(image, 'x').sections.find((s) => s.kind === SectionKind.matrix)!.offset;

  it('returns an ArrayBuffer holding exactly the file bytes', () => {
    const buffer = native!.mapFile(path);
    expect(buffer).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(buffer).equals(Buffer.from(image))).toBe(true);
    expect([...new Float32Array(buffer, embeddingsAt, 3)]).toEqual([0.5, 1, -2]);
  });

  it('is a view onto a file mapping, not a copy', () => {
    const buffer = native!.mapFile(path);
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(path));
    expect(maps.length).toBeGreaterThan(0);
    expect(maps[0].split(/\s+/)[1]).toBe('r--s'); // read-only, shared
    expect(buffer.byteLength).toBe(image.length);
  });

  it('maps a 200 MB file without reading it into memory', () => {
    // A sparse file: header + one json section of ~200 MB that validation never touches.
    const count = 200 * 1024 * 1024;
    const head = buildImage([{ name: 'meta', kind: SectionKind.json, count: 0 }]);
    const v = new DataView(head.buffer);
    const entry = HEADER_SIZE;
    v.setUint32(entry + 48, count, true); // E.count
    v.setBigUint64(entry + 40, BigInt(count), true); // E.byteLength
    const size = Number(v.getBigUint64(entry + 32, true)) + count;
    v.setBigUint64(H.fileSize, BigInt(size), true);
    reseal(head);
    const big = join(dir, 'big.bin');
    const fd = openSync(big, 'w');
    writeSync(fd, head);
    ftruncateSync(fd, size);
    closeSync(fd);
    const before = process.memoryUsage().rss;
    const buffer = native!.mapFile(big);
    const grown = process.memoryUsage().rss - before;
    expect(buffer.byteLength).toBe(size);
    expect(grown).toBeLessThan(20 * 1024 * 1024);
  });

  it('is read-only: a write through it kills the process and leaves the file unchanged', () => {
    const child = spawnSync(process.execPath, ['-e', `
      const buffer = require(${JSON.stringify(ADDON)}).mapFile(${JSON.stringify(path)});
      new Uint8Array(buffer)[${embeddingsAt}] = 0x55;
      console.log('wrote');
    `], { encoding: 'utf8' });
    expect(child.stdout).not.toContain('wrote');
    expect(['SIGSEGV', 'SIGBUS']).toContain(child.signal);
    expect(readFileSync(path).equals(Buffer.from(image))).toBe(true);
  });

  it('reports a missing file as a NativeSystemError shaped like Node\'s own', () => {
    const missing = join(dir, 'nope.bin');
    let thrown: unknown;
    try {
      native!.mapFile(missing);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NativeSystemError);
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).toMatchObject({
      name: 'NativeSystemError', message: `${missing}: open failed: No such file or directory`,
      code: 'ENOENT', errno: -2, syscall: 'open', path: missing,
    });
    // The same code, errno and syscall as Node's own error for the same call.
    let nodeError: NodeJS.ErrnoException | undefined;
    try {
      openSync(missing, 'r');
    } catch (error) {
      nodeError = error as NodeJS.ErrnoException;
    }
    const { code, errno, syscall, path } = nodeError!;
    expect(thrown).toMatchObject({ code, errno, syscall, path });
  });

  it('reports a directory as an mmap failure with its errno name', () => {
    expect(() => native!.mapFile(dir)).toThrow(expect.objectContaining({
      name: 'NativeSystemError', code: 'ENODEV', errno: -19, syscall: 'mmap', path: dir,
      message: expect.stringContaining(`${dir}: mmap failed: `),
    }));
  });

  it('maps without checking anything: an empty file is an empty ArrayBuffer, a damaged one its bytes', () => {
    expect(native!.mapFile(file(new Uint8Array(0))).byteLength).toBe(0);
    const damaged = image.slice();
    damaged[0] ^= 0xff;
    expect(Buffer.from(native!.mapFile(file(damaged))).equals(damaged)).toBe(true);
  });

  const formatCases: [string, () => Uint8Array, string][] = [
    ['an empty file', () => new Uint8Array(0), 'expected a 64-byte header, found a file of 0 bytes'],
    ['a truncated file', () => image.slice(0, image.length - 10), '(truncated or extended file?)'],
    ['a corrupted header checksum', () => { const b = image.slice(); b[H.headerChecksum] ^= 0xff; return b; }, 'expected header checksum'],
    ['a newer major version', () => { const b = image.slice(); b[H.major] = 2; return reseal(b); }, `found 2.${FORMAT_MINOR}: written by a newer astro-poem-cache, upgrade this package to read it`],
    ['a bad section table', () => { const b = image.slice(); b[HEADER_SIZE + SECTION_ENTRY_SIZE + 30] ^= 1; return b; }, 'expected section table checksum'],
  ];
  for (const [what, make, text] of formatCases) {
    it(`openCache through the addon rejects ${what} with the fallback's CacheFormatError`, () => {
      const bytes = make();
      const p = file(bytes);
      const thrown = (fallback: boolean) => {
        try {
          openCache(p, { fallback });
        } catch (error) {
          return error;
        }
        return undefined;
      };
      const mapped = thrown(false);
      const read = thrown(true);
      expect(mapped).toBeInstanceOf(CacheFormatError);
      expect(read).toBeInstanceOf(CacheFormatError);
      expect((mapped as CacheFormatError).message).toBe((read as CacheFormatError).message);
      expect((mapped as CacheFormatError).message).toContain(text);
      expect((mapped as CacheFormatError).message).toContain(`${p}: byte ${(mapped as CacheFormatError).offset}: `);
    });
  }

  it('accepts what cache/writer.ts writes, as parseCache does', async () => {
    const writer: Record<string, unknown> = await import('../cache/writer.ts').catch(() => ({}));
    if (typeof writer.writeCache !== 'function') {
      console.log('native.test: writer check skipped, cache/writer.ts has no writeCache()');
      return;
    }
    const writeCache = writer.writeCache as (path: string, data: unknown) => Promise<unknown>;
    const written = join(dir, 'written.bin');
    const rows = 50;
    await writeCache(written, {
      ids: Array.from({ length: rows }, (_, r) => 1000 + r * 3),
      embeddings: { dim: 8, values: Float32Array.from({ length: rows * 8 }, (_, i) => i / 7) },
      similar: { lists: Array.from({ length: rows }, (_, r) => [(r + 1) % rows, (r + 2) % rows]), scores: Array.from({ length: rows }, () => [0.5, 0.25]) },
      title: Array.from({ length: rows }, (_, r) => `Poème ${r}`),
      meta: { rows },
    });
    const bytes = readFileSync(written);
    expect(messageOf(() => parseCache(bytes, written))).toBe('accepted');
    expect(Buffer.from(native!.mapFile(written)).equals(bytes)).toBe(true);
  });

  it('lets the main thread and 4 worker threads map the same file and read the same values', async () => {
    const main = new Uint8Array(native!.mapFile(path));
    const { crc32 } = await import('node:zlib');
    const expected = { crc: crc32(main), length: main.length, floats: [...new Float32Array(main.buffer, embeddingsAt, 4)], shared: false };
    const results = await Promise.all([0, 1, 2, 3].map(() => readInWorker({ addon: ADDON, path, floatsAt: embeddingsAt })));
    for (const r of results) expect(r).toEqual(expected);
  });
});

describe.skipIf(!native || noShared)('native mapFileShared', () => {
  it('returns a SharedArrayBuffer over the mapping that a worker reads without copying', async () => {
    const image = sampleImage();
    const path = file(image);
    const embeddingsAt = parseCache(image, 'x').sections.find((s) => s.kind === SectionKind.matrix)!.offset;
    const shared = native!.mapFileShared!(path);
    expect(shared).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(new Uint8Array(shared)).equals(Buffer.from(image))).toBe(true);
    const { crc32 } = await import('node:zlib');
    const fromWorker = await readInWorker({ shared, floatsAt: embeddingsAt });
    expect(fromWorker).toEqual({ crc: crc32(image), length: image.length, floats: [0.5, 1, -2, 3], shared: true });
    // Still mapped and readable here after the worker has gone.
    expect(new Float32Array(shared, embeddingsAt, 1)[0]).toBe(0.5);
    expect(() => native!.mapFileShared!(join(dir, 'nope.bin'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe.skipIf(!native)('native shared memory', () => {
  it('creates (0600), fills, opens read-only, refuses a second create, and unlinks; openShm validates', () => {
    const name = `poem-cache-test-${process.pid}-${Date.now()}`;
    const image = sampleImage();
    const writable = native!.shmCreate(name, image.length);
    try {
      expect(writable.byteLength).toBe(image.length);
      expect(statSync(`/dev/shm/${name}`).mode & 0o777).toBe(0o600);
      expect(() => native!.shmCreate(name, 64)).toThrow(expect.objectContaining({
        name: 'NativeSystemError', code: 'EEXIST', errno: -17, syscall: 'shm_open', path: `/${name}`,
        message: `shm:${name}: shm_open failed: File exists`,
      }));
      // Not a cache yet: the addon maps it, openShm's parseCache refuses it.
      expect(native!.shmOpen(name).byteLength).toBe(image.length);
      expect(() => openShm(name)).toThrow(CacheFormatError);
      const nuls = JSON.stringify('\0'.repeat(8));
      expect(() => openShm(name)).toThrow(`shm:${name}: byte 0: expected magic "POEMCACH" (not a poem cache file?), found ${nuls}`);
      new Uint8Array(writable).set(image);
      const readable = native!.shmOpen(name);
      expect(Buffer.from(readable).equals(Buffer.from(image))).toBe(true);
    } finally {
      native!.shmUnlink(name);
    }
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
    expect(() => native!.shmOpen(name)).toThrow(expect.objectContaining({ code: 'ENOENT', message: `shm:${name}: shm_open failed: No such file or directory` }));
    expect(() => native!.shmUnlink(name)).toThrow(expect.objectContaining({
      name: 'NativeSystemError', code: 'ENOENT', syscall: 'shm_unlink',
    }));
  });
});

describe('native loader', () => {
  it('falls back without a warning when POEM_CACHE_NO_NATIVE=1', () => {
    const loader = fileURLToPath(new URL('../native/index.ts', import.meta.url));
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      const m = await import(${JSON.stringify(loader)});
      console.log(JSON.stringify({ loaded: m.loadNative() !== undefined, error: m.nativeLoadError }));
    `], { encoding: 'utf8', env: { ...process.env, POEM_CACHE_NO_NATIVE: '1' } });
    expect(JSON.parse(child.stdout)).toEqual({ loaded: false, error: 'disabled by POEM_CACHE_NO_NATIVE=1' });
    expect(child.stderr).not.toContain('astro-poem-cache');
  });

  it('warns once per process, with the reason, when the addon is missing', () => {
    // The loader alone in a directory without a build: what an install that could not compile sees.
    const copy = join(dir, 'no-build', 'native');
    mkdirSync(copy, { recursive: true });
    copyFileSync(fileURLToPath(new URL('../native/index.ts', import.meta.url)), join(copy, 'index.ts'));
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      const m = await import(${JSON.stringify(join(copy, 'index.ts'))});
      const again = await import(${JSON.stringify(join(copy, 'index.ts') + '?again')});
      console.log(JSON.stringify([m.loadNative() === undefined, m.loadNative() === undefined, again.loadNative() === undefined, m.nativeLoadError]));
    `], { encoding: 'utf8', env: { ...process.env, POEM_CACHE_NO_NATIVE: '' } });
    const [first, second, third, reason] = JSON.parse(child.stdout);
    expect([first, second, third]).toEqual([true, true, true]);
    expect(reason).toContain('poem_cache.node is missing');
    const warnings = child.stderr.split('\n').filter((l) => l.includes('astro-poem-cache: native addon not available ('));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('); using the pure-JS fallback (reads the cache into memory once per process)');
  });

  it.skipIf(!native)('loads the addon once and reuses it', () => {
    expect(loadNative()).toBe(native);
  });

  it.skipIf(!native)('hands the addon one NativeSystemError class per thread, however often it is loaded', async () => {
    const loader = fileURLToPath(new URL('../native/index.ts', import.meta.url));
    const again = await import(`${loader}?again`);
    expect(again.NativeSystemError).toBe(NativeSystemError);
    expect(() => again.loadNative().mapFile(join(dir, 'nope'))).toThrow(NativeSystemError);
    // A worker thread loads the addon for itself and gets its errors as its own NativeSystemError.
    const result = await new Promise((resolve, reject) => {
      const worker = new Worker(`
        const { parentPort } = require('node:worker_threads');
        import(${JSON.stringify(loader)}).then((m) => {
          try { m.loadNative().shmOpen('poem-cache-test-missing-${process.pid}'); parentPort.postMessage('mapped'); }
          catch (e) { parentPort.postMessage([e instanceof m.NativeSystemError, e.code, e.syscall]); }
        });
      `, { eval: true });
      worker.once('message', (m) => { resolve(m); void worker.terminate(); });
      worker.once('error', reject);
    });
    expect(result).toEqual([true, 'ENOENT', 'shm_open']);
  });
});
