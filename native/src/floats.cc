#include "floats.h"

#include <cfloat>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace poem {

namespace {

inline bool isWs(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }

const double kPow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                           1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Eight ASCII digits at once (the SWAR trick of fast_float): most of an embedding's text is digit runs.
inline uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}
inline bool eightDigits(uint64_t v) {
  return ((v & 0xF0F0F0F0F0F0F0F0) | (((v + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) == 0x3333333333333333;
}
inline uint32_t parseEight(uint64_t v) {
  v = (v & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8;
  v = (v & 0x00FF00FF00FF00FF) * 6553601 >> 16;
  return uint32_t((v & 0x0000FFFF0000FFFF) * 42949672960001 >> 32);
}

// Digits at p into m (at most 19 in all, so m stays exact in 64 bits); returns past the run. Digits beyond 19
// set `many`. In the fraction each digit taken lowers scale by one; in the integer part each digit dropped
// raises it by one.
inline const char* digits(const char* p, const char* end, uint64_t& m, int& nd, int& scale, bool& many, bool fraction) {
  while (nd + 8 <= 19 && end - p >= 8) {
    uint64_t v = load8(p);
    if (!eightDigits(v)) break;
    m = m * 100000000 + parseEight(v);
    nd += 8;
    if (fraction) scale -= 8;
    p += 8;
  }
  for (; p < end && isDigit(*p); ++p) {
    if (nd < 19) {
      m = m * 10 + uint64_t(*p - '0');
      nd++;
      if (fraction) scale--;
    } else {
      many = true;
      if (!fraction) scale++;
    }
  }
  return p;
}

}  // namespace

long parseJsonFloats(const char* p, const char* end, float* out, size_t max) {
  size_t n = 0;
  while (p < end && isWs(*p)) ++p;
  if (p == end) return 0;
  for (;;) {
    if (n == max) return -1;
    // The JSON number grammar, collecting value = m * 10^scale on the way.
    const char* s = p;
    bool neg = *p == '-';
    if (neg) ++p;
    if (p == end) return -1;
    uint64_t m = 0;
    int nd = 0;  // digits in m (leading zeros are not taken)
    int scale = 0;
    bool many = false;  // more than 19 significant digits
    if (*p == '0') {
      ++p;
      if (p < end && isDigit(*p)) return -1;
    } else if (*p >= '1' && *p <= '9') {
      p = digits(p, end, m, nd, scale, many, false);
    } else {
      return -1;
    }
    if (p < end && *p == '.') {
      ++p;
      if (p == end || !isDigit(*p)) return -1;
      if (m == 0) {
        for (; p < end && *p == '0'; ++p) scale--;
      }
      p = digits(p, end, m, nd, scale, many, true);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
      ++p;
      bool eneg = false;
      if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
      if (p == end || !isDigit(*p)) return -1;
      int e = 0;
      for (; p < end && isDigit(*p); ++p) {
        if (e < 100000) e = e * 10 + (*p - '0');
      }
      scale += eneg ? -e : e;
    }
    double v;
    bool done = false;
    if (m == 0) {
      v = neg ? -0.0 : 0.0;
      done = true;
    } else if (!many && scale <= 22 && scale >= -22) {
      v = double(m);
      v = scale >= 0 ? v * kPow10[scale] : v / kPow10[-scale];
      if (neg) v = -v;
      // m <= 2^53: one rounding of exact operands, v is the correctly rounded double (Clinger's fast path).
      // Otherwise two roundings: v is within an ulp or two of it, and the float32 of both agree unless v is
      // near a float32 midpoint (the low 29 bits of the double near 2^28) or outside float32's normal range.
      done = m <= (uint64_t(1) << 53);
      if (!done) {
        uint64_t bits;
        std::memcpy(&bits, &v, 8);
        uint32_t low = uint32_t(bits & 0x1fffffff);
        double a = neg ? -v : v;
        done = !(low > 0x0fffff00 && low < 0x10000100) && a >= FLT_MIN && a <= 3.4e38;
      }
    }
    if (!done) {
      // from_chars on exactly the span the grammar accepted: correctly rounded like JSON.parse.
      std::from_chars_result r = std::from_chars(s, p, v);
      if (r.ptr != p) return -1;
      if (r.ec == std::errc::result_out_of_range && scale + nd <= 0) {
        v = neg ? -0.0 : 0.0;  // |x| < 1e-307 (libstdc++ may say so for subnormal doubles too): float32 0, like fround
      } else if (r.ec != std::errc()) {
        return -1;
      }
    }
    if (!(v <= FLT_MAX && v >= -FLT_MAX)) return -1;
    out[n++] = static_cast<float>(v);
    while (p < end && isWs(*p)) ++p;
    if (p == end) return static_cast<long>(n);
    if (*p != ',') return -1;
    ++p;
    while (p < end && isWs(*p)) ++p;
    if (p == end) return -1;  // a trailing comma
  }
}

}  // namespace poem
