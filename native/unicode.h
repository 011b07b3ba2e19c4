// UTF-8 decoding that never fails, and codepoint classes for pre-tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "unicode_tables.h"

namespace qx {

constexpr uint32_t kReplacementChar = 0xFFFD;

// One decoded codepoint and the bytes it came from.
struct Utf8Char {
    uint32_t cp;       // kReplacementChar for a byte that starts no valid sequence
    uint32_t offset;   // byte offset in the source
    uint32_t len;      // 1..4 source bytes
};

// Decodes `len` bytes at `s`. Overlong forms, surrogates, values above
// U+10FFFF, stray continuation bytes and truncated sequences each become one
// U+FFFD covering a single byte, so every byte belongs to exactly one char and
// the original bytes can always be recovered from the offsets.
std::vector<Utf8Char> utf8_decode(const char* s, size_t len);

// Length of the valid UTF-8 sequence starting at s[0] (1..4), or 0 if invalid.
size_t utf8_valid_len(const unsigned char* s, size_t avail);

void utf8_append(std::string& out, uint32_t cp);

// Flags (CodepointFlag bits) of a codepoint.
uint8_t codepoint_flags(uint32_t cp);

inline bool cp_is_letter(uint32_t cp) { return codepoint_flags(cp) & kCpLetter; }
inline bool cp_is_number(uint32_t cp) { return codepoint_flags(cp) & kCpNumber; }
inline bool cp_is_space(uint32_t cp) { return codepoint_flags(cp) & kCpWhitespace; }

}  // namespace qx
