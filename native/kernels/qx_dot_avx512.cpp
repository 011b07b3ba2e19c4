// AVX-512 (F/BW/VL/DQ) QuantX kernels, and the A8 kernels with VNNI. Same
// skeleton as AVX2 (qx_unpack_x86.h), but two 32-weight sub-blocks per
// 512-bit step; VNNI fuses the int8 multiply and the int32 accumulate.
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_*()
// pass-through of masked intrinsics); the warning is about the header, not us.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <vector>

#include "qx_format.h"
#include "qx_kernels.h"
#include "qx_unpack_x86.h"

namespace qx {

namespace {

using namespace x86;

constexpr int kSubsPerGroup = kQxGroup / kQxSub;

inline float hsum512(__m512 v) {
    return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

template <int BITS>
float dot_a16(const QxFormat& f, int64_t n, const void* w, const float* x) {
    const __m256i tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    __m512 total = _mm512_setzero_ps();
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            const __m256i v = values<BITS>(tbl, cp, b);
            const float* xb = x + b * kQxSub;
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(v))), _mm512_loadu_ps(xb), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(v, 1))),
                                   _mm512_loadu_ps(xb + 16), acc1);
        }
        total = _mm512_fmadd_ps(_mm512_add_ps(acc0, acc1), _mm512_set1_ps(scale_at(scales, g)), total);
    }
    return hsum512(total);
}

// int32 sums of 4 adjacent products |v| * (q signed like v), per 32-bit lane.
template <bool VNNI>
inline __m512i dot4(__m512i v, __m512i q) {
    const __m512i av = _mm512_abs_epi8(v);
    const __m512i sq = _mm512_mask_sub_epi8(q, _mm512_movepi8_mask(v), _mm512_setzero_si512(), q);
    if constexpr (VNNI) {
        return _mm512_dpbusd_epi32(_mm512_setzero_si512(), av, sq);
    } else {
        return _mm512_madd_epi16(_mm512_maddubs_epi16(av, sq), _mm512_set1_epi16(1));
    }
}

template <bool VNNI>
inline __m256i dot4_256(__m256i v, __m256i q) {
    const __m256i av = _mm256_sign_epi8(v, v), sq = _mm256_sign_epi8(q, v);
    if constexpr (VNNI) {
        return _mm256_dpbusd_epi32(_mm256_setzero_si256(), av, sq);
    } else {
        return _mm256_madd_epi16(_mm256_maddubs_epi16(av, sq), _mm256_set1_epi16(1));
    }
}

template <int BITS, bool VNNI>
float dot_a8(const QxFormat& f, int64_t n, const void* w, const BlockQ8* x) {
    const __m256i tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    __m512 total = _mm512_setzero_ps();
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        __m512 acc = _mm512_setzero_ps();
        int64_t b = b0;
        for (; b + 1 < b1; b += 2) {
            const __m512i v = _mm512_inserti64x4(_mm512_zextsi256_si512(values<BITS>(tbl, cp, b)), values<BITS>(tbl, cp, b + 1), 1);
            const __m512i q = _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i*)x[b].qs)),
                                                 _mm256_loadu_si256((const __m256i*)x[b + 1].qs), 1);
            const __m512 dx = _mm512_insertf32x8(_mm512_set1_ps(x[b].d), _mm256_set1_ps(x[b + 1].d), 1);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot4<VNNI>(v, q)), dx, acc);
        }
        if (b < b1) {  // odd sub-block of a short last group
            const __m256i p = dot4_256<VNNI>(values<BITS>(tbl, cp, b), _mm256_loadu_si256((const __m256i*)x[b].qs));
            acc = _mm512_add_ps(acc, _mm512_zextps256_ps512(_mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(x[b].d))));
        }
        total = _mm512_fmadd_ps(acc, _mm512_set1_ps(scale_at(scales, g)), total);
    }
    return hsum512(total);
}

