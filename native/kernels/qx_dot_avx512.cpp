// AVX-512 (F/BW/VL/DQ) QuantX kernels, and the A8 kernels with VNNI. Same
// skeleton as AVX2 (qx_unpack_x86.h), but two 32-weight sub-blocks per
// 512-bit step; VNNI fuses the int8 multiply and the int32 accumulate.
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_*()
// pass-through of masked intrinsics); the warning is about the header, not us.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <algorithm>
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
// (T[c] + 4 or + 8, no lookup), C types T[c] + 128 from a biased table. A
// second vpdpbusd of the bias against the activations cancels the bias
// exactly, lane by lane: the lane sums are the same integers as with signed
// values. The 3-bit unpack uses
// AVX-512BW masks: the high bit of every code is one vptestmb against a
// bit-per-lane pattern, added as 4 with a masked byte add.
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

// Row kernels, 8 rows at a time with one row per fp32 lane: each lane holds
// its row's exact int32 sum of a 32-block (bias removed), so one int->float
// conversion and one fma per block serve 8 rows. Per (row, token) both
// kernels then do the same float operations in the same order
//   acc = fma(float(isum_b), d_b, acc) over the blocks of a group,
//   total = fma(acc, scale_g, total) over the groups,
// so gemv and gemm results are bit-identical.
constexpr int kRowsPerPass = 8;  // store_rows8 stores one pass



// Row r's 8 int32 lanes summed into lane r of the result (exact).
inline __m256i transpose_sum(const __m256i* p) {
    const __m256i s01 = _mm256_hadd_epi32(p[0], p[1]), s23 = _mm256_hadd_epi32(p[2], p[3]);
    const __m256i s45 = _mm256_hadd_epi32(p[4], p[5]), s67 = _mm256_hadd_epi32(p[6], p[7]);
    const __m256i a = _mm256_hadd_epi32(s01, s23), b = _mm256_hadd_epi32(s45, s67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// The 8 rows' fp16 scales of group g as fp32 lanes.
inline __m256 group_scales(const uint8_t* const* scales, int64_t g) {
    uint16_t h[kRowsPerPass];
    for (int r = 0; r < kRowsPerPass; ++r) std::memcpy(&h[r], scales[r] + 2 * g, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)h));
}

// Pointers to rows r0..r0+7 (a short last pass repeats its last row; the
// repeated lanes are computed and dropped).
inline void pass_rows(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t rows, const uint8_t** out) {
    for (int r = 0; r < kRowsPerPass; ++r) out[r] = w + (size_t)std::min<int64_t>(r0 + r, rows - 1) * row_bytes;
}

template <int BITS, bool CB>
void gemv_vnni(const QxFormat& f, int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
               float* y) {
    const int64_t nsub = n / kQxSub;
    const int32_t bias = qx_a8_bias(f);
    for (int64_t r0 = 0; r0 < rows; r0 += kRowsPerPass) {
        const uint8_t* row[kRowsPerPass];
        pass_rows(w, row_bytes, r0, rows, row);
        __m256i tbl[kRowsPerPass];
        const uint8_t* cp[kRowsPerPass];
        const uint8_t* sc[kRowsPerPass];
        for (int r = 0; r < kRowsPerPass; ++r) {
            tbl[r] = CB ? biased_table<BITS>(qx_row_table(f, row[r])) : _mm256_setzero_si256();
            cp[r] = row[r] + qx_codes_offset(f, n);
            sc[r] = row[r] + qx_scales_offset(f);
        }
        const size_t pf_step = (kRowsPerPass * row_bytes + (size_t)nsub - 1) / (size_t)nsub;
        __m256 total = _mm256_setzero_ps();
        for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
            const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = b0; b < b1; ++b) {
                const __m256i q = _mm256_loadu_si256((const __m256i*)x[b].qs);
                __m256i p[kRowsPerPass];
                // The next 8 rows (contiguous after these) as one sequential
                // stream, spread over this pass's blocks.
                const char* ahead = (const char*)row[0] + kRowsPerPass * row_bytes + b * pf_step;
                _mm_prefetch(ahead, _MM_HINT_T0);
                _mm_prefetch(ahead + 64, _MM_HINT_T0);
                for (int r = 0; r < kRowsPerPass; ++r) {
                    const __m256i v = row_values<BITS, CB>(tbl[r], cp[r], b);
                    p[r] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v, q);
                }
                const __m256i corr = _mm256_set1_epi32(-bias * ((int32_t)x[b].sum[0] + x[b].sum[1]));
                const __m256i isum = _mm256_add_epi32(transpose_sum(p), corr);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(x[b].d), acc);
            }
            total = _mm256_fmadd_ps(acc, group_scales(sc, g), total);
        }
        store_rows8(total, rows - r0, y + r0);
    }
}

