#include "unicode.h"

#include <array>

namespace qx {

size_t utf8_valid_len(const unsigned char* s, size_t avail) {
    if (avail == 0) return 0;
    const unsigned char b0 = s[0];
    if (b0 < 0x80) return 1;
    size_t n;
    uint32_t min_cp;
    uint32_t cp;
    if ((b0 & 0xE0) == 0xC0) { n = 2; min_cp = 0x80; cp = b0 & 0x1F; }
    else if ((b0 & 0xF0) == 0xE0) { n = 3; min_cp = 0x800; cp = b0 & 0x0F; }
    else if ((b0 & 0xF8) == 0xF0) { n = 4; min_cp = 0x10000; cp = b0 & 0x07; }
    else return 0;
    if (avail < n) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

static uint32_t decode_valid(const unsigned char* s, size_t n) {
    if (n == 1) return s[0];
    uint32_t cp = s[0] & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (s[k] & 0x3F);
    return cp;
}

std::vector<Utf8Char> utf8_decode(const char* s, size_t len) {
    std::vector<Utf8Char> out;
    out.reserve(len);
    const auto* u = reinterpret_cast<const unsigned char*>(s);
    size_t i = 0;
    while (i < len) {
        const size_t n = utf8_valid_len(u + i, len - i);
        if (n == 0) {
            out.push_back({kReplacementChar, static_cast<uint32_t>(i), 1});
            i += 1;
        } else {
            out.push_back({decode_valid(u + i, n), static_cast<uint32_t>(i), static_cast<uint32_t>(n)});
            i += n;
        }
    }
    return out;
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {
// ASCII dominates real text; answer it from a table instead of a search.
struct AsciiFlags {
    std::array<uint8_t, 128> f{};
    AsciiFlags() {
        for (int i = 0; i < kCodepointRangeCount; ++i) {
            const CodepointRange& r = kCodepointRanges[i];
            for (uint32_t cp = r.first; cp <= r.last && cp < 128; ++cp) f[cp] = r.flags;
        }
    }
};
}  // namespace

uint8_t codepoint_flags(uint32_t cp) {
    static const AsciiFlags ascii;
    if (cp < 128) return ascii.f[cp];
    int lo = 0, hi = kCodepointRangeCount - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        const CodepointRange& r = kCodepointRanges[mid];
        if (cp < r.first) hi = mid - 1;
        else if (cp > r.last) lo = mid + 1;
        else return r.flags;
    }
    return 0;
}

}  // namespace qx