// VNNI: vpdpbusd multiplies unsigned weight bytes with the signed
// activations directly (no sign trick): U types give the code itself
// (T[c] + 4 or + 8, no lookup), C types T[c] + 128 from a biased table. Each
// int32 lane (4 products) starts at -bias * (sum of its 4 activations)
// (qx_a8_corrections), which cancels the bias exactly, lane by lane: the lane
// sums are the same integers as with signed values. The 3-bit unpack uses
// AVX-512BW masks: the high bit of every code is one vptestmb against a
// bit-per-lane pattern, added as 4 with a masked byte add.
// Software prefetch distance of the one-token kernel (bytes of codes ahead):
// measured on the 8192 x 32768 bench, 2 KB beat 0.5/1/4 KB and none by 5-15 %.
constexpr int kQxPrefetchAhead = 2048;
template <int BITS>
inline __m256i biased_table(const int8_t* t) {
    return _mm256_xor_si256(load_table<BITS>(t), _mm256_set1_epi8((char)0x80));
}

template <int BITS>
inline __m256i codes_bw(const uint8_t* sb) {
    if constexpr (BITS == 3) {
        uint64_t lo;
        uint32_t hi;
        std::memcpy(&lo, sb, 8);
        std::memcpy(&hi, sb + 8, 4);
        const __m256i low = _mm256_and_si256(
            _mm256_srlv_epi64(_mm256_set1_epi64x((long long)lo), _mm256_setr_epi64x(0, 2, 4, 6)), _mm256_set1_epi8(0x03));
        // Byte k of dword lane i is code 4i + k; its high bit is bit i of high byte k.
        const __mmask32 high = _mm256_test_epi8_mask(
            _mm256_set1_epi32((int)hi), _mm256_setr_epi32(0x01010101, 0x02020202, 0x04040404, 0x08080808, 0x10101010,
                                                          0x20202020, 0x40404040, (int)0x80808080));
        return _mm256_mask_add_epi8(low, high, low, _mm256_set1_epi8(4));
    } else {
        return unpack4(sb);
    }
}

// T activation rows per pass (1: gemv, 4: gemm); per token the same
// operations whatever T. PRE: corr given by the caller (else computed here).
// The weight bytes of sub-block b (T[c] + bias, unsigned).
template <int BITS, bool CB>
inline __m256i row_values(__m256i tbl, const uint8_t* cp, int64_t b) {
    constexpr int kSubBytes = BITS == 3 ? 12 : 16;
    __m256i v = codes_bw<BITS>(cp + b * kSubBytes);
    if constexpr (CB) v = _mm256_shuffle_epi8(tbl, v);
    return v;
}

// The traits' one-token dot (DotA8Fn: BlockQ8 only, bias removed here).
template <int BITS, bool CB>
float dot_a8_vnni(const QxFormat& f, int64_t n, const void* w, const BlockQ8* x) {
    const __m256i tbl = CB ? biased_table<BITS>(qx_row_table(f, w)) : _mm256_setzero_si256();
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    const __m256i bias = _mm256_set1_epi8((char)(CB ? 128 : 1 << (BITS - 1)));
    __m256 total = _mm256_setzero_ps();
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            const __m256i q = _mm256_loadu_si256((const __m256i*)x[b].qs);
            const __m256i v = row_values<BITS, CB>(tbl, cp, b);
            const __m256i p32 = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), v, q),
                                                 _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, q));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(x[b].d), acc);
        }
        total = _mm256_fmadd_ps(acc, _mm256_set1_ps(scale_at(scales, g)), total);
    }
    return hsum256(total);
}

// The weights of block pair p as the two vpdpbusd operands matching
// QxActPair.q: lo = [b 0..15 | b+1 0..15], hi = [b 16..31 | b+1 16..31].
template <int BITS, bool CB>
inline void pair_values(__m256i tbl, const uint8_t* cp, int64_t nsub, int64_t p, __m256i* lo, __m256i* hi) {
    const int64_t b = 2 * p;
    const __m256i v0 = row_values<BITS, CB>(tbl, cp, b);
    const __m256i v1 = b + 1 < nsub ? row_values<BITS, CB>(tbl, cp, b + 1) : _mm256_setzero_si256();
    *lo = _mm256_permute2x128_si256(v0, v1, 0x20);
    *hi = _mm256_permute2x128_si256(v0, v1, 0x31);
}

