// parseFloats: an embedding's numbers read straight from JSON bytes as float32, each exactly the float32 of the
// double JSON.parse gives (readFloats' JS path, byte-numbers.ts; the addon's parseFloats is its faster C++
// twin). -1 on anything unusual: the caller reads the array the precise way, which reports it.
/** The largest finite float32: inputs beyond it are refused (it would become Infinity in the cache). */
export const FLT_MAX = 3.4028234663852886e38;
/** Smallest normal float32: below it float32 rounding is not at a fixed bit of the double. */
const FLT_MIN_NORMAL = 1.1754943508222875e-38;
/** Powers of ten exactly representable as doubles. */
const POW10 = new Float64Array(23).map((_, k) => Number(`1e${k}`));
// The bits of a double, for parseFloats' rounding check.
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
/** Index in U32 of the double's low word (the platform's byte order). */
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;

/**
 * The JS twin of the addon's parseFloats: bytes[from, to), the inside of a JSON array of numbers whose closing
 * bracket is bytes[to], into out[at, at + max) as float32, each the float32 of the double JSON.parse gives.
 * Returns the count, or -1 when anything is unusual (the caller reads the array the precise way).
 */
export function parseFloats(buf: Buffer, from: number, to: number, out: Float32Array, at: number, max: number): number {
  if (buf[to] !== 0x5d) throw new RangeError('parseFloats: bytes[to] must be the closing bracket');
  const lim = at + max;
  let i = from;
  let w = at;
  let c = buf[i];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
  if (c !== 0x5d) {
    for (;;) {
      if (w === lim) return -1;
      const s = i;
      const neg = c === 0x2d;
      if (neg) c = buf[++i];
      // value = (hi * 10^nlo + lo) * 10^scale: up to 18 significant digits, 9 in each int32 (small-integer
      // arithmetic keeps this loop about twice as fast as one double accumulator)
      let hi = 0;
      let nhi = 0;
      let lo = 0;
      let nlo = 0;
      let scale = 0;
      let many = false; // more than 18 significant digits
      if (c === 0x30) {
        c = buf[++i];
        if (c >= 0x30 && c <= 0x39) return -1;
      } else if (c >= 0x31 && c <= 0x39) {
        while (c >= 0x30 && c <= 0x39 && nhi < 9) {
          hi = (hi * 10 + (c - 0x30)) | 0;
          nhi++;
          c = buf[++i];
        }
        while (c >= 0x30 && c <= 0x39 && nlo < 9) {
          lo = (lo * 10 + (c - 0x30)) | 0;
          nlo++;
          c = buf[++i];
        }
        while (c >= 0x30 && c <= 0x39) {
          many = true;
          scale++;
          c = buf[++i];
        }
      } else return -1;
      if (c === 0x2e) {
        c = buf[++i];
        if (!(c >= 0x30 && c <= 0x39)) return -1;
        if (nhi === 0) {
          while (c === 0x30) {
            scale--;
            c = buf[++i];
          }
        }
        const f = i;
        while (c >= 0x30 && c <= 0x39 && nhi < 9) {
          hi = (hi * 10 + (c - 0x30)) | 0;
          nhi++;
          c = buf[++i];
        }
        while (c >= 0x30 && c <= 0x39 && nlo < 9) {
          lo = (lo * 10 + (c - 0x30)) | 0;
          nlo++;
          c = buf[++i];
        }
        scale -= i - f;
        while (c >= 0x30 && c <= 0x39) {
          many = true;
          c = buf[++i];
        }
      }
      if (c === 0x65 || c === 0x45) {
        c = buf[++i];
        const eneg = c === 0x2d;
        if (eneg || c === 0x2b) c = buf[++i];
        if (!(c >= 0x30 && c <= 0x39)) return -1;
        let e = 0;
        do {
          if (e < 100000) e = e * 10 + (c - 0x30);
          c = buf[++i];
        } while (c >= 0x30 && c <= 0x39);
        scale += eneg ? -e : e;
      }
      let v: number;
      if (hi === 0)
        v = neg ? -0 : 0; // hi holds the first significant digit, if any
      else if (many || scale > 22 || scale < -44)
        v = +buf.toString('latin1', s, i); // Number() = JSON.parse here
      else {
        const m = nlo > 0 ? hi * POW10[nlo] + lo : hi;
        v = scale >= 0 ? m * POW10[scale] : scale >= -22 ? m / POW10[-scale] : m / 1e22 / POW10[-scale - 22];
        if (neg) v = -v;
        // At most 15 digits and |scale| <= 22: one rounding of exact operands, so v is the correctly rounded
        // double (Clinger's fast path). Otherwise v is within a few ulps of it, and the float32 of both agree
        // unless v lies near a float32 midpoint (the low 29 bits of the double near 2^28), float32 rounds
        // elsewhere (subnormal) or the range check is at stake: then the exact parse.
        if (nhi + nlo > 15 || scale < -22) {
          F64[0] = v;
          const low = U32[LOW] & 0x1fffffff;
          const a = neg ? -v : v;
          if ((low > 0x0fffff00 && low < 0x10000100) || a < FLT_MIN_NORMAL || a > 3.4e38) {
            v = +buf.toString('latin1', s, i);
          }
        }
      }
      if (!(v <= FLT_MAX && v >= -FLT_MAX)) return -1;
      out[w++] = v;
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
      if (c === 0x2c) {
        c = buf[++i];
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
        continue;
      }
      if (c === 0x5d) break;
      return -1;
    }
  }
  return i === to ? w - at : -1;
}
