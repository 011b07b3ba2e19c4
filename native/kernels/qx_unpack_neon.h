// NEON code unpacking shared by the QuantX neon and neondot kernels: one
// 32-weight sub-block -> two int8x16 of table values (lanes 0..15, 16..31)
// via shifts/masks and ONE tbl per 16 lanes. Static inline so each ISA file
// compiles it with its own flags.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace qx {
namespace neon {

struct Vals {
    int8x16_t lo, hi;  // values of code[0..15], code[16..31]
};

template <int BITS>
static inline int8x16_t load_table(const int8_t* t) {
    if constexpr (BITS == 3) return vcombine_s8(vld1_s8(t), vdup_n_s8(0));
    else return vld1q_s8(t);
}

template <int BITS>
static inline Vals values(int8x16_t table, const uint8_t* codes, int64_t b) {
    uint8x16_t c0, c1;
    if constexpr (BITS == 3) {
        const uint8_t* sb = codes + b * 12;
        const uint8x8_t low8 = vld1_u8(sb);
        const uint8x16_t low = vcombine_u8(low8, low8);
        // lanes 0..7 / 8..15 take bits (0,2) then (4,6) of byte j: code[j + 8i].
        const int8x16_t sh01 = {0, 0, 0, 0, 0, 0, 0, 0, -2, -2, -2, -2, -2, -2, -2, -2};
        const int8x16_t sh23 = {-4, -4, -4, -4, -4, -4, -4, -4, -6, -6, -6, -6, -6, -6, -6, -6};
        const uint8x16_t three = vdupq_n_u8(3);
        c0 = vandq_u8(vshlq_u8(low, sh01), three);
        c1 = vandq_u8(vshlq_u8(low, sh23), three);
        uint32_t h32;
        std::memcpy(&h32, sb + 8, 4);
        const uint8x16_t h = vreinterpretq_u8_u32(vdupq_n_u32(h32));
        // lane c: byte c % 4 of the broadcast word, bit c / 4 (code[k + 4i]), shifted to bit 2.
        const int8x16_t sh0 = {2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, -1, -1, -1, -1};
        const int8x16_t sh1 = {-2, -2, -2, -2, -3, -3, -3, -3, -4, -4, -4, -4, -5, -5, -5, -5};
        const uint8x16_t four = vdupq_n_u8(4);
        c0 = vorrq_u8(c0, vandq_u8(vshlq_u8(h, sh0), four));
        c1 = vorrq_u8(c1, vandq_u8(vshlq_u8(h, sh1), four));
    } else {
        const uint8x16_t v = vld1q_u8(codes + b * 16);
        c0 = vandq_u8(v, vdupq_n_u8(0x0F));
        c1 = vshrq_n_u8(v, 4);
    }
    return {vqtbl1q_s8(table, c0), vqtbl1q_s8(table, c1)};
}

static inline float scale_at(const uint8_t* scales, int64_t g) {
    uint16_t h;
    std::memcpy(&h, scales + 2 * g, 2);
    float16_t hf;
    std::memcpy(&hf, &h, 2);
    return (float)hf;
}

}  // namespace neon
}  // namespace qx
