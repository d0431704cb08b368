// The native addon: read-only zero-copy mappings of cache files and shared memory, errors, worker threads.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { FORMAT_MINOR, H, HEADER_SIZE, SECTION_ENTRY_SIZE, SectionKind } from '../cache/layout.ts';
import { openCache, openShm } from '../cache/reader.ts';
import { CacheFormatError, parseCache } from '../cache/validate.ts';
import { loadNative, nativeAddonPath, NativeSystemError } from '../native/index.ts';
import { buildImage, reseal, sampleImage } from './native-cache-image.ts';
import { native, withoutNative } from './support/native.ts';

const skipNative = withoutNative('native.test: mapFile, shared memory and the loaded addon');
const ADDON = nativeAddonPath; // the file loadNative() loaded, for workers that require it themselves
const noShared = !native?.mapFileShared;
if (native && noShared)
  console.log(
    'native.test: mapFileShared skipped, node_api_create_external_sharedarraybuffer is missing in Node ' +
      `${process.version} (needs >= 24.16)`,
  );

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
parentPort.postMessage({
  crc: crc32(bytes),
  length: bytes.length,
  floats: [...floats],
  shared: buffer instanceof SharedArrayBuffer,
});
`;
function readInWorker(
  data: Record<string, unknown>,
): Promise<{ crc: number; length: number; floats: number[]; shared: boolean }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(READER, { eval: true, workerData: data });
    worker.once('message', (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

describe.skipIf(skipNative)('native mapFile', () => {
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
    const maps = readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter((l) => l.endsWith(path));
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
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `
      const buffer = require(${JSON.stringify(ADDON)}).mapFile(${JSON.stringify(path)});
      new Uint8Array(buffer)[${embeddingsAt}] = 0x55;
      console.log('wrote');
    `,
      ],
      { encoding: 'utf8' },
    );
    expect(child.stdout).not.toContain('wrote');
    expect(['SIGSEGV', 'SIGBUS']).toContain(child.signal);
    expect(readFileSync(path).equals(Buffer.from(image))).toBe(true);
  });

  it("reports a missing file as a NativeSystemError shaped like Node's own", () => {
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
      name: 'NativeSystemError',
      message: `${missing}: open failed: No such file or directory`,
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
      path: missing,
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
    expect(() => native!.mapFile(dir)).toThrow(
      expect.objectContaining({
        name: 'NativeSystemError',
        code: 'ENODEV',
        errno: -19,
        syscall: 'mmap',
        path: dir,
        message: expect.stringContaining(`${dir}: mmap failed: `),
      }),
    );
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
    [
      'a corrupted header checksum',
      () => {
        const b = image.slice();
        b[H.headerChecksum] ^= 0xff;
        return b;
      },
      'expected header checksum',
    ],
    [
      'a newer major version',
      () => {
        const b = image.slice();
        b[H.major] = 2;
        return reseal(b);
      },
      `found 2.${FORMAT_MINOR}: written by a newer astro-poem-cache, upgrade this package to read it`,
    ],
    [
      'a bad section table',
      () => {
        const b = image.slice();
        b[HEADER_SIZE + SECTION_ENTRY_SIZE + 30] ^= 1;
        return b;
      },
      'expected section table checksum',
    ],
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
      similar: {
        lists: Array.from({ length: rows }, (_, r) => [(r + 1) % rows, (r + 2) % rows]),
        scores: Array.from({ length: rows }, () => [0.5, 0.25]),
      },
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
    const expected = {
      crc: crc32(main),
      length: main.length,
      floats: [...new Float32Array(main.buffer, embeddingsAt, 4)],
      shared: false,
    };
    const results = await Promise.all(
      [0, 1, 2, 3].map(() => readInWorker({ addon: ADDON, path, floatsAt: embeddingsAt })),
    );
    for (const r of results) expect(r).toEqual(expected);
  });
});

describe.skipIf(skipNative || noShared)('native mapFileShared', () => {
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

describe.skipIf(skipNative)('native shared memory', () => {
  it('creates (0600), fills, opens read-only, refuses a second create, and unlinks; openShm validates', () => {
    const name = `poem-cache-test-${process.pid}-${Date.now()}`;
    const image = sampleImage();
    const writable = native!.shmCreate(name, image.length);
    try {
      expect(writable.byteLength).toBe(image.length);
      expect(statSync(`/dev/shm/${name}`).mode & 0o777).toBe(0o600);
      expect(() => native!.shmCreate(name, 64)).toThrow(
        expect.objectContaining({
          name: 'NativeSystemError',
          code: 'EEXIST',
          errno: -17,
          syscall: 'shm_open',
          path: `/${name}`,
          message: `shm:${name}: shm_open failed: File exists`,
        }),
      );
      // Not a cache yet: the addon maps it, openShm's parseCache refuses it.
      expect(native!.shmOpen(name).byteLength).toBe(image.length);
      expect(() => openShm(name)).toThrow(CacheFormatError);
      const nuls = JSON.stringify('\0'.repeat(8));
      expect(() => openShm(name)).toThrow(
        `shm:${name}: byte 0: expected magic "POEMCACH" (not a poem cache file?), found ${nuls}`,
      );
      new Uint8Array(writable).set(image);
      const readable = native!.shmOpen(name);
      expect(Buffer.from(readable).equals(Buffer.from(image))).toBe(true);
    } finally {
      native!.shmUnlink(name);
    }
    expect(existsSync(`/dev/shm/${name}`)).toBe(false);
    expect(() => native!.shmOpen(name)).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: `shm:${name}: shm_open failed: No such file or directory` }),
    );
    expect(() => native!.shmUnlink(name)).toThrow(
      expect.objectContaining({
        name: 'NativeSystemError',
        code: 'ENOENT',
        syscall: 'shm_unlink',
      }),
    );
  });
});

describe('native loader', () => {
  it('falls back without a warning when POEM_CACHE_NO_NATIVE=1', () => {
    const loader = fileURLToPath(new URL('../native/index.ts', import.meta.url));
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
      const m = await import(${JSON.stringify(loader)});
      console.log(JSON.stringify({ loaded: m.loadNative() !== undefined, error: m.nativeLoadError }));
    `,
      ],
      { encoding: 'utf8', env: { ...process.env, POEM_CACHE_NO_NATIVE: '1' } },
    );
    expect(JSON.parse(child.stdout)).toEqual({ loaded: false, error: 'disabled by POEM_CACHE_NO_NATIVE=1' });
    expect(child.stderr).not.toContain('astro-poem-cache');
  });

  // The loader alone in a package root holding the given files (path in the root -> bytes), in a new process.
  const TARGET = `${process.platform}-${process.arch}`;
  const SOURCE_BUILD = 'native/build/Release/poem_cache.node';
  const PREBUILT = `prebuilds/${TARGET}/poem_cache.node`;
  const NOT_AN_ADDON = Buffer.from('not a shared object\n'.repeat(64));
  let roots = 0;
  function loadIn(files: Record<string, Uint8Array>) {
    const root = join(dir, `root-${roots++}`);
    mkdirSync(join(root, 'native'), { recursive: true });
    copyFileSync(fileURLToPath(new URL('../native/index.ts', import.meta.url)), join(root, 'native', 'index.ts'));
    for (const [path, bytes] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), bytes);
    }
    const loader = join(root, 'native', 'index.ts');
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
      const m = await import(${JSON.stringify(loader)});
      const again = await import(${JSON.stringify(`${loader}?again`)});
      const loaded = [m.loadNative(), m.loadNative(), again.loadNative()].map((b) => typeof b?.mapFile);
      console.log(JSON.stringify({ loaded, path: m.nativeAddonPath, error: m.nativeLoadError }));
    `,
      ],
      { encoding: 'utf8', env: { ...process.env, POEM_CACHE_NO_NATIVE: '' } },
    );
    expect(child.status, child.stderr).toBe(0);
    const warnings = child.stderr
      .split('\n')
      .filter((l) => l.includes('astro-poem-cache: native addon not available ('));
    return { root, ...(JSON.parse(child.stdout) as { loaded: string[]; path?: string; error?: string }), warnings };
  }

  it('warns once per process, with the reason, when the addon is missing', () => {
    // What an install that neither had a prebuilt for its platform nor could compile sees.
    const r = loadIn({});
    expect(r.loaded).toEqual(['undefined', 'undefined', 'undefined']);
    expect(r.error).toBe(
      `no poem_cache.node for ${TARGET}: ${join(r.root, SOURCE_BUILD)} and ${join(r.root, PREBUILT)} ` +
        'are missing (npm run build:native)',
    );
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('); using the pure-JS fallback (reads the cache into memory once per process)');
  });

  it.skipIf(skipNative)('loads the prebuilt for this platform when there is no source build', () => {
    const r = loadIn({ [PREBUILT]: readFileSync(ADDON!) });
    expect(r).toMatchObject({
      loaded: ['function', 'function', 'function'],
      path: join(r.root, PREBUILT),
      warnings: [],
    });
  });

  it.skipIf(skipNative)('prefers a source build to the prebuilt, and passes over either when it does not load', () => {
    const addon = readFileSync(ADDON!);
    const both = loadIn({ [SOURCE_BUILD]: addon, [PREBUILT]: addon });
    expect(both.path).toBe(join(both.root, SOURCE_BUILD));
    const badBuild = loadIn({ [SOURCE_BUILD]: NOT_AN_ADDON, [PREBUILT]: addon });
    expect(badBuild).toMatchObject({
      loaded: ['function', 'function', 'function'],
      path: join(badBuild.root, PREBUILT),
    });
    const badPrebuilt = loadIn({ [PREBUILT]: NOT_AN_ADDON });
    expect(badPrebuilt.loaded).toEqual(['undefined', 'undefined', 'undefined']);
    expect(badPrebuilt.error).toMatch(new RegExp(`^${join(badPrebuilt.root, PREBUILT)}: .*invalid ELF header`));
    expect(badPrebuilt.warnings).toHaveLength(1);
  });

  it.skipIf(skipNative)('loads the addon once and reuses it', () => {
    expect(loadNative()).toBe(native);
  });

  it.skipIf(skipNative)(
    'hands the addon one NativeSystemError class per thread, however often it is loaded',
    async () => {
      const loader = fileURLToPath(new URL('../native/index.ts', import.meta.url));
      const again = await import(`${loader}?again`);
      expect(again.NativeSystemError).toBe(NativeSystemError);
      expect(() => again.loadNative().mapFile(join(dir, 'nope'))).toThrow(NativeSystemError);
      // A worker thread loads the addon for itself and gets its errors as its own NativeSystemError.
      const result = await new Promise((resolve, reject) => {
        const worker = new Worker(
          `
        const { parentPort } = require('node:worker_threads');
        import(${JSON.stringify(loader)}).then((m) => {
          try { m.loadNative().shmOpen('poem-cache-test-missing-${process.pid}'); parentPort.postMessage('mapped'); }
          catch (e) { parentPort.postMessage([e instanceof m.NativeSystemError, e.code, e.syscall]); }
        });
      `,
          { eval: true },
        );
        worker.once('message', (m) => {
          resolve(m);
          void worker.terminate();
        });
        worker.once('error', reject);
      });
      expect(result).toEqual([true, 'ENOENT', 'shm_open']);
    },
  );
});
