// poem-cache CLI: every command's happy path and help, exit codes 0/1/2, verify's checks on crafted damage,
// --json shapes, convert's skip/--force/--quiet/progress; in-process through main() and through the real bin.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { main } from '../converter/cli/main.ts';
import { writeCache, type CacheData } from '../cache/writer.ts';
import { parseCache } from '../cache/validate.ts';
import { E, H, HEADER_SIZE, SECTION_ENTRY_SIZE } from '../cache/layout.ts';
import { FILES, SIZES, writePipeline } from '../scripts/pipeline/generate.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'poem-cache.mjs');
const NODE24 = join(ROOT, 'node_modules', '.bin', 'node');

let dir: string;
let cachePath: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[], isTTY = false): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    isTTY,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

function runBin(args: string[], node = NODE24, env: Record<string, string> = {}): Run {
  const r = spawnSync(node, [BIN, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const DATA: CacheData = {
  ids: [10, 11, 13, 20],
  embeddings: { dim: 3, values: new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, 0.5, 0.5]) },
  similar: {
    lists: [
      [1, 2, 3],
      [0, 3, 2],
      [3, 0, 1],
      [2, 1, 0],
    ],
    scores: [
      [0.9, 0.5, 0.1],
      [0.9, 0.4, 0.2],
      [0.8, 0.5, 0.3],
      [0.8, 0.4, 0.1],
    ],
  },
  diversity: {
    lists: [
      [0, 3, 1, 2],
      [1, 2, 0, 3],
      [2, 1, 3, 0],
      [3, 0, 2, 1],
    ],
  },
  title: ['Moon', 'River', 'Café ☕', 'Stone'],
  text: ['moon text', 'river text', 'café text', 'stone text'],
  category: ['night', 'water', 'city', 'earth'],
  date: ['2020-01-01', '2020-02-02', '2021-03-03', '2022-04-04'],
  meta: { source: 'cli.test', poems: 4 },
};

/** Rewrites one section's table checksum, then the table and header checksums, so only the intended damage remains. */
function resealSection(bytes: Uint8Array, name: string): void {
  const parsed = parseCache(bytes, 'reseal', { indexes: false });
  const s = parsed.sections.find((x) => x.name === name)!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entry = HEADER_SIZE + s.index * SECTION_ENTRY_SIZE;
  view.setUint32(entry + E.checksum, crc32(bytes.subarray(s.offset, s.offset + s.byteLength)), true);
  view.setUint32(
    H.tableChecksum,
    crc32(bytes.subarray(HEADER_SIZE, HEADER_SIZE + parsed.sections.length * SECTION_ENTRY_SIZE)),
    true,
  );
  view.setUint32(H.headerChecksum, crc32(bytes.subarray(0, H.headerChecksum)), true);
}

/** A copy of the good cache with `edit` applied to its bytes (given the parsed sections). */
function damaged(label: string, edit: (bytes: Uint8Array, parsed: ReturnType<typeof parseCache>) => void): string {
  const bytes = new Uint8Array(readFileSync(cachePath));
  edit(bytes, parseCache(bytes, label));
  const path = join(dir, `${label}.pcache`);
  writeFileSync(path, bytes);
  return path;
}

const partOf = (parsed: ReturnType<typeof parseCache>, name: string, part: string) =>
  parsed.sections.find((s) => s.name === name)!.parts[part];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'poem-cache-cli-'));
  cachePath = join(dir, 'good.pcache');
  await writeCache(cachePath, DATA);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('help and usage errors', () => {
  it('prints global help with --help, -h and help, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: poem-cache <command>/);
      for (const c of ['convert', 'inspect', 'verify', 'query']) expect(r.stdout).toContain(c);
      expect(r.stderr).toBe('');
    }
  });

  it("prints each command's help with --help and -h, exit 0", async () => {
    for (const c of ['convert', 'inspect', 'verify', 'query']) {
      for (const flag of ['--help', '-h']) {
        const r = await run([c, flag]);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(`Usage: poem-cache ${c}`);
      }
      const h = await run(['help', c]);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(`Usage: poem-cache ${c}`);
    }
    // Help wins over missing required flags.
    expect((await run(['convert', '--help'])).code).toBe(0);
  });

  it('prints the version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('exits 2 with usage on stderr for no command', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage:');
    expect(r.stdout).toBe('');
  });

  it('exits 2 for an unknown command, naming it', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    expect((await run(['help', 'frobnicate'])).code).toBe(2);
  });

  it('exits 2 for an unknown flag on every command', async () => {
    for (const args of [
      ['convert', '--poems', 'p.json', '--out', 'o', '--bogus'],
      ['inspect', cachePath, '--bogus'],
      ['verify', cachePath, '--bogus'],
      ['query', cachePath, '--id', '10', '--bogus'],
      ['--bogus'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/--bogus/);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^poem-cache: /);
    }
  });

  it('exits 2 for missing required flags and arguments', async () => {
    const noOut = await run(['convert', '--poems', 'poems.json']);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/missing --out/);
    const noPoems = await run(['convert', '--out', join(dir, 'x.pcache')]);
    expect(noPoems.code).toBe(2);
    expect(noPoems.stderr).toMatch(/missing --poems/);
    expect((await run(['inspect'])).code).toBe(2);
    expect((await run(['verify'])).code).toBe(2);
    expect((await run(['verify', cachePath, cachePath])).code).toBe(2);
    const noId = await run(['query', cachePath]);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toMatch(/missing --index N \(or --id N\)/);
    const both = await run(['query', cachePath, '--id', '10', '--index', '1']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give --index N or --id N, not both/);
    expect((await run(['query', cachePath, '--index', '1.5'])).code).toBe(2);
    expect((await run(['query', cachePath, '--id', 'abc'])).code).toBe(2);
    expect((await run(['query', cachePath, '--id', '10', '--k', '-1'])).code).toBe(2);
    expect((await run(['convert', '--poems', 'p', '--out', 'o', '--workers', 'two'])).code).toBe(2);
  });
});

