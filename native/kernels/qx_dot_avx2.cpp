// AVX2 + FMA + F16C kernels of the QuantX formats. One skeleton for U and C:
// codes are unpacked with shifts/masks to one byte per lane and mapped to
// int8 values with ONE vpshufb on the row's table (fixed grid for U).
#include "qx_format.h"
#include "qx_kernels.h"
#include "qx_unpack_x86.h"

namespace qx {

namespace {

using namespace x86;

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
            const __m256i v = values<BITS>(tbl, cp, b);
            const __m128i v0 = _mm256_castsi256_si128(v), v1 = _mm256_extracti128_si256(v, 1);
            const float* xb = x + b * kQxSub;
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v0)), _mm256_loadu_ps(xb), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v0, 8))), _mm256_loadu_ps(xb + 8), acc1);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v1)), _mm256_loadu_ps(xb + 16), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v1, 8))), _mm256_loadu_ps(xb + 24), acc1);
        }
        total = _mm256_fmadd_ps(_mm256_add_ps(acc0, acc1), _mm256_set1_ps(scale_at(scales, g)), total);
    }
    return hsum256(total);
}

// T activation rows per pass (1: gemv, 4: gemm): the unpack and table lookup
// (most of the work per sub-block) are done once for all T. Each token's
// arithmetic is the same whatever T, so batches are bit-identical to gemv.
template <int BITS, int T>
void rows_a8(const QxFormat& f, int64_t n, const void* w, const BlockQ8* const* x, float* out) {
    const __m256i tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    constexpr int kSubsPerGroup = kQxGroup / kQxSub;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 total[T];
    for (auto& v : total) v = _mm256_setzero_ps();
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        __m256 acc[T];
        for (auto& v : acc) v = _mm256_setzero_ps();
        for (int64_t b = b0; b < b1; ++b) {
            const __m256i v = values<BITS>(tbl, cp, b);
            const __m256i av = _mm256_sign_epi8(v, v);
            for (int t = 0; t < T; ++t) {
                // |v| * (q with v's sign): maddubs needs its first operand unsigned.
                // |v|, |q| <= 127 so the int16 pair sums cannot saturate.
                const __m256i q = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i*)x[t][b].qs), v);
                const __m256i p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(av, q), ones);
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(x[t][b].d), acc[t]);
            }
        }
        const __m256 d = _mm256_set1_ps(scale_at(scales, g));
        for (int t = 0; t < T; ++t) total[t] = _mm256_fmadd_ps(acc[t], d, total[t]);
    }
    for (int t = 0; t < T; ++t) out[t] = hsum256(total[t]);
}

}  // namespace

#define QX_DEFINE_ROWS_AVX2(lower, ID, BITS)                                                                      \
    void lower##_gemv_a8_avx2(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,    \
                              float* y) {                                                       \
        for (int64_t r = 0; r < rows; ++r) rows_a8<BITS, 1>(*qx_format(ID), n, w + r * row_bytes, &x, y + r);  \
    }                                                                                                           \
    void lower##_gemm_a8_avx2(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,    \
                              int64_t ldx, int64_t nt, float* y, int64_t ldy) {        \
        for (int64_t t0 = 0; t0 + 4 <= nt; t0 += 4) {                                                           \
            const BlockQ8* xp[4] = {x + t0 * ldx, x + (t0 + 1) * ldx, x + (t0 + 2) * ldx, x + (t0 + 3) * ldx};  \
            for (int64_t r = 0; r < rows; ++r) {                                                                \
                float out[4];                                                                                   \
                rows_a8<BITS, 4>(*qx_format(ID), n, w + r * row_bytes, xp, out);                                \
                for (int i = 0; i < 4; ++i) y[(t0 + i) * ldy + r] = out[i];                                     \
            }                                                                                                   \
        }                                                                                                       \
    }
QX_DEFINE_ROWS_AVX2(qx3_u, QX3_U, 3)
QX_DEFINE_ROWS_AVX2(qx3_c, QX3_C, 3)
QX_DEFINE_ROWS_AVX2(qx4_u, QX4_U, 4)
QX_DEFINE_ROWS_AVX2(qx4_c, QX4_C, 4)

#define QX_DEFINE_AVX2(lower, ID, BITS)                                                   \
    float lower##_dot_a16_avx2(int64_t n, const void* w, const float* x) {                \
        return dot_a16<BITS>(*qx_format(ID), n, w, x);                                   \
    }                                                                                     \
    float lower##_dot_a8_avx2(int64_t n, const void* w, const BlockQ8* x) {               \
        float out;                                                                        \
        rows_a8<BITS, 1>(*qx_format(ID), n, w, &x, &out);                                  \
        return out;                                                                       \
    }

QX_DEFINE_AVX2(qx3_u, QX3_U, 3)
QX_DEFINE_AVX2(qx3_c, QX3_C, 3)
QX_DEFINE_AVX2(qx4_u, QX4_U, 4)
QX_DEFINE_AVX2(qx4_c, QX4_C, 4)

}  // namespace qx
