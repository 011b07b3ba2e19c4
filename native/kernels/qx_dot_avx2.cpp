// AVX2 + FMA + F16C kernels of the QuantX formats. One skeleton for U and C:
// codes are unpacked with shifts/masks to one byte per lane and mapped to
// int8 values with ONE vpshufb on the row's table (fixed grid for U).
#include <immintrin.h>

#include <cstring>

#include "qx_format.h"
#include "qx_kernels.h"

namespace qx {

namespace {

// 32 codes (0..7) of a QX3 sub-block, lane i = code[i].
inline __m256i unpack3(const uint8_t* sb) {
    uint64_t lo;
    uint32_t hi;
    std::memcpy(&lo, sb, 8);
    std::memcpy(&hi, sb + 8, 4);
    // 64-bit lane i shifted by 2i: byte j's bits 0..1 then hold code[j + 8i].
    const __m256i low = _mm256_and_si256(_mm256_srlv_epi64(_mm256_set1_epi64x((long long)lo), _mm256_setr_epi64x(0, 2, 4, 6)),
                                         _mm256_set1_epi8(0x03));
    // Byte i needs bit (i % 8) of high byte i / 8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)hi),
        _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32,
                                         64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_or_si256(low, _mm256_and_si256(set, _mm256_set1_epi8(0x04)));
}

// 32 codes (0..15) of a QX4 sub-block.
inline __m256i unpack4(const uint8_t* sb) {
    const __m128i v = _mm_loadu_si128((const __m128i*)sb);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

template <int BITS>
inline __m256i unpack(const uint8_t* sb) {
    if constexpr (BITS == 3) return unpack3(sb);
    else return unpack4(sb);
}

template <int BITS>
inline __m256i load_table(const int8_t* t) {
    const __m128i v = BITS == 3 ? _mm_loadl_epi64((const __m128i*)t) : _mm_loadu_si128((const __m128i*)t);
    return _mm256_broadcastsi128_si256(v);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float scale_at(const uint8_t* scales, int64_t g) {
    uint16_t h;
    std::memcpy(&h, scales + 2 * g, 2);
    return _cvtsh_ss(h);
}

template <int BITS>
float dot_a16(const QxFormat& f, int64_t n, const void* w, const float* x) {
    const __m256i tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    constexpr int kSubsPerGroup = kQxGroup / kQxSub;
    __m256 total = _mm256_setzero_ps();
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            const __m256i v = _mm256_shuffle_epi8(tbl, unpack<BITS>(cp + b * (BITS == 3 ? 12 : 16)));
            const __m128i v0 = _mm256_castsi256_si128(v), v1 = _mm256_extracti128_si256(v, 1);
            const float* xb = x + b * kQxSub;
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v0)), _mm256_loadu_ps(xb), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v0, 8))), _mm256_loadu_ps(xb + 8), acc1);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v1)), _mm256_loadu_ps(xb + 16), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v1, 8))), _mm256_loadu_ps(xb + 24), acc1);
        }
        total = _mm256_fmadd_ps(_mm256_add_ps(acc0, acc1), _mm256_set1_ps(scale_at(scales, g)), total);
    }
    return hsum(total);
}

template <int BITS>
float dot_a8(const QxFormat& f, int64_t n, const void* w, const BlockQ8* x) {
    const __m256i tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    constexpr int kSubsPerGroup = kQxGroup / kQxSub;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 total = _mm256_setzero_ps();
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            const __m256i v = _mm256_shuffle_epi8(tbl, unpack<BITS>(cp + b * (BITS == 3 ? 12 : 16)));
            const __m256i q = _mm256_loadu_si256((const __m256i*)x[b].qs);
            // |v| * (q with v's sign): maddubs needs its first operand unsigned.
            // |v|, |q| <= 127 so the int16 pair sums cannot saturate.
            const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(q, v));
            const __m256i p32 = _mm256_madd_epi16(p16, ones);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(x[b].d), acc);
        }
        total = _mm256_fmadd_ps(acc, _mm256_set1_ps(scale_at(scales, g)), total);
    }
    return hsum(total);
}

}  // namespace

#define QX_DEFINE_AVX2(lower, ID, BITS)                                                   \
    float lower##_dot_a16_avx2(int64_t n, const void* w, const float* x) {                \
        return dot_a16<BITS>(*qx_format(ID), n, w, x);                                   \
    }                                                                                     \
    float lower##_dot_a8_avx2(int64_t n, const void* w, const BlockQ8* x) {               \
        return dot_a8<BITS>(*qx_format(ID), n, w, x);                                    \
    }

QX_DEFINE_AVX2(qx3_u, QX3_U, 3)
QX_DEFINE_AVX2(qx3_c, QX3_C, 3)
QX_DEFINE_AVX2(qx4_u, QX4_U, 4)
QX_DEFINE_AVX2(qx4_c, QX4_C, 4)

}  // namespace qx
