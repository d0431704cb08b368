// Mirror of cache/layout.ts: the byte layout of a poem cache file. test/layout-agreement.test.ts compares
// every constant here (through the addon's layout() export) with the TypeScript module.
#pragma once

#include <cstdint>

namespace poem {

inline constexpr char MAGIC[] = "POEMCACH";  // 8 ASCII bytes at offset 0 (no NUL in the file)
inline constexpr uint32_t MAGIC_BYTES = 8;
inline constexpr uint32_t FORMAT_MAJOR = 1;
inline constexpr uint32_t FORMAT_MINOR = 0;
inline constexpr uint32_t BYTE_ORDER_MARK = 0x0a0b0c0d;
inline constexpr uint32_t ALIGN = 64;
inline constexpr uint32_t HEADER_SIZE = 64;
inline constexpr uint32_t SECTION_ENTRY_SIZE = 64;
inline constexpr uint32_t SECTION_NAME_BYTES = 24;
inline constexpr uint32_t MAX_SECTIONS = 1024;

// Header field offsets (little-endian).
namespace H {
inline constexpr uint32_t magic = 0;            // u8[8]
inline constexpr uint32_t major = 8;            // u16
inline constexpr uint32_t minor = 10;           // u16
inline constexpr uint32_t byteOrder = 12;       // u32
inline constexpr uint32_t flags = 16;           // u32
inline constexpr uint32_t sectionCount = 20;    // u32
inline constexpr uint32_t fileSize = 24;        // u64
inline constexpr uint32_t tableOffset = 32;     // u64
inline constexpr uint32_t entrySize = 40;       // u32
inline constexpr uint32_t tableChecksum = 44;   // u32
inline constexpr uint32_t reserved = 48;        // u8[12]
inline constexpr uint32_t headerChecksum = 60;  // u32, CRC-32 of bytes 0..59
}  // namespace H

// Section table entry field offsets, relative to the entry.
namespace E {
inline constexpr uint32_t name = 0;          // u8[24]
inline constexpr uint32_t kind = 24;         // u16
inline constexpr uint32_t elementType = 26;  // u16
inline constexpr uint32_t flags = 28;        // u32
inline constexpr uint32_t offset = 32;       // u64
inline constexpr uint32_t byteLength = 40;   // u64
inline constexpr uint32_t count = 48;        // u32
inline constexpr uint32_t param = 52;        // u32
inline constexpr uint32_t param2 = 56;       // u32
inline constexpr uint32_t checksum = 60;     // u32
}  // namespace E

namespace SectionKind {
inline constexpr uint32_t matrix = 1;
inline constexpr uint32_t ragged = 2;
inline constexpr uint32_t strings = 3;
inline constexpr uint32_t ids = 4;
inline constexpr uint32_t json = 5;
}  // namespace SectionKind

namespace ElementType {
inline constexpr uint32_t f32 = 1;
inline constexpr uint32_t i32 = 2;
inline constexpr uint32_t u32 = 3;
inline constexpr uint32_t u8 = 4;
}  // namespace ElementType

// KIND_ELEMENT_TYPE; 0 for unknown kinds.
inline constexpr uint32_t kindElementType(uint32_t kind) {
  switch (kind) {
    case SectionKind::matrix: return ElementType::f32;
    case SectionKind::ragged: return ElementType::i32;
    case SectionKind::strings: return ElementType::u8;
    case SectionKind::ids: return ElementType::i32;
    case SectionKind::json: return ElementType::u8;
    default: return 0;
  }
}

inline constexpr uint32_t RAGGED_HAS_SCORES = 1;
inline constexpr uint32_t IDS_DENSE_INDEX = 1;

inline constexpr uint32_t DENSE_INDEX_FACTOR = 4;
inline constexpr uint32_t DENSE_INDEX_SLACK = 1024;

inline constexpr uint64_t SATURATED = UINT64_MAX;

// align() that saturates instead of wrapping, so a huge size can never compare equal to a real one.
inline constexpr uint64_t align(uint64_t n) {
  return n > SATURATED - (ALIGN - 1) ? SATURATED : (n + ALIGN - 1) / ALIGN * ALIGN;
}

struct Part {
  const char* name;
  uint64_t offset;  // relative to the section start
  uint64_t length;  // elements
  uint64_t bytes;   // saturates like SectionShape::byteLength
  uint32_t elementBytes;
};

struct SectionShape {
  bool known = false;  // false for unknown kinds (readers skip them)
  Part parts[4] = {};
  uint32_t partCount = 0;
  // Saturates at SATURATED: only a matrix can exceed 64 bits ((2^32-1)^2 * 4), and no such length fits in
  // a file, so a saturated value always fails the byte-length comparison, as the inexact JS double does.
  uint64_t byteLength = 0;
};

// sectionShape() of layout.ts: the arrays of a known kind, each starting ALIGN-aligned.
inline SectionShape sectionShape(uint32_t kind, uint32_t flags, uint32_t count, uint32_t param, uint32_t param2) {
  SectionShape s;
  uint64_t end = 0;
  auto add = [&](const char* name, uint64_t length, uint64_t elementBytes) {
    uint64_t offset = s.partCount == 0 ? 0 : align(end);
    uint64_t bytes = length > SATURATED / elementBytes ? SATURATED : length * elementBytes;
    s.parts[s.partCount++] = Part{name, offset, length, bytes, uint32_t(elementBytes)};
    end = offset > SATURATED - bytes ? SATURATED : offset + bytes;
  };
  switch (kind) {
    case SectionKind::matrix: add("values", uint64_t(count) * param, 4); break;
    case SectionKind::ragged:
      add("starts", count, 4);
      add("lengths", count, 4);
      add("values", param, 4);
      if (flags & RAGGED_HAS_SCORES) add("scores", param, 4);
      break;
    case SectionKind::strings:
      add("offsets", uint64_t(count) + 1, 4);
      add("bytes", param, 1);
      break;
    case SectionKind::ids:
      add("ids", count, 4);
      add("index", (flags & IDS_DENSE_INDEX) ? param2 : count, 4);
      break;
    case SectionKind::json: add("bytes", count, 1); break;
    default: return s;
  }
  s.known = true;
  s.byteLength = end;
  return s;
}

// The byte length sectionShape() in layout.ts computes, as the JS double it is: exact below 2^53; only a
// matrix can go beyond, where JS rounds count * param once and the * 4 is exact. Used for message text.
inline double jsShapeByteLength(uint32_t kind, uint32_t count, uint32_t param, const SectionShape& s) {
  if (kind == SectionKind::matrix) return double(uint64_t(count) * param) * 4.0;
  return double(s.byteLength);
}

}  // namespace poem
