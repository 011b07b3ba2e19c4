// Scalar reference kernels of the QuantX formats: the order of operations
// here (float accumulation per group, then times the group scale; in A8 an
// exact int32 sum per 32-block, times the activation scale) is the one the
// spec states; SIMD kernels may reassociate within the stated tolerance.
#include "qx_half.h"
#include "qx_kernels.h"
#include "qx_quantize.h"

namespace qx {

namespace {

float dot_a16_ref(const QxFormat& f, int64_t n, const void* w, const float* x) {
    const int8_t* table = qx_row_table(f, w);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    uint8_t codes[32];
    float total = 0.0f;
    for (int64_t g0 = 0; g0 < n; g0 += kQxGroup) {
        const int64_t len = n - g0 < kQxGroup ? n - g0 : kQxGroup;
        float acc = 0.0f;
        for (int64_t b = g0 / kQxSub; b < (g0 + len) / kQxSub; ++b) {
            qx_unpack_sub(f, cp + b * f.sub_bytes, codes);
            for (int i = 0; i < kQxSub; ++i) acc += (float)table[codes[i]] * x[b * kQxSub + i];
        }
        total += qx_half_to_float(qx_scale_bits(f, w, g0 / kQxGroup)) * acc;
    }
    return total;
}

float dot_a8_ref(const QxFormat& f, int64_t n, const void* w, const BlockQ8* x) {
    const int8_t* table = qx_row_table(f, w);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    uint8_t codes[32];
    float total = 0.0f;
    for (int64_t g0 = 0; g0 < n; g0 += kQxGroup) {
        const int64_t len = n - g0 < kQxGroup ? n - g0 : kQxGroup;
        float acc = 0.0f;
        for (int64_t b = g0 / kQxSub; b < (g0 + len) / kQxSub; ++b) {
            qx_unpack_sub(f, cp + b * f.sub_bytes, codes);
            int32_t isum = 0;
            for (int i = 0; i < kQxSub; ++i) isum += (int32_t)table[codes[i]] * (int32_t)x[b].qs[i];
            acc += x[b].d * (float)isum;
        }
        total += qx_half_to_float(qx_scale_bits(f, w, g0 / kQxGroup)) * acc;
    }
    return total;
}

}  // namespace

#define QX_DEFINE_REF(lower, ID)                                                                                \
    float lower##_dot_a16_ref(int64_t n, const void* w, const float* x) { return dot_a16_ref(*qx_format(ID), n, w, x); } \
    float lower##_dot_a8_ref(int64_t n, const void* w, const BlockQ8* x) { return dot_a8_ref(*qx_format(ID), n, w, x); } \
    void lower##_to_float(const void* w, float* y, int64_t n) { qx_dequantize_row(*qx_format(ID), w, y, n); }

// The scalar row kernels: the reference dot per token.
#define QX_DEFINE_REF_ROWS(lower)                                                                                   \
    void lower##_gemv_a8_ref(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,         \
                             float* y) {                                                            \
        for (int64_t r = 0; r < rows; ++r) y[r] = lower##_dot_a8_ref(n, w + r * row_bytes, x);                      \
    }                                                                                                               \
    void lower##_gemm_a8_ref(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,         \
                             int64_t ldx, int64_t nt, float* y, int64_t ldy) {              \
        for (int64_t t = 0; t < nt; ++t)                                                                            \
            for (int64_t r = 0; r < rows; ++r) y[t * ldy + r] = lower##_dot_a8_ref(n, w + r * row_bytes, x + t * ldx); \
    }

QX_DEFINE_REF(qx3_u, QX3_U)
QX_DEFINE_REF(qx3_c, QX3_C)
QX_DEFINE_REF(qx4_u, QX4_U)
QX_DEFINE_REF(qx4_c, QX4_C)
QX_DEFINE_REF_ROWS(qx3_u)
QX_DEFINE_REF_ROWS(qx3_c)
QX_DEFINE_REF_ROWS(qx4_u)
QX_DEFINE_REF_ROWS(qx4_c)

}  // namespace qx
