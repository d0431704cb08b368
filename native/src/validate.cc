#include "validate.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "layout.h"

namespace poem {
namespace {

constexpr std::array<uint32_t, 256> makeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> CRC_TABLE = makeCrcTable();

// Little-endian loads through memcpy: the image may sit at any alignment and the host may be big-endian.
template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  if constexpr (sizeof(T) == 2) v = T(__builtin_bswap16(uint16_t(v)));
  if constexpr (sizeof(T) == 4) v = T(__builtin_bswap32(uint32_t(v)));
  if constexpr (sizeof(T) == 8) v = T(__builtin_bswap64(uint64_t(v)));
#endif
  return v;
}

constexpr uint64_t MAX_SAFE_INTEGER = 9007199254740991ull;  // 2^53 - 1

// validate.ts u64(): values past 2^53 are clamped to Number.MAX_SAFE_INTEGER.
uint64_t loadU64Clamped(const uint8_t* p) { return std::min(load<uint64_t>(p), MAX_SAFE_INTEGER); }

std::string dec(uint64_t v) { return std::to_string(v); }
std::string dec(int64_t v) { return std::to_string(v); }

// validate.ts hex(): 0x + at least 8 lowercase hex digits.
std::string hex(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// String(n) of a non-negative JS number: only a huge matrix shape length is not an exact integer.
std::string jsNumber(double d) {
  if (d < 9007199254740992.0) return std::to_string(uint64_t(d));
  char buf[64];
  // Shortest round-trip digits, which is what Number.prototype.toString picks too.
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  size_t e = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e; i++) if (sci[i] != '.') digits += sci[i];
  int exp10 = std::stoi(sci.substr(e + 1));
  int n = exp10 + 1;  // ECMAScript's n: the decimal point sits after n digits
  int k = int(digits.size());
  if (n >= k && n <= 21) return digits + std::string(size_t(n - k), '0');
  if (n > 0 && n <= 21) return digits.substr(0, size_t(n)) + "." + digits.substr(size_t(n));
  std::string out = digits.substr(0, 1);
  if (k > 1) out += "." + digits.substr(1);
  return out + "e" + (n - 1 >= 0 ? "+" : "-") + std::to_string(std::abs(n - 1));
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  }
}

// JSON.stringify of the magic read as Latin-1 (String.fromCharCode of each byte), encoded as UTF-8.
std::string jsonLatin1(const uint8_t* p, size_t n) {
  std::string out = "\"";
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          appendUtf8(out, c);
        }
    }
  }
  return out + "\"";
}

// WHATWG fatal UTF-8 decoding, as TextDecoder('utf-8', { fatal: true }) does it.
bool isUtf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) { i++; continue; }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return false;
    if (n - i - 1 < need) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k <= need; k++) if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    i += need + 1;
  }
  return true;
}

struct Fail {
  uint64_t offset;
  std::string expected;
  std::string found;
  bool hasFound;
};

[[noreturn]] void fail(uint64_t at, std::string expected) { throw Fail{at, std::move(expected), {}, false}; }
[[noreturn]] void fail(uint64_t at, std::string expected, std::string found) {
  throw Fail{at, std::move(expected), std::move(found), true};
}

struct Section {
  uint32_t index;
  std::string name;  // decoded bytes (UTF-8, BOM stripped), as the JS string would re-encode
  uint32_t kind, elementType, flags;
  uint64_t offset, byteLength;  // clamped like validate.ts u64()
  uint32_t count, param, param2;
  SectionShape shape;  // shape.known mirrors SectionInfo.known; part offsets are relative to `offset`
};

std::string where(const Section& s) { return "section " + dec(uint64_t(s.index)) + " \"" + s.name + "\""; }

