// JSON number arrays → float32, for the converter's embeddings fast path (converter/byte-numbers.ts, readFloats).
#pragma once
#include <cstddef>

namespace poem {

// Parses [p, end): the inside of a JSON array of numbers (whitespace, numbers, commas; no brackets) into
// out[0, max) as float32 — each the float nearest to the double JSON.parse gives, as Math.fround would round
// it. Returns the count, or -1 when anything is unusual (not the JSON number grammar, more than max values,
// a value outside the float32 range, underflow): the caller then reads the array the precise way.
long parseJsonFloats(const char* p, const char* end, float* out, size_t max);

}  // namespace poem
