// NEON (aarch64 baseline) QuantX kernels: A16 and the A8 path without the
// dot-product extension (widening multiply-accumulate instead of sdot).
#include "qx_format.h"
#include "qx_kernels.h"
#include "qx_unpack_neon.h"

namespace qx {

namespace {

using namespace neon;

constexpr int kSubsPerGroup = kQxGroup / kQxSub;

inline float32x4_t widen_f32(int16x4_t v) { return vcvtq_f32_s32(vmovl_s16(v)); }

template <int BITS>
float dot_a16(const QxFormat& f, int64_t n, const void* w, const float* x) {
    const int8x16_t tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    float32x4_t total = vdupq_n_f32(0.0f);
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
        for (int64_t b = b0; b < b1; ++b) {
            const Vals v = values<BITS>(tbl, cp, b);
            const float* xb = x + b * kQxSub;
            const int8x16_t halves[2] = {v.lo, v.hi};
            for (int h = 0; h < 2; ++h) {
                const int16x8_t a = vmovl_s8(vget_low_s8(halves[h])), c = vmovl_s8(vget_high_s8(halves[h]));
                const float* xh = xb + 16 * h;
                acc0 = vfmaq_f32(acc0, widen_f32(vget_low_s16(a)), vld1q_f32(xh));
                acc1 = vfmaq_f32(acc1, widen_f32(vget_high_s16(a)), vld1q_f32(xh + 4));
                acc0 = vfmaq_f32(acc0, widen_f32(vget_low_s16(c)), vld1q_f32(xh + 8));
                acc1 = vfmaq_f32(acc1, widen_f32(vget_high_s16(c)), vld1q_f32(xh + 12));
            }
        }
        total = vfmaq_n_f32(total, vaddq_f32(acc0, acc1), scale_at(scales, g));
    }
    return vaddvq_f32(total);
}

template <int BITS>
float dot_a8(const QxFormat& f, int64_t n, const void* w, const BlockQ8* x) {
    const int8x16_t tbl = load_table<BITS>(qx_row_table(f, w));
    const uint8_t* scales = (const uint8_t*)w + qx_scales_offset(f);
    const uint8_t* cp = (const uint8_t*)w + qx_codes_offset(f, n);
    const int64_t nsub = n / kQxSub;
    float32x4_t total = vdupq_n_f32(0.0f);
    for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
        const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t b = b0; b < b1; ++b) {
            const Vals v = values<BITS>(tbl, cp, b);
            const int8x16_t q0 = vld1q_s8(x[b].qs), q1 = vld1q_s8(x[b].qs + 16);
            // Two int8 products per int16 lane: |sum| <= 2 * 127 * 127, no overflow.
            const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(v.lo), vget_low_s8(q0)), v.lo, q0);
            const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(v.hi), vget_low_s8(q1)), v.hi, q1);
            const int32x4_t s = vpadalq_s16(vpaddlq_s16(p0), p1);
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), x[b].d);
        }
        total = vfmaq_n_f32(total, acc, scale_at(scales, g));
    }
    return vaddvq_f32(total);
}

}  // namespace

#define QX_DEFINE_NEON(lower, ID, BITS)                                                    \
    float lower##_dot_a16_neon(int64_t n, const void* w, const float* x) {                 \
        return dot_a16<BITS>(*qx_format(ID), n, w, x);                                    \
    }                                                                                      \
    float lower##_dot_a8_neon(int64_t n, const void* w, const BlockQ8* x) {                \
        return dot_a8<BITS>(*qx_format(ID), n, w, x);                                     \
    }

QX_DEFINE_NEON(qx3_u, QX3_U, 3)
QX_DEFINE_NEON(qx3_c, QX3_C, 3)
QX_DEFINE_NEON(qx4_u, QX4_U, 4)
QX_DEFINE_NEON(qx4_c, QX4_C, 4)

}  // namespace qx
