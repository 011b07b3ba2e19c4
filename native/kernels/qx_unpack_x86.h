// x86 code unpacking shared by the AVX2 and AVX-512 QuantX kernels: one
// sub-block of 32 codes -> one byte per lane, then one vpshufb through the
// row's value table. Header-only and static inline so each ISA file compiles
// it with its own flags (never include it from a file built without AVX2).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qx {
namespace x86 {

// 32 codes (0..7) of a QX3 sub-block, lane i = code[i].
static inline __m256i unpack3(const uint8_t* sb) {
    uint64_t lo;
    uint32_t hi;
    std::memcpy(&lo, sb, 8);
    std::memcpy(&hi, sb + 8, 4);
    // 64-bit lane i shifted by 2i: byte j's bits 0..1 then hold code[j + 8i].
    const __m256i low = _mm256_and_si256(
        _mm256_srlv_epi64(_mm256_set1_epi64x((long long)lo), _mm256_setr_epi64x(0, 2, 4, 6)), _mm256_set1_epi8(0x03));
    // Dword lane i, byte k needs bit i of high byte k (code[k + 4i]), moved to bit 2.
    const __m256i h = _mm256_srlv_epi32(_mm256_set1_epi32((int)hi), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_or_si256(low, _mm256_and_si256(_mm256_slli_epi32(h, 2), _mm256_set1_epi8(0x04)));
}

// 32 codes (0..15) of a QX4 sub-block.
static inline __m256i unpack4(const uint8_t* sb) {
    const __m128i v = _mm_loadu_si128((const __m128i*)sb);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

// The 8 per-row results of an 8-row pass (or tile) to y[0..valid): a short last pass or tile
// computed repeated rows in the dropped lanes.
static inline void store_rows8(__m256 v, int64_t valid, float* y) {
    if (valid >= 8) {
        _mm256_storeu_ps(y, v);
    } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, v);
        for (int64_t r = 0; r < valid; ++r) y[r] = tmp[r];
    }
}

template <int BITS>
static inline __m256i unpack(const uint8_t* sb) {
    if constexpr (BITS == 3) return unpack3(sb);
    else return unpack4(sb);
}

// The value table in both 128-bit lanes (8 entries for QX3: read 8 bytes only).
template <int BITS>
static inline __m256i load_table(const int8_t* t) {
    const __m128i v = BITS == 3 ? _mm_loadl_epi64((const __m128i*)t) : _mm_loadu_si128((const __m128i*)t);
    return _mm256_broadcastsi128_si256(v);
}

// 32 int8 weight values of sub-block b.
template <int BITS>
static inline __m256i values(__m256i table, const uint8_t* codes, int64_t b) {
    return _mm256_shuffle_epi8(table, unpack<BITS>(codes + b * (BITS == 3 ? 12 : 16)));
}

static inline float scale_at(const uint8_t* scales, int64_t g) {
    uint16_t h;
    std::memcpy(&h, scales + 2 * g, 2);
    return _cvtsh_ss(h);
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

}  // namespace x86
}  // namespace qx