inline float hsum128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// R rows x T tokens over block pairs. Values(r, p, &lo, &hi) gives row r's
// operands for pair p. Per (row, token) the operations and their order are
// the same whatever R, T and Values (decoding on the fly or reading rows
// decoded beforehand), so gemv and gemm agree bit for bit. Per group (2 pairs)
// two accumulators (pair 0 / pair 1: short fma chains), then the two halves
// (blocks b / b+1) are folded to 4 lanes and scaled by the group scale.
template <int R, int T, class Values>
inline void pairs_kernel(int64_t n, const uint8_t* const* scales, const QxActPair* const* xa, const Values& values,
                         float out[][T]) {
    const int64_t np = qx_act_pairs(n);
    constexpr int64_t kPairsPerGroup = kSubsPerGroup / 2;
    __m128 total[R][T];
    for (auto& rt : total)
        for (auto& v : rt) v = _mm_setzero_ps();
    for (int64_t p0 = 0, g = 0; p0 < np; p0 += kPairsPerGroup, ++g) {
        const int64_t p1 = p0 + kPairsPerGroup < np ? p0 + kPairsPerGroup : np;
        __m256 acc[2][R][T];
        for (auto& e : acc)
            for (auto& rt : e)
                for (auto& v : rt) v = _mm256_setzero_ps();
        for (int64_t p = p0; p < p1; ++p) {
            __m256i lo[R], hi[R];
            for (int r = 0; r < R; ++r) values(r, p, &lo[r], &hi[r]);
            const int k = (int)(p - p0);
            for (int t = 0; t < T; ++t) {
                const QxActPair& a = xa[t][p];
                const __m256i q0 = _mm256_loadu_si256((const __m256i*)a.q);
                const __m256i q1 = _mm256_loadu_si256((const __m256i*)(a.q + 32));
                const __m256i c = _mm256_loadu_si256((const __m256i*)a.corr);
                const __m256 d = _mm256_loadu_ps(a.d);
                for (int r = 0; r < R; ++r) {
                    const __m256i s = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(c, lo[r], q0), hi[r], q1);
                    acc[k][r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc[k][r][t]);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            const __m128 dg = _mm_set1_ps(scale_at(scales[r], g));
            for (int t = 0; t < T; ++t) {
                const __m256 s = _mm256_add_ps(acc[0][r][t], acc[1][r][t]);
                const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
                total[r][t] = _mm_fmadd_ps(s4, dg, total[r][t]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) out[r][t] = hsum128(total[r][t]);
}

template <int BITS, bool CB>
void gemv_vnni(const QxFormat& f, int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const QxActPair* xa,
               float* y) {
    const int64_t nsub = n / kQxSub;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = w + r * row_bytes;
        const __m256i tbl = CB ? biased_table<BITS>(qx_row_table(f, row)) : _mm256_setzero_si256();
        const uint8_t* cp = row + qx_codes_offset(f, n);
        const uint8_t* sc[1] = {row + qx_scales_offset(f)};
        const QxActPair* xp[1] = {xa};
        float out[1][1];
        pairs_kernel<1, 1>(n, sc, xp, [&](int, int64_t p, __m256i* lo, __m256i* hi) __attribute__((always_inline)) {
            _mm_prefetch((const char*)(cp + 2 * p * (BITS == 3 ? 12 : 16)) + kQxPrefetchAhead, _MM_HINT_T0);
            pair_values<BITS, CB>(tbl, cp, nsub, p, lo, hi);
        }, out);
        y[r] = out[0][0];
    }
}

// A row tile against nt tokens: every row is decoded once into the pair
// operands (64 bytes per pair), then the 4-token passes only multiply and
// accumulate, two rows at a time (sharing the activation loads).
template <int BITS, bool CB>
void gemm_tile_vnni(const QxFormat& f, int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const QxActPair* xa,
                    int64_t lda, int64_t nt, float* y, int64_t ldy) {
    const int64_t nsub = n / kQxSub, np = qx_act_pairs(n);
    thread_local std::vector<__m256i> decoded;
    if (decoded.size() < (size_t)(rows * np * 2)) decoded.resize((size_t)(rows * np * 2));
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* row = w + r * row_bytes;
        const __m256i tbl = CB ? biased_table<BITS>(qx_row_table(f, row)) : _mm256_setzero_si256();
        const uint8_t* cp = row + qx_codes_offset(f, n);
        __m256i* dst = decoded.data() + r * np * 2;
        for (int64_t p = 0; p < np; ++p) pair_values<BITS, CB>(tbl, cp, nsub, p, &dst[2 * p], &dst[2 * p + 1]);
    }
    for (int64_t t0 = 0; t0 + 4 <= nt; t0 += 4) {
        const QxActPair* xp[4] = {xa + t0 * lda, xa + (t0 + 1) * lda, xa + (t0 + 2) * lda, xa + (t0 + 3) * lda};
        int64_t r = 0;
        float out[2][4];
        for (; r + 2 <= rows; r += 2) {
            const uint8_t* sc[2] = {w + r * row_bytes + qx_scales_offset(f), w + (r + 1) * row_bytes + qx_scales_offset(f)};
            const __m256i* d0 = decoded.data() + r * np * 2;
            pairs_kernel<2, 4>(n, sc, xp, [&](int k, int64_t p, __m256i* lo, __m256i* hi) __attribute__((always_inline)) {
                *lo = d0[k * np * 2 + 2 * p];
                *hi = d0[k * np * 2 + 2 * p + 1];
            }, out);
            for (int i = 0; i < 4; ++i) {
                y[(t0 + i) * ldy + r] = out[0][i];
                y[(t0 + i) * ldy + r + 1] = out[1][i];
            }
        }
        if (r < rows) {
            const uint8_t* sc[1] = {w + r * row_bytes + qx_scales_offset(f)};
            const __m256i* d0 = decoded.data() + r * np * 2;
            pairs_kernel<1, 4>(n, sc, xp, [&](int, int64_t p, __m256i* lo, __m256i* hi) __attribute__((always_inline)) {
                *lo = d0[2 * p];
                *hi = d0[2 * p + 1];
            }, out);
            for (int i = 0; i < 4; ++i) y[(t0 + i) * ldy + r] = out[0][i];
        }
    }
}

}  // namespace

#define QX_DEFINE_ROWS_VNNI(lower, ID, BITS, CB)                                                               \
    void lower##_gemv_a8_avx512vnni(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8*, \
                                    const QxActPair* xa, float* y) {                                         \
        gemv_vnni<BITS, CB>(*qx_format(ID), n, w, row_bytes, rows, xa, y);                                   \
    }                                                                                                        \
    void lower##_gemm_a8_avx512vnni(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8*, \
                                    int64_t, int64_t nt, const QxActPair* xa, int64_t lda, float* y,         \
                                    int64_t ldy) {                                                           \
        gemm_tile_vnni<BITS, CB>(*qx_format(ID), n, w, row_bytes, rows, xa, lda, nt, y, ldy);                \
    }
