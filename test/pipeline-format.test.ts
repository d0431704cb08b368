// The pipeline's text formats, byte for byte: dkjson (indent and compact, escapes, Lua key order), %.14g
// against C's own printf, the C rankings layout, the compact diversity file.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  C_RANKINGS_TAIL,
  DkjsonWriter,
  INSERTION_ORDER,
  LuaKeyOrder,
  RawJson,
  cRankingLine,
  cRankingsHead,
  dkNumbers,
  dkString,
  dkjson,
  f32Text,
  g14,
} from '../scripts/pipeline/format.ts';
import { RankingsFile, writeDiversityFile, writePoemsFile } from '../scripts/pipeline/files.ts';
import { Out } from '../scripts/pipeline/out.ts';
import { prng } from '../scripts/pipeline/random.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipeline-format-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const indent = { indent: true, order: INSERTION_ORDER };
const compact = { indent: false, order: INSERTION_ORDER };

describe('dkjson layout', () => {
  it('indent=true: keys on their own lines two spaces a level, "key":value, arrays inline, objects joined },{', () => {
    const value = {
      metadata: { source_mode: 'json', total_poems: 2 },
      poems: [
        { content: 'a', metadata: { is_golden_poem: false, word_count: 1 }, id: 1 },
        { content: '', id: 2 },
      ],
    };
    expect(dkjson(value, indent)).toBe(
      '{\n  "metadata":{\n    "source_mode":"json",\n    "total_poems":2\n  },\n' +
        '  "poems":[{\n      "content":"a",\n      "metadata":{\n' +
        '        "is_golden_poem":false,\n        "word_count":1\n      },\n' +
        '      "id":1\n    },{\n      "content":"",\n      "id":2\n    }]\n}',
    );
  });

  it('compact: no whitespace at all', () => {
    expect(dkjson({ a: [1, 2.5, { b: null }], c: 'x' }, compact)).toBe('{"a":[1,2.5,{"b":null}],"c":"x"}');
  });

  it('Lua values: nil members are absent, an empty table is [], NaN and infinities are null, numbers are %.14g', () => {
    expect(dkjson({ a: undefined, b: {}, c: [], d: NaN, e: -Infinity, f: 1 / 3, g: 1e-7, h: 7790 }, compact)).toBe(
      '{"b":[],"c":[],"d":null,"e":null,"f":0.33333333333333,"g":1e-07,"h":7790}',
    );
    expect(dkjson({}, indent)).toBe('[]');
    expect(dkjson({ v: new RawJson('[1,2]') }, compact)).toBe('{"v":[1,2]}');
    expect(dkNumbers(new Float32Array([0.5, -4.797619e-5]), f32Text)).toBe('[0.5,-4.797619e-05]');
  });

  it('escapes exactly the characters dkjson escapes, lowercase \\u, "/" and other text raw', () => {
    expect(dkString('a"b\\c/d\n\t\r\b\f')).toBe('"a\\"b\\\\c/d\\n\\t\\r\\b\\f"');
    const escaped: [string, string][] = [
      ['\u0000', '\\u0000'],
      ['\u001f', '\\u001f'],
      ['\u007f', '\\u007f'],
      ['\u0080', '\\u0080'],
      ['\u009f', '\\u009f'],
      ['\u00ad', '\\u00ad'],
      ['\u0600', '\\u0600'],
      ['\u0604', '\\u0604'],
      ['\u070f', '\\u070f'],
      ['\u17b4', '\\u17b4'],
      ['\u17b5', '\\u17b5'],
      ['\u200c', '\\u200c'],
      ['\u200f', '\\u200f'],
      ['\u2028', '\\u2028'],
      ['\u202f', '\\u202f'],
      ['\u2060', '\\u2060'],
      ['\u206f', '\\u206f'],
      ['\ufeff', '\\ufeff'],
      ['\ufff0', '\\ufff0'],
      ['\uffff', '\\uffff'],
    ];
    for (const [ch, want] of escaped) expect(dkString(`x${ch}y`), want).toBe(`"x${want}y"`);
    for (const ch of [
      '\u00a0',
      '\u00ac',
      '\u00ae',
      '\u0605',
      '\u200b',
      '\u2027',
      '\u2030',
      '\u205f',
      '\u2070',
      '\ufefe',
      '\uffef',
      'é',
      '淡',
      '🥰',
      'ðŸ¥°',
      '\ud83d\udc69',
    ]) {
      expect(dkString(ch), `U+${ch.codePointAt(0)!.toString(16)}`).toBe(`"${ch}"`);
    }
    // a zero-width joiner inside an emoji sequence is escaped, the emoji around it stays raw
    expect(dkString('👩‍💻')).toBe('"👩\\u200d💻"');
    // JSON.parse reads every escape back
    const all = escaped.map(([c]) => c).join('') + '"\\/\n';
    expect(JSON.parse(dkString(all))).toBe(all);
  });

  it('streams the same bytes as dkjson() of the whole value', async () => {
    const path = join(dir, 'stream.json');
    const out = new Out(path);
    const w = new DkjsonWriter(out, indent);
    w.openObject().key('metadata').value({ n: 2 }).key('list').openArray();
    w.value({ a: [1, 2] }).rawItems(`${dkjson({ a: [3] }, indent, 2)},${dkjson({ a: [] }, indent, 2)}`, 2);
    w.close().key('tail').openObject().key('x').raw('[0.5]').close().close();
    await out.close();
    const whole = { metadata: { n: 2 }, list: [{ a: [1, 2] }, { a: [3] }, { a: [] }], tail: { x: [0.5] } };
    expect(readFileSync(path, 'utf8')).toBe(dkjson(whole, indent));
    const bad = new Out(join(dir, 'bad.json'));
    expect(() => new DkjsonWriter(bad, indent).value(1).value(2)).toThrow(/complete/);
    await bad.abort();
  });
});

