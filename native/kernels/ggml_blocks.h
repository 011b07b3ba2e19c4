// ggml's block layouts for the standard types the runtime computes with
// (ggml-common.h's published formats; byte-checked against gguf-py's
// gguf/quants.py in tests/test_kernels.py). Internal to native/kernels.
#pragma once

#include <cstdint>

namespace qx {

constexpr int kQK = 32;    // elements per block of the legacy formats
constexpr int kQKK = 256;  // elements per super-block of the K formats

// x = d * (q - 8), q in 0..15; element j<16 in the low nibble of qs[j],
// element j+16 in its high nibble.
struct BlockQ4_0 {
    uint16_t d;  // fp16
    uint8_t qs[16];
};
// x = d * q + m, nibble order as Q4_0.
struct BlockQ4_1 {
    uint16_t d, m;  // fp16
    uint8_t qs[16];
};
// x = d * q.
struct BlockQ8_0 {
    uint16_t d;  // fp16
    int8_t qs[32];
};
// 8 sub-blocks of 32 with 6-bit scale and min each (packed in scales[12]):
// x = d * sc[j] * q - dmin * m[j]. Byte b of qs[32*c + b] holds sub-block 2c
// in its low nibble and sub-block 2c+1 in its high nibble.
struct BlockQ4K {
    uint16_t d, dmin;  // fp16
    uint8_t scales[12];
    uint8_t qs[128];
};
// 6-bit values, x = d * scales[i/16] * (q - 32). Low 4 bits in ql, high 2 in qh.
struct BlockQ6K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;  // fp16
};

static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 layout");
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 layout");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 layout");
static_assert(sizeof(BlockQ4K) == 144, "Q4_K layout");
static_assert(sizeof(BlockQ6K) == 210, "Q6_K layout");

// Q4_K's 6-bit scale and min of sub-block j (0..7).
inline void q4k_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

// Q6_K's 6-bit code (0..63) of element i (0..255) of a super-block.
inline int q6k_code(const BlockQ6K& b, int i) {
    const int h = i / 128, s = (i % 128) / 32, l = i % 32;
    const uint8_t lo_byte = b.ql[h * 64 + (s & 1) * 32 + l];
    const int lo = (s < 2) ? (lo_byte & 0x0F) : (lo_byte >> 4);
    const int hi = (b.qh[h * 32 + l] >> (2 * s)) & 3;
    return lo | (hi << 4);
}

}  // namespace qx
