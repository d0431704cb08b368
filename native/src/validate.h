// C++ twin of parseCache() in cache/validate.ts: the same checks in the same order with the same messages,
// so a file the native path maps is exactly a file the JS reader accepts. Never reads outside [bytes, size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace poem {

struct CacheFormatError {
  uint64_t offset;
  std::string message;  // `${label}: byte ${offset}: expected ${what}[, found ${found}]`, UTF-8
};

// zlib's CRC-32 (reflected polynomial 0xEDB88320), continuing from `crc`.
uint32_t crc32(const uint8_t* data, size_t length, uint32_t crc = 0);

// Returns true when the image is valid; otherwise fills `error` and returns false.
bool validateCache(const uint8_t* bytes, size_t size, const std::string& label, CacheFormatError& error);

}  // namespace poem