describe('Lua key order', () => {
  const keys = ['content', 'raw_content', 'creation_date', 'filepath', 'metadata', 'length', 'category', 'id'];

  it('is the same for a key set in one run, whatever the insertion order, and changes between runs', () => {
    const a = new LuaKeyOrder(7).order(keys);
    expect(new LuaKeyOrder(7).order([...keys].reverse())).toEqual(a);
    expect([...a].sort()).toEqual([...keys].sort());
    const orders = new Set(Array.from({ length: 20 }, (_, run) => new LuaKeyOrder(run).order(keys).join(',')));
    expect(orders.size).toBeGreaterThan(15);
    expect(orders.has([...keys].sort().join(','))).toBe(false);
  });

  it('another key set (one more key) may order the shared keys differently, as another table size does', () => {
    const runs = Array.from({ length: 20 }, (_, run) => new LuaKeyOrder(run));
    const differ = runs.filter((o) => {
      const withCw = o.order([...keys, 'content_warning']).filter((k) => k !== 'content_warning');
      return withCw.join() !== o.order(keys).join();
    });
    expect(differ.length).toBeGreaterThan(10);
  });
});

describe('%.14g', () => {
  it('prints as C does for known cases (ties to even, exponent from -5 and from 14, two exponent digits)', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '-0'],
      [1, '1'],
      [-4.797619e-5, '-4.797619e-05'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [123456789012345, '1.2345678901234e+14'],
      [123456789012355, '1.2345678901236e+14'],
      [99999999999999, '99999999999999'],
      [1e14, '1e+14'],
      [2 ** -21, '4.7683715820312e-07'],
      [1 / 3, '0.33333333333333'],
      [2 / 3, '0.66666666666667'],
      [0.1, '0.1'],
      [1e21, '1e+21'],
      [1.5e300, '1.5e+300'],
      [5e-324, '4.9406564584125e-324'],
      [7790, '7790'],
      [NaN, 'nan'],
      [Infinity, 'inf'],
      [-Infinity, '-inf'],
    ];
    for (const [x, c] of cases) expect(g14(x), String(x)).toBe(c);
  });

  const cc = ['gcc', 'cc'].find((c) => spawnSync(c, ['--version']).status === 0);
  // skipped (and said so by vitest) where no C compiler is installed
  it.skipIf(!cc)('equals the C library\'s printf("%.14g") on 60,000 values (compiled with cc)', () => {
    const src = join(dir, 'g14.c');
    const bin = join(dir, 'g14');
    writeFileSync(
      src,
      '#include <stdio.h>\n#include <string.h>\n#include <stdint.h>\n#include <inttypes.h>\n' +
        'int main(void) { char l[64]; while (fgets(l, sizeof l, stdin)) { uint64_t b; double d;\n' +
        '  if (sscanf(l, "%" SCNx64, &b) != 1) continue; memcpy(&d, &b, 8); printf("%.14g\\n", d); } return 0; }\n',
    );
    execFileSync(cc!, ['-O1', '-o', bin, src]);
    const rand = prng(0x14c);
    const values: number[] = [];
    const view = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 60000; i++) {
      const kind = i % 5;
      let x = (rand() - 0.5) * 10 ** (Math.floor(rand() * 44) - 22);
      if (kind === 1) x = Math.fround(x);
      if (kind === 2) x = Math.floor(rand() * 2 ** 40) / 2 ** Math.floor(rand() * 60); // dyadic: exact ties happen
      if (kind === 3) x = (Math.floor(rand() * 1e13) * 10 + 5) * (rand() < 0.5 ? 1 : 2 ** -Math.floor(rand() * 8));
      if (kind === 4) {
        view.setUint32(0, rand() * 2 ** 32);
        view.setUint32(4, rand() * 2 ** 32);
        x = Number.isFinite(view.getFloat64(0)) ? view.getFloat64(0) : 1;
      }
      values.push(x);
    }
    const hex = values.map((x) => {
      view.setFloat64(0, x);
      return view.getBigUint64(0).toString(16);
    });
    const c = execFileSync(bin, { input: `${hex.join('\n')}\n`, maxBuffer: 64 << 20 })
      .toString()
      .split('\n');
    const wrong = values.map((x, i) => [x, g14(x), c[i]] as const).filter(([, ours, theirs]) => ours !== theirs);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('float32 values print as their shortest text, which %.14g leaves as is', () => {
    const rand = prng(32);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((rand() - 0.5) * 10 ** (Math.floor(rand() * 10) - 7));
      const t = f32Text(x);
      expect(Math.fround(Number(t))).toBe(x);
      expect(g14(Number(t))).toBe(t);
      const digits = t.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '');
      if (digits.length > 1) {
        // one digit fewer does not read back
        const shorter = Math.abs(x).toPrecision(digits.length - 1);
        expect(Math.fround(Number(shorter))).not.toBe(Math.abs(x));
      }
    }
    expect(f32Text(Math.fround(0.1))).toBe('0.1');
    expect(f32Text(Math.fround(-4.797619e-5))).toBe('-4.797619e-05');
  });
});