// A row tile against nt tokens: each 8-row pass is decoded once into
// "chunk-major" order (for block b and 4-byte chunk k, 32 bytes: chunk k of
// rows 0..7), so per token and block 8 vpdpbusd with the token's chunk
// broadcast leave each row's whole sum in its own lane.
template <int BITS, bool CB>
void gemm_tile_vnni(const QxFormat& f, int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
                    int64_t ldx, int64_t nt, float* y, int64_t ldy) {
    const int64_t nsub = n / kQxSub, ngroups = qx_groups(n);
    const int32_t bias = qx_a8_bias(f);
    const int64_t npass = (rows + kRowsPerPass - 1) / kRowsPerPass;
    // 32-byte aligned storage (std::vector<__m256i> would drop the alignment attribute).
    struct alignas(32) Reg {
        uint8_t b[32];
    };
    thread_local std::vector<Reg> decoded, gscale;
    if (decoded.size() < (size_t)(npass * nsub * 8)) decoded.resize((size_t)(npass * nsub * 8));
    if (gscale.size() < (size_t)(npass * ngroups)) gscale.resize((size_t)(npass * ngroups));
    for (int64_t ps = 0; ps < npass; ++ps) {
        const uint8_t* row[kRowsPerPass];
        pass_rows(w, row_bytes, ps * kRowsPerPass, rows, row);
        const uint8_t* sc[kRowsPerPass];
        for (int r = 0; r < kRowsPerPass; ++r) sc[r] = row[r] + qx_scales_offset(f);
        for (int64_t g = 0; g < ngroups; ++g) _mm256_store_ps((float*)gscale[(size_t)(ps * ngroups + g)].b, group_scales(sc, g));
        alignas(32) uint32_t v[kRowsPerPass][8];
        for (int64_t b = 0; b < nsub; ++b) {
            for (int r = 0; r < kRowsPerPass; ++r) {
                const __m256i tbl = CB ? biased_table<BITS>(qx_row_table(f, row[r])) : _mm256_setzero_si256();
                _mm256_store_si256((__m256i*)v[r], row_values<BITS, CB>(tbl, row[r] + qx_codes_offset(f, n), b));
            }
            alignas(32) uint32_t chunk[8][kRowsPerPass];
            for (int k = 0; k < 8; ++k)
                for (int r = 0; r < kRowsPerPass; ++r) chunk[k][r] = v[r][k];
            std::memcpy(decoded[(size_t)((ps * nsub + b) * 8)].b, chunk, sizeof(chunk));
        }
    }
    // Pass-major: a pass's decoded rows (nsub * 256 bytes) stay in L1 while
    // every token quad streams past from L2.
    constexpr int T = 4;
    for (int64_t ps = 0; ps < npass; ++ps) {
        for (int64_t t0 = 0; t0 + T <= nt; t0 += T) {
            const Reg* dw = decoded.data() + ps * nsub * 8;
            __m256 total[T];
            for (auto& v : total) v = _mm256_setzero_ps();
            for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
                const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
                __m256 acc[T];
                for (auto& v : acc) v = _mm256_setzero_ps();
                for (int64_t b = b0; b < b1; ++b) {
                    const Reg* wk = dw + b * 8;
                    for (int t = 0; t < T; ++t) {
                        const BlockQ8& xb = x[(t0 + t) * ldx + b];
                        const int8_t* qs = xb.qs;
                        int32_t q4[8];
                        std::memcpy(q4, qs, 32);
                        // Two chains of 4 (chunks 0..3, 4..7), then one add: exact.
                        const int32_t corr = -bias * ((int32_t)xb.sum[0] + xb.sum[1]);
                        __m256i s0 = _mm256_set1_epi32(corr), s1 = _mm256_setzero_si256();
                        for (int k = 0; k < 4; ++k) {
                            const __m256i w0 = _mm256_load_si256((const __m256i*)wk[k].b);
                            const __m256i w1 = _mm256_load_si256((const __m256i*)wk[4 + k].b);
                            s0 = _mm256_dpbusd_epi32(s0, w0, _mm256_set1_epi32(q4[k]));
                            s1 = _mm256_dpbusd_epi32(s1, w1, _mm256_set1_epi32(q4[4 + k]));
                        }
                        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(xb.d), acc[t]);
                    }
                }
                const __m256 ds = _mm256_load_ps((const float*)gscale[(size_t)(ps * ngroups + g)].b);
                for (int t = 0; t < T; ++t) total[t] = _mm256_fmadd_ps(acc[t], ds, total[t]);
            }
            for (int t = 0; t < T; ++t)
                store_rows8(total[t], rows - ps * kRowsPerPass, y + (t0 + t) * ldy + ps * kRowsPerPass);
        }
    }
}

}  // namespace

#define QX_DEFINE_ROWS_VNNI(lower, ID, BITS, CB)                                                               \
    void lower##_gemv_a8_avx512vnni(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x, \
                                    float* y) {                                                              \
        gemv_vnni<BITS, CB>(*qx_format(ID), n, w, row_bytes, rows, x, y);                                \
    }                                                                                                        \
    void lower##_gemm_a8_avx512vnni(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x, \
                                    int64_t ldx, int64_t nt, float* y, int64_t ldy) {                        \
                                                           \
        gemm_tile_vnni<BITS, CB>(*qx_format(ID), n, w, row_bytes, rows, x, ldx, nt, y, ldy);        \
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