// checkIndexes() of validate.ts. Every part lies inside the image: byteLength matched the shape and
// offset + byteLength <= size were both checked before.
void checkIndexes(const uint8_t* bytes, const Section& s) {
  auto partAt = [&](const char* name) -> const Part& {
    for (uint32_t i = 0; i < s.shape.partCount; i++) if (std::strcmp(s.shape.parts[i].name, name) == 0) return s.shape.parts[i];
    return s.shape.parts[0];  // unreachable for known kinds
  };
  if (s.kind == SectionKind::strings) {
    const uint64_t base = s.offset + partAt("offsets").offset;
    uint64_t prev = 0;
    for (uint64_t r = 0; r <= s.count; r++) {
      uint64_t v = load<uint32_t>(bytes + base + r * 4);
      if (r == 0 ? v != 0 : (v < prev || v > s.param)) {
        fail(base + r * 4,
             where(s) + ": string offset " + dec(r) + " " + (r == 0 ? std::string("to be 0") : "in " + dec(prev) + ".." + dec(uint64_t(s.param))),
             dec(v));
      }
      prev = v;
    }
    if (prev != s.param) fail(base + uint64_t(s.count) * 4, where(s) + ": last string offset " + dec(uint64_t(s.param)), dec(prev));
  } else if (s.kind == SectionKind::ragged) {
    const uint64_t starts = s.offset + partAt("starts").offset;
    const uint64_t lengths = s.offset + partAt("lengths").offset;
    for (uint64_t r = 0; r < s.count; r++) {
      uint64_t start = load<uint32_t>(bytes + starts + r * 4);
      uint64_t length = load<uint32_t>(bytes + lengths + r * 4);
      if (start + length > s.param) {  // 64-bit: two u32 cannot wrap
        fail(starts + r * 4, where(s) + ": row " + dec(r) + " list (start " + dec(start) + ", length " + dec(length) +
                                 ") inside " + dec(uint64_t(s.param)) + " values");
      }
    }
  } else if (s.kind == SectionKind::ids) {
    const Part& index = partAt("index");
    const uint64_t base = s.offset + index.offset;
    if (s.flags & IDS_DENSE_INDEX) {
      for (uint64_t k = 0; k < index.length; k++) {
        int64_t row = load<int32_t>(bytes + base + k * 4);
        if (row < -1 || row >= int64_t(s.count)) {
          fail(base + k * 4, where(s) + ": row -1.." + dec(int64_t(s.count) - 1) + " for id " + dec(uint64_t(s.param) + k), dec(row));
        }
      }
    } else {
      for (uint64_t k = 0; k < index.length; k++) {
        uint64_t row = load<uint32_t>(bytes + base + k * 4);
        if (row >= s.count) fail(base + k * 4, where(s) + ": a row below " + dec(uint64_t(s.count)) + " in the sorted index", dec(row));
      }
    }
  }
}