describe('the C rankings file', () => {
  it('has vk_similarity.c\'s layout: ": " spacing, a line per ranking, ", " separators, a final newline', async () => {
    const path = join(dir, 'rankings.json');
    const file = RankingsFile.open(path, { total_poems: 3, sort_threads: 4, top_k: 0 });
    await file.line(0, [2, 1]);
    await file.line(1, [0, 2]);
    await file.line(2, []);
    await file.close();
    const text = readFileSync(path, 'utf8');
    expect(text).toBe(
      '{\n  "metadata": {\n    "total_poems": 3,\n    "algorithm": "gpu_vulkan_parallel_c",\n' +
        '    "format": "pre_sorted_rankings",\n    "sort_threads": 4,\n    "top_k": 0,\n' +
        '    "description": "Pre-sorted similarity rankings, top-K neighbours per poem (top_k=0 means all)"\n  },\n' +
        '  "rankings": {\n    "1": [3, 2],\n    "2": [1, 3],\n    "3": []\n  }\n}\n',
    );
    expect(JSON.parse(text).rankings).toEqual({ 1: [3, 2], 2: [1, 3], 3: [] });
  });

  it('the older writer has no top_k line; rows must come in order', async () => {
    expect(cRankingsHead({ total_poems: 1, sort_threads: 1 })).not.toContain('top_k');
    const texts = Array.from({ length: 1000 }, (_, i) => String(i + 1));
    expect(cRankingLine(17, [4, 902, 11], false, texts)).toBe('    "17": [5, 903, 12],\n');
    expect(C_RANKINGS_TAIL).toBe('  }\n}\n');
    const file = RankingsFile.open(join(dir, 'order.json'), { total_poems: 2, sort_threads: 1 });
    await expect(file.line(1, [0])).rejects.toThrow(/out of order/);
    await file.abort();
  });
});

describe('the compact diversity file', () => {
  it('is compact dkjson with 0-based keys in the key order and no final newline', async () => {
    const path = join(dir, 'diversity.json');
    const seqs = [
      [0, 2, 1],
      [1, 0, 2],
      [2, 1, 0],
    ];
    await writeDiversityFile(path, { top_k: 3 }, 3, (k) => seqs[k], INSERTION_ORDER);
    expect(readFileSync(path, 'utf8')).toBe(
      '{"metadata":{"top_k":3},"sequences":{"0":[0,2,1],"1":[1,0,2],"2":[2,1,0]}}',
    );
    const lua = new LuaKeyOrder(3);
    await writeDiversityFile(path, { top_k: 3 }, 3, (k) => seqs[k], lua);
    const text = readFileSync(path, 'utf8');
    const keys = [...text.matchAll(/"(\d)":\[/g)].map((m) => m[1]);
    expect(keys).toEqual(lua.order(['0', '1', '2']));
    expect(text).not.toMatch(/\s/);
  });

  it('a failed write leaves no file behind', async () => {
    const path = join(dir, 'failed.json');
    const boom = () => {
      throw new Error('boom');
    };
    await expect(writePoemsFile(path, { total_poems: 1 }, 1, boom, INSERTION_ORDER)).rejects.toThrow('boom');
    expect(() => readFileSync(path)).toThrow(/ENOENT/);
    expect(() => readFileSync(`${path}.partial`)).toThrow(/ENOENT/);
  });
});
