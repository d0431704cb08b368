// The embeddings fast path (converter/parse-floats.ts): parseFloats in JS and in the addon must give exactly the
// float32 of the double JSON.parse gives, for every number, and refuse (-1) whatever the precise reader
// should judge. The converter's byte-identity tests cover its use; this covers the numbers themselves.
import { describe, expect, it } from 'vitest';
import { parseFloats } from '../converter/parse-floats.ts';
import { native, withoutNative } from './support/native.ts';
import { mulberry32 } from './support/prng.ts';

const skipNative = withoutNative('source.test: the native parseFloats');
const parsers: [string, typeof parseFloats | undefined][] = [
  ['JS', parseFloats],
  ['native', native?.parseFloats],
];

/** Parses `[text]` with one parser: the values, or -1. */
function parse(p: typeof parseFloats, inner: string, max = 1 << 16): number[] | -1 {
  const buf = Buffer.from(`[${inner}]`, 'latin1');
  const out = new Float32Array(max + 2).fill(7);
  const n = p(buf, 1, buf.length - 1, out, 1, max);
  if (n < 0) return -1;
  expect(out[0]).toBe(7); // nothing before `at`
  expect(out[n + 1]).toBe(7); // nothing after the count
  return [...out.subarray(1, 1 + n)];
}

/** What the precise path stores: Math.fround of JSON.parse. */
const expected = (text: string) => (JSON.parse(`[${text}]`) as number[]).map(Math.fround);

/** Numbers meant to hit every branch: Python-style reprs, exponents, many digits, float32 midpoints. */
function corpus(): string[] {
  const rnd = mulberry32(0xf10a7);
  const out: string[] = [
    '0',
    '-0',
    '0.0',
    '-0.0',
    '0e5',
    '-0E-7',
    '1',
    '-1',
    '10',
    '123456789012345678',
    '1234567890123456789012',
    '0.1',
    '0.5',
    '1.5',
    '3.4028234663852886e38',
    '-3.4028234663852886e+38',
    '3.4028235e38',
    '1.1754943508222875e-38',
    '1e-45',
    '1.401298464324817e-45',
    '7e-46',
    '1e-400',
    '-1e-400',
    '1e-50',
    '2.5e-39',
    '0.000000000000000000000000000000001',
    '123.456e-30',
    '9007199254740993',
    '9007199254740993e-20',
    '0.30000001192092896',
    '0.10000000149011612',
    '1e22',
    '1e23',
    '4.9e-324',
    '0.00000000000000000000000000000000000000000000001234',
    '1.00000000000000000000000001',
  ];
  const f64 = new Float64Array(1);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let k = 0; k < 20000; k++) {
    const x = (rnd() - 0.5) * 10 ** Math.floor(rnd() * 12 - 9);
    switch (k % 6) {
      case 0:
        out.push(String(Math.fround(x)));
        break; // what json.dumps(float32.tolist()) writes
      case 1:
        out.push(x.toPrecision(1 + Math.floor(rnd() * 21)));
        break; // 1..21 digits, exponent forms too
      case 2:
        out.push(x.toExponential(Math.floor(rnd() * 20)));
        break;
      case 3: {
        // the exact midpoint between two float32 neighbours, and just around it
        f32[0] = x;
        const a = f32[0];
        u32[0]++;
        const mid = (a + f32[0]) / 2;
        f64[0] = mid;
        out.push(
          String(mid),
          mid.toPrecision(17),
          mid.toPrecision(21),
          (mid * (1 + 2 ** -52)).toPrecision(19),
          (mid * (1 - 2 ** -52)).toPrecision(19),
        );
        break;
      }
      case 4:
        out.push(String(x * 1e-30), String(x * 1e30));
        break;
      default:
        out.push(x.toFixed(Math.floor(rnd() * 25)));
        break;
    }
  }
  return out;
}

describe.each(parsers)('parseFloats (%s)', (_name, p) => {
  if (!p) {
    it.skip('needs the native addon, which is not available (skipNative said why)', () => {});
    return;
  }

  it('every number of a 20,000-case corpus: the float32 of JSON.parse, bit for bit', () => {
    const numbers = corpus();
    // one number per call, so a mismatch names the number
    for (const text of numbers) {
      const want = expected(text);
      const got = parse(p, text);
      if (
        want.every((v) => Math.abs(v) <= 3.4028234663852886e38) &&
        Math.abs(JSON.parse(text)) <= 3.4028234663852886e38
      ) {
        expect(got === -1 ? -1 : got.map((v) => (Object.is(v, -0) ? '-0' : v)), text).toEqual(
          want.map((v) => (Object.is(v, -0) ? '-0' : v)),
        );
      } else expect(got, text).toBe(-1);
    }
    // and all at once, with every kind of whitespace between them
    const inRange = numbers.filter((t) => Math.abs(JSON.parse(t)) <= 3.4028234663852886e38);
    const seps = [',', ', ', ' ,', '\n,\t', ',\r\n  '];
    const joined = inRange.map((t, i) => (i === 0 ? '' : seps[i % seps.length]) + t).join('');
    expect(new Float32Array(parse(p, ` \n${joined}\t `) as number[])).toEqual(new Float32Array(expected(joined)));
  });

  it('an empty array is 0 values', () => {
    expect(parse(p, '')).toEqual([]);
    expect(parse(p, ' \n\t ')).toEqual([]);
  });

  it.each([
    ['01'],
    ['-01'],
    ['1.'],
    ['.5'],
    ['+1'],
    ['1e'],
    ['1e+'],
    ['-'],
    ['1,'],
    [',1'],
    ['1,,2'],
    ['1 2'],
    ['NaN'],
    ['Infinity'],
    ['-Infinity'],
    ['inf'],
    ['nan'],
    ['0x10'],
    ['1.5.2'],
    ['"1"'],
    ['null'],
    ['true'],
    ['[1]'],
    ['{}'],
    ['1e400'],
    ['-1e39'],
    ['3.4028236e38'],
    ['1_000'],
    ['١'],
    ['1\u00a0'],
  ])('refuses %j (the precise reader reports it)', (text) => {
    expect(parse(p, text)).toBe(-1);
  });

  it('refuses more than max values, and fills exactly max', () => {
    expect(parse(p, '1,2,3', 2)).toBe(-1);
    expect(parse(p, '1,2,3', 3)).toEqual([1, 2, 3]);
  });
});

it('the JS parseFloats checks that bytes[to] is the closing bracket', () => {
  expect(() => parseFloats(Buffer.from('[1,2]'), 1, 3, new Float32Array(4), 0, 4)).toThrow(RangeError);
});

it.skipIf(skipNative)('the native parseFloats refuses ranges outside its arrays', () => {
  const buf = Buffer.from('[1,2]');
  expect(() => native!.parseFloats(buf, 1, 9, new Float32Array(4), 0, 4)).toThrow(RangeError);
  expect(() => native!.parseFloats(buf, 1, 4, new Float32Array(4), 2, 4)).toThrow(RangeError);
  expect(() => native!.parseFloats(buf, 3, 1, new Float32Array(4), 0, 4)).toThrow(RangeError);
});