void parse(const uint8_t* bytes, size_t size64) {
  const uint64_t size = size64;
  if (size < HEADER_SIZE) fail(0, "a " + dec(uint64_t(HEADER_SIZE)) + "-byte header", "a file of " + dec(size) + " bytes");

  if (std::memcmp(bytes + H::magic, MAGIC, MAGIC_BYTES) != 0) {
    fail(H::magic, std::string("magic \"") + MAGIC + "\" (not a poem cache file?)", jsonLatin1(bytes + H::magic, MAGIC_BYTES));
  }
  const uint32_t major = load<uint16_t>(bytes + H::major);
  const uint32_t minor = load<uint16_t>(bytes + H::minor);
  const uint32_t bom = load<uint32_t>(bytes + H::byteOrder);
  if (bom != BYTE_ORDER_MARK) fail(H::byteOrder, "byte-order mark " + hex(BYTE_ORDER_MARK) + " (little-endian)", hex(bom));
  if (major != FORMAT_MAJOR) {
    fail(H::major, "format major version " + dec(uint64_t(FORMAT_MAJOR)),
         dec(uint64_t(major)) + "." + dec(uint64_t(minor)) +
             (major > FORMAT_MAJOR ? ": written by a newer astro-poem-cache, upgrade this package to read it" : ""));
  }
  const uint32_t headerChecksum = load<uint32_t>(bytes + H::headerChecksum);
  const uint32_t headerActual = crc32(bytes, H::headerChecksum);
  if (headerChecksum != headerActual) fail(H::headerChecksum, "header checksum " + hex(headerActual), hex(headerChecksum));
  const uint64_t fileSize = loadU64Clamped(bytes + H::fileSize);
  if (fileSize != size) fail(H::fileSize, "file size " + dec(size) + " (truncated or extended file?)", dec(fileSize));
  const uint64_t tableOffset = loadU64Clamped(bytes + H::tableOffset);
  if (tableOffset != HEADER_SIZE) fail(H::tableOffset, "section table at " + dec(uint64_t(HEADER_SIZE)), dec(tableOffset));
  const uint64_t entrySize = load<uint32_t>(bytes + H::entrySize);
  if (entrySize != SECTION_ENTRY_SIZE) fail(H::entrySize, "section entry size " + dec(uint64_t(SECTION_ENTRY_SIZE)), dec(entrySize));
  const uint64_t sectionCount = load<uint32_t>(bytes + H::sectionCount);
  if (sectionCount > MAX_SECTIONS) fail(H::sectionCount, "at most " + dec(uint64_t(MAX_SECTIONS)) + " sections", dec(sectionCount));
  const uint64_t tableEnd = tableOffset + sectionCount * entrySize;  // <= 64 + 1024 * 64: no overflow
  if (tableEnd > size) fail(tableOffset, "a section table of " + dec(sectionCount) + " entries inside the file", dec(size) + " bytes");
  const uint32_t tableChecksum = load<uint32_t>(bytes + H::tableChecksum);
  const uint32_t tableActual = crc32(bytes + tableOffset, size_t(tableEnd - tableOffset));
  if (tableChecksum != tableActual) fail(H::tableChecksum, "section table checksum " + hex(tableActual), hex(tableChecksum));

  std::vector<Section> sections;
  sections.reserve(size_t(sectionCount));
  for (uint32_t i = 0; i < sectionCount; i++) {
    const uint64_t at = tableOffset + uint64_t(i) * entrySize;
    const uint8_t* nameBytes = bytes + at + E::name;
    const void* nul = std::memchr(nameBytes, 0, SECTION_NAME_BYTES);
    size_t nameLength = nul ? size_t(static_cast<const uint8_t*>(nul) - nameBytes) : SECTION_NAME_BYTES;
    if (!isUtf8(nameBytes, nameLength)) fail(at + E::name, "section " + dec(uint64_t(i)) + ": a UTF-8 name");
    // TextDecoder drops a leading byte-order mark (ignoreBOM defaults to false).
    size_t skip = nameLength >= 3 && nameBytes[0] == 0xEF && nameBytes[1] == 0xBB && nameBytes[2] == 0xBF ? 3 : 0;
    std::string name(reinterpret_cast<const char*>(nameBytes) + skip, nameLength - skip);
    if (name.empty()) fail(at + E::name, "section " + dec(uint64_t(i)) + ": a non-empty name");
    Section s{};
    s.index = i;
    s.name = std::move(name);
    s.kind = load<uint16_t>(bytes + at + E::kind);
    s.elementType = load<uint16_t>(bytes + at + E::elementType);
    s.flags = load<uint32_t>(bytes + at + E::flags);
    s.offset = loadU64Clamped(bytes + at + E::offset);
    s.byteLength = loadU64Clamped(bytes + at + E::byteLength);
    s.count = load<uint32_t>(bytes + at + E::count);
    s.param = load<uint32_t>(bytes + at + E::param);
    s.param2 = load<uint32_t>(bytes + at + E::param2);
    const std::string w = where(s);
    if (s.offset % ALIGN != 0) fail(at + E::offset, w + ": an offset that is a multiple of " + dec(uint64_t(ALIGN)), dec(s.offset));
    if (s.offset < tableEnd) fail(at + E::offset, w + ": an offset after the section table (" + dec(tableEnd) + ")", dec(s.offset));
    // Both are clamped below 2^53, so the sum cannot wrap.
    if (s.offset + s.byteLength > size) {
      fail(at + E::byteLength, w + ": " + dec(s.byteLength) + " bytes at " + dec(s.offset) + " to end inside the file (" + dec(size) + " bytes)");
    }
    for (const Section& o : sections) if (o.name == s.name) fail(at + E::name, w + ": a unique section name");
    s.shape = sectionShape(s.kind, s.flags, s.count, s.param, s.param2);
    if (s.shape.known) {
      const uint32_t expectedType = kindElementType(s.kind);
      if (s.elementType != expectedType) {
        fail(at + E::elementType, w + ": element type " + dec(uint64_t(expectedType)) + " for kind " + dec(uint64_t(s.kind)), dec(uint64_t(s.elementType)));
      }
      if (s.byteLength != s.shape.byteLength) {
        fail(at + E::byteLength, w + ": byte length " + jsNumber(jsShapeByteLength(s.kind, s.count, s.param, s.shape)) + " for its kind, count and parameters",
             dec(s.byteLength));
      }
    }
    sections.push_back(std::move(s));
  }
  // Array.prototype.sort is stable, so equal offsets keep table order here too.
  std::vector<const Section*> byOffset;
  for (const Section& s : sections) byOffset.push_back(&s);
  std::stable_sort(byOffset.begin(), byOffset.end(), [](const Section* a, const Section* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < byOffset.size(); i++) {
    const Section& prev = *byOffset[i - 1];
    const Section& cur = *byOffset[i];
    if (prev.offset + prev.byteLength > cur.offset) {
      fail(tableOffset + uint64_t(cur.index) * entrySize + E::offset, where(cur) + " not to overlap " + where(prev));
    }
  }
  for (const Section& s : sections) if (s.shape.known) checkIndexes(bytes, s);
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t length, uint32_t crc) {
  crc = ~crc;
  for (size_t i = 0; i < length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

bool validateCache(const uint8_t* bytes, size_t size, const std::string& label, CacheFormatError& error) {
  try {
    parse(bytes, size);
    return true;
  } catch (const Fail& f) {
    error.offset = f.offset;
    error.message = label + ": byte " + dec(f.offset) + ": expected " + f.expected + (f.hasFound ? ", found " + f.found : "");
    return false;
  }
}

}  // namespace poem