describe('missing and corrupt files: exit 1, one line naming the file', () => {
  it('missing file for inspect, verify, query and convert inputs', async () => {
    const missing = join(dir, 'nope.pcache');
    for (const c of ['inspect', 'verify']) {
      const r = await run([c, missing]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`poem-cache: ${missing}: no such file\n`);
    }
    const q = await run(['query', missing, '--id', '1']);
    expect(q.code).toBe(1);
    expect(q.stderr).toContain(missing);
    const c = await run(['convert', '--poems', join(dir, 'no-poems.json'), '--out', join(dir, 'o.pcache')]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/no-poems\.json: no such file/);
    expect(c.stderr.trim().split('\n')).toHaveLength(1);
    const noDir = await run(['convert', '--poems', cachePath, '--out', join(dir, 'no-such-dir', 'o.pcache')]);
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toBe(
      `poem-cache: ${join(dir, 'no-such-dir')}: no such directory (for --out ` +
        `${join(dir, 'no-such-dir', 'o.pcache')})\n`,
    );
  });

  it('a directory is a failure, not a crash', async () => {
    const r = await run(['inspect', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(dir);
  });

  it('corrupt files for inspect, verify and query', async () => {
    const garbage = join(dir, 'garbage.pcache');
    writeFileSync(garbage, Buffer.from('this is not a poem cache at all, not even close'.repeat(4)));
    const truncated = join(dir, 'truncated.pcache');
    writeFileSync(truncated, readFileSync(cachePath).subarray(0, 1000));
    for (const file of [garbage, truncated]) {
      for (const args of [
        ['inspect', file],
        ['inspect', file, '--json'],
        ['verify', file],
        ['query', file, '--id', '10'],
      ]) {
        const r = await run(args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr, args.join(' ')).toContain(file);
        expect(r.stdout).toBe('');
      }
    }
    expect((await run(['verify', garbage])).stderr).toMatch(/magic/);
    expect((await run(['verify', truncated])).stderr).toMatch(/file size/);
  });
});

describe('inspect', () => {
  it('prints a human table', async () => {
    const r = await run(['inspect', cachePath]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/format 1\.1/);
    for (const name of ['ids', 'embeddings', 'similar', 'diversity', 'title', 'text', 'category', 'date', 'meta'])
      expect(r.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));
    expect(r.stdout).toMatch(/rows: 4/);
    expect(r.stdout).toMatch(/embedding dimension: 3/);
    expect(r.stdout).toMatch(/similar: 12 values, 3 per row, with scores/);
    expect(r.stdout).toContain('"source": "cli.test"');
  });

  it('--json has header, sections, counts and metadata', async () => {
    const r = await run(['inspect', cachePath, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.size).toBe(statSync(cachePath).size);
    expect(j.format).toEqual({ major: 1, minor: 1 });
    expect(j.header.sectionCount).toBe(9);
    expect(j.sections.map((s: { name: string }) => s.name)).toEqual([
      'ids',
      'embeddings',
      'similar',
      'diversity',
      'title',
      'text',
      'category',
      'date',
      'meta',
    ]);
    for (const s of j.sections) {
      expect(typeof s.kind).toBe('string');
      for (const k of ['count', 'param', 'bytes', 'offset']) expect(Number.isInteger(s[k])).toBe(true);
      expect(s.offset % 64).toBe(0);
    }
    expect(j.sections.find((s: { name: string }) => s.name === 'embeddings')).toMatchObject({
      kind: 'matrix',
      count: 4,
      param: 3,
      bytes: 48,
    });
    expect(j.counts.rows).toBe(4);
    expect(j.counts.dim).toBe(3);
    expect(j.counts.lists.similar).toEqual({ lists: 4, values: 12, minLength: 3, maxLength: 3, scores: true });
    expect(j.counts.lists.diversity).toEqual({ lists: 4, values: 16, minLength: 4, maxLength: 4, scores: false });
    expect(j.metadata).toEqual({ source: 'cli.test', poems: 4 });
  });
});

describe('verify', () => {
  it('says OK for a good cache', async () => {
    const r = await run(['verify', cachePath]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: OK \(4 rows, 9 sections/);
    expect(r.stderr).toBe('');
  });

  it('catches one flipped byte through the section checksum, and only that', async () => {
    const path = damaged('flipped', (bytes, parsed) => {
      const p = partOf(parsed, 'text', 'bytes');
      bytes[p.offset] ^= 0x01; // 'm' -> 'l': still valid UTF-8, so only the checksum can see it
    });
    const r = await run(['verify', path]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/section "text": checksum 0x[0-9a-f]{8} does not match the table's 0x[0-9a-f]{8}/);
    expect(lines[0]).toContain(path);
    expect(lines[1]).toBe(`${path}: 1 problem`);
  });

  it('catches a similar value out of range when the checksums were recomputed', async () => {
    const path = damaged('out-of-range', (bytes, parsed) => {
      const p = partOf(parsed, 'similar', 'values');
      new DataView(bytes.buffer).setInt32(p.offset + 4 * 4, 99, true); // row 1, entry 1
      resealSection(bytes, 'similar');
    });
    expect(() => parseCache(readFileSync(path), path)).not.toThrow(); // structurally fine
    const r = await run(['verify', path]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([`${path}: section "similar": row 1, entry 1: row 99 is outside 0..3`, `${path}: 1 problem`]);
  });

  it('catches a diversity sequence that does not start with its own row', async () => {
    const path = damaged('diversity-start', (bytes, parsed) => {
      const p = partOf(parsed, 'diversity', 'values');
      const v = new DataView(bytes.buffer);
      // Row 2's list is [2, 1, 3, 0]: swap the first two entries.
      v.setInt32(p.offset + 8 * 4, 1, true);
      v.setInt32(p.offset + 9 * 4, 2, true);
      resealSection(bytes, 'diversity');
    });
    const r = await run(['verify', path]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `${path}: section "diversity": row 2: the sequence starts with row 1, expected the row itself`,
      `${path}: 1 problem`,
    ]);
  });

  it('catches invalid UTF-8 and non-finite embeddings', async () => {
    const path = damaged('utf8-nan', (bytes, parsed) => {
      bytes[partOf(parsed, 'title', 'bytes').offset] = 0xff;
      new DataView(bytes.buffer).setFloat32(partOf(parsed, 'embeddings', 'values').offset + 4 * 4, NaN, true);
      resealSection(bytes, 'title');
      resealSection(bytes, 'embeddings');
    });
    const r = await run(['verify', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('section "title": row 0: not valid UTF-8');
    expect(r.stderr).toContain('section "embeddings": row 1, column 1: NaN');
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`${path}: 2 problems`);
  });

  it('caps the problems reported per section', async () => {
    const path = damaged('many', (bytes, parsed) => {
      const p = partOf(parsed, 'similar', 'values');
      const v = new DataView(bytes.buffer);
      for (let k = 0; k < 12; k++) v.setInt32(p.offset + k * 4, -5, true);
      resealSection(bytes, 'similar');
    });
    const r = await run(['verify', path]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[5]).toMatch(/and 7 more problems/);
  });
});

describe('query', () => {
  it('prints the poem, similar with scores and the diversity sequence', async () => {
    const r = await run(['query', cachePath, '--id', '10', '--k', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^poem_index 1 \(id 10\) "Moon" \(night, 2020-01-01\), row 0/);
    expect(r.stdout).toMatch(
      /most similar \(2 of 3\):\n\s+1\.\s+#2\s+id 11\s+0\.9000\s+"River"\n\s+2\.\s+#3\s+id 13\s+0\.5000\s+"Café ☕"/,
    );
    expect(r.stdout).toMatch(
      /diversity sequence \(2 of 4\):\n\s+1\.\s+#1\s+id 10\s+"Moon"\n\s+2\.\s+#4\s+id 20\s+"Stone"/,
    );
    // --index names the same poem by its position
    expect((await run(['query', cachePath, '--index', '1', '--k', '2'])).stdout).toBe(r.stdout);
  });

  it('--json has the poem, its neighbours and scores, each with its index and id', async () => {
    const r = await run(['query', cachePath, '--id', '13', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ index: 3, id: 13, row: 2, title: 'Café ☕', category: 'city', date: '2021-03-03' });
    expect(j.similar.total).toBe(3);
    expect(j.similar.items.map((x: { id: number; index: number }) => [x.index, x.id])).toEqual([
      [4, 20],
      [1, 10],
      [2, 11],
    ]);
    expect(j.similar.items[0].score).toBeCloseTo(0.8, 6);
    expect(j.similar.items[0].title).toBe('Stone');
    expect(j.diversity.items.map((x: { id: number }) => x.id)).toEqual([13, 11, 20, 10]);
    expect(j.diversity.items[0]).not.toHaveProperty('score');
  });

  it('--id refuses an id several poems have, naming them and their categories; --index finds each', async () => {
    const path = join(dir, 'repeat.pcache');
    await writeCache(path, {
      ids: [1, 2, 1, 1],
      title: ['', '', '', ''],
      category: ['fediverse', 'fediverse', 'messages', 'notes'],
      fields: { filepath: ['fediverse/0001.txt', 'fediverse/0002.txt', 'messages/0001.txt', 'notes/0001.txt'] },
    });
    const r = await run(['query', path, '--id', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `poem-cache: ${path}: poem id 1 is not unique: 3 poems have it ` +
        '(poem_index 1 (fediverse/0001.txt) in fediverse, ' +
        'poem_index 3 (messages/0001.txt) in messages, poem_index 4 (notes/0001.txt) in notes); ask with --index N\n',
    );
    const q = await run(['query', path, '--index', '3']);
    expect(q.code).toBe(0);
    expect(q.stdout).toMatch(/^poem_index 3 \(id 1\) messages\/0001\.txt \(messages\), row 2/);
    expect(JSON.parse((await run(['query', path, '--id', '2', '--json'])).stdout)).toMatchObject({
      index: 2,
      id: 2,
      filepath: 'fediverse/0002.txt',
    });
    const none = await run(['query', path, '--index', '5']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`poem-cache: ${path}: no poem_index 5 (poem_index runs 1..4)\n`);
  });

  it('exits 1 for an unknown id, naming the file', async () => {
    const r = await run(['query', cachePath, '--id', '12']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`poem-cache: ${cachePath}: no poem with id 12 (4 poems)\n`);
  });

  it('says when a cache has no similar or diversity section', async () => {
    const path = join(dir, 'bare.pcache');
    await writeCache(path, { ids: [1, 2], title: ['One', 'Two'] });
    const r = await run(['query', path, '--id', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/most similar: not in this cache/);
    const j = JSON.parse((await run(['query', path, '--id', '2', '--json'])).stdout);
    expect(j.similar).toBeNull();
    expect(j.diversity).toBeNull();
  });
});

describe('the real bin', () => {
  it('runs help, inspect, verify and query and returns their exit codes', () => {
    const help = runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: poem-cache');
    expect(runBin(['frobnicate']).code).toBe(2);
    expect(runBin(['verify', join(dir, 'nope.pcache')]).code).toBe(1);
    const v = runBin(['verify', cachePath]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/OK/);
    const j = JSON.parse(runBin(['inspect', cachePath, '--json']).stdout);
    expect(j.counts.rows).toBe(4);
    const q = runBin(['query', cachePath, '--id', '20', '--json']);
    expect(q.code).toBe(0);
    expect(JSON.parse(q.stdout).title).toBe('Stone');
  });

  it('inspects the same with and without the native addon, and refuses a truncated file both ways', () => {
    const truncated = join(dir, 'bin-truncated.pcache');
    writeFileSync(truncated, readFileSync(cachePath).subarray(0, 1000));
    const results = ([{}, { POEM_CACHE_NO_NATIVE: '1' }] as Record<string, string>[]).map((env) => {
      const good = runBin(['inspect', cachePath, '--json'], NODE24, env);
      expect(good.code).toBe(0);
      const bad = runBin(['inspect', truncated], NODE24, env);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(new RegExp(`^poem-cache: ${truncated}: byte 24: expected file size`));
      return JSON.parse(good.stdout);
    });
    expect(results[0]).toEqual(results[1]);
  });

  const old = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
    if (!existsSync(p)) return false;
    const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim().split('.').map(Number);
    return v[0] < 22 || (v[0] === 22 && v[1] < 12);
  });
  it.skipIf(!old)('refuses a Node older than 22.12 with one clear line', () => {
    const r = runBin(['--help'], old!);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^poem-cache: astro-poem-cache needs Node >= 22\.12 \(this is Node \d+\.\d+\.\d+\)\n$/);
    expect(r.stdout).toBe('');
  });
});

describe("convert (the generator's small size)", () => {
  let data: string;
  let inputs: string[];
  let ids: number[];

  beforeAll(async () => {
    data = join(dir, 'small');
    await writePipeline(data, SIZES.small);
    inputs = [
      '--poems',
      join(data, FILES.poems),
      '--embeddings',
      join(data, FILES.embeddings),
      '--similarity',
      join(data, FILES.similarity),
      '--diversity',
      join(data, FILES.diversity),
    ];
    ids = JSON.parse(readFileSync(join(data, FILES.poems), 'utf8')).poems.map((p: { id: number }) => p.id);
  });

  it('converts, then the cache inspects, verifies and answers queries', async () => {
    const out = join(dir, 'small.pcache');
    const r = await run(['convert', ...inputs, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*small\.pcache: 300 rows/);
    expect(r.stdout).toMatch(/sections: .*ids/);
    // each input's row: MB/s, then how it names poems (read from the data: the pipeline's shapes)
    expect(r.stdout).toMatch(/^poems\s.*\d+\.\d\s*$/m);
    expect(r.stdout).toMatch(/^embeddings\s.*\d+\.\d\s+index \(auto\)\s*$/m);
    expect(r.stdout).toMatch(/^similarity\s.*\d+\.\d\s+index \(auto\)\s*$/m);
    expect(r.stdout).toMatch(/^diversity\s.*\d+\.\d\s+index0 \(auto\)\s*$/m);
    expect((await run(['verify', out])).code).toBe(0);
    const j = JSON.parse((await run(['inspect', out, '--json'])).stdout);
    expect(j.counts.rows).toBe(300);
    expect(j.counts.dim).toBe(768);
    expect(j.counts.lists.similar).toMatchObject({ lists: 300, minLength: 299, maxLength: 299 });
    expect(j.counts.lists.diversity).toMatchObject({ lists: 300, minLength: 300, maxLength: 300 });
    // the human table: which path each field section holds and its value types, how each input names poems
    const text = (await run(['inspect', out])).stdout;
    expect(text).toMatch(/^ {2}filepath {2,}field\.0 +[\d.]+ KiB {2}300 string$/m);
    expect(text).toMatch(/^ {2}content_warning {2,}field\.1 +[\d.]+ B {2}\d+ string, \d+ null$/m);
    expect(text).toMatch(/^ {2}metadata\.is_golden_poem {2,}field\.2 +[\d.]+ B {2}\d+ boolean, \d+ null$/m);
    expect(text).not.toMatch(/^field\.\d+: /m); // field sections are described in the fields table, by path
    expect(text).toMatch(/^ {2}poems {2,}poems\.json +[\d.]+ KiB$/m);
    expect(text).toMatch(/^ {2}embeddings {2,}embeddings\.json +[\d.]+ MiB {2}index \(auto\)$/m);
    expect(text).toMatch(/^ {2}similarity {2,}similarity_rankings_cache\.json +[\d.]+ KiB {2}index \(auto\)$/m);
    expect(text).toMatch(/^ {2}diversity {2,}diversity_cache\.json +[\d.]+ KiB {2}index0 \(auto\)$/m);
    const forced = join(dir, 'forced.pcache');
    expect((await run(['convert', ...inputs, '--out', forced, '--quiet', '--diversity-keys', 'index0'])).code).toBe(0);
    expect((await run(['inspect', forced])).stdout).toMatch(
      /^ {2}diversity {2,}diversity_cache\.json +[\d.]+ KiB {2}index0$/m,
    );
    // poem 6 by its position: its rankings are the file's (1-based poem_index), its sequence the diversity
    // cache's (0-based), whatever the ids (they repeat per category)
    const q = JSON.parse((await run(['query', out, '--index', '6', '--json', '--k', '3'])).stdout);
    const poems = JSON.parse(readFileSync(join(data, FILES.poems), 'utf8')).poems;
    const sim = JSON.parse(readFileSync(join(data, FILES.similarity), 'utf8')).rankings['6'];
    const seq = JSON.parse(readFileSync(join(data, FILES.diversity), 'utf8')).sequences['5'];
    expect(q).toMatchObject({ index: 6, id: ids[5], filepath: poems[5].filepath, title: '' });
    expect(q.similar.items.map((x: { index: number }) => x.index)).toEqual(sim.slice(0, 3));
    expect(q.similar.items.map((x: { id: number }) => x.id)).toEqual(sim.slice(0, 3).map((i: number) => ids[i - 1]));
    expect(q.diversity.items.map((x: { index: number }) => x.index - 1)).toEqual(seq.slice(0, 3));
    expect(new Set(ids).size).toBeLessThan(ids.length); // the small set's ids do repeat
  });

  it('skips an up-to-date output, rebuilds with --force', async () => {
    const out = join(dir, 'skip.pcache');
    expect((await run(['convert', ...inputs, '--out', out])).code).toBe(0);
    const again = await run(['convert', ...inputs, '--out', out]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/up to date/);
    const forced = await run(['convert', ...inputs, '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^wrote /);
  });

  it('--quiet prints nothing on success', async () => {
    const r = await run(['convert', ...inputs, '--out', join(dir, 'quiet.pcache'), '--quiet']);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('prints plain progress lines when stderr is not a TTY, one updating line when it is', async () => {
    const plain = await run(['convert', ...inputs, '--out', join(dir, 'plain.pcache')], false);
    expect(plain.code).toBe(0);
    const lines = plain.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines) expect(l).toMatch(/\.json {2}\d+\.\d\/\d+\.\d MB {2}\d+\.\d MB\/s {2}ETA /);
    expect(plain.stderr).not.toContain('\r');
    const tty = await run(['convert', ...inputs, '--out', join(dir, 'tty.pcache')], true);
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('\r');
    expect(tty.stderr.replace(/\r/g, '').trim()).not.toContain('\n');
  });

  it('reads a config file; flags override it', async () => {
    const cfg = join(data, 'convert.json');
    writeFileSync(
      cfg,
      JSON.stringify({ poems: FILES.poems, similarity: FILES.similarity, out: '../from-config.pcache', quiet: true }),
    );
    const r = await run(['convert', '--config', cfg]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const j = JSON.parse((await run(['inspect', join(dir, 'from-config.pcache'), '--json'])).stdout);
    expect(j.counts.lists.similar.lists).toBe(300);
    expect(j.counts.lists.diversity).toBeUndefined();
    const over = join(dir, 'override.pcache');
    const r2 = await run(['convert', '--config', cfg, '--out', over]);
    expect(r2.code).toBe(0);
    expect(existsSync(over)).toBe(true);
    writeFileSync(cfg, JSON.stringify({ poems: FILES.poems, out: 'x.pcache', colour: 'blue' }));
    const bad = await run(['convert', '--config', cfg]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown key "colour"/);
    writeFileSync(cfg, '{"poems": ');
    const broken = await run(['convert', '--config', cfg]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(cfg);
  });

  it('exits 1 with one line naming the file for bad input data', async () => {
    const bad = join(dir, 'bad-poems.json');
    writeFileSync(
      bad,
      '{"poems": [{"id": 1, "title": "x", "content": "y", "category": "z", "metadata": {"creation_date": "2020"}}, ' +
        '{"id": ',
    );
    const r = await run(['convert', '--poems', bad, '--out', join(dir, 'bad.pcache')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('bad-poems.json');
    expect(existsSync(join(dir, 'bad.pcache'))).toBe(false);
  });

  it('runs through the real bin with non-TTY progress on stderr', () => {
    const out = join(dir, 'bin.pcache');
    const r = runBin(['convert', ...inputs, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wrote /);
    expect(r.stderr).toMatch(/MB\/s {2}ETA/);
    expect(runBin(['verify', out]).code).toBe(0);
    const copy = join(dir, 'bin-copy.pcache');
    copyFileSync(out, copy);
    expect(runBin(['convert', ...inputs, '--out', out, '--quiet'])).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });
});