QX_DEFINE_ROWS_VNNI(qx3_u, QX3_U, 3, false)
QX_DEFINE_ROWS_VNNI(qx3_c, QX3_C, 3, true)
QX_DEFINE_ROWS_VNNI(qx4_u, QX4_U, 4, false)
QX_DEFINE_ROWS_VNNI(qx4_c, QX4_C, 4, true)

#define QX_DEFINE_AVX512(lower, ID, BITS, CB)                                                  \
    float lower##_dot_a16_avx512(int64_t n, const void* w, const float* x) {               \
        return dot_a16<BITS>(*qx_format(ID), n, w, x);                                    \
    }                                                                                      \
    float lower##_dot_a8_avx512(int64_t n, const void* w, const BlockQ8* x) {              \
        return dot_a8<BITS, false>(*qx_format(ID), n, w, x);                              \
    }                                                                                      \
    float lower##_dot_a8_avx512vnni(int64_t n, const void* w, const BlockQ8* x) {          \
        float out;                                                                         \
        out = dot_a8_vnni<BITS, CB>(*qx_format(ID), n, w, x);             \
        return out;                                                                        \
    }

QX_DEFINE_AVX512(qx3_u, QX3_U, 3, false)
QX_DEFINE_AVX512(qx3_c, QX3_C, 3, true)
QX_DEFINE_AVX512(qx4_u, QX4_U, 4, false)
QX_DEFINE_AVX512(qx4_c, QX4_C, 4, true)

}  // namespace qx
