// NEON + dot-product extension QuantX A8 kernels: sdot multiplies the int8
// table values by the int8 activations and accumulates in int32.
#include "qx_format.h"
#include "qx_kernels.h"
#include "qx_unpack_neon.h"

namespace qx {

namespace {

using namespace neon;

constexpr int kSubsPerGroup = kQxGroup / kQxSub;

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
            int32x4_t s = vdotq_s32(vdupq_n_s32(0), v.lo, vld1q_s8(x[b].qs));
            s = vdotq_s32(s, v.hi, vld1q_s8(x[b].qs + 16));
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), x[b].d);
        }
        total = vfmaq_n_f32(total, acc, scale_at(scales, g));
    }
    return vaddvq_f32(total);
}

}  // namespace

#define QX_DEFINE_NEONDOT(lower, ID, BITS)                                                 \
    float lower##_dot_a8_neondot(int64_t n, const void* w, const BlockQ8* x) {             \
        return dot_a8<BITS>(*qx_format(ID), n, w, x);                                     \
    }

QX_DEFINE_NEONDOT(qx3_u, QX3_U, 3)
QX_DEFINE_NEONDOT(qx3_c, QX3_C, 3)
QX_DEFINE_NEONDOT(qx4_u, QX4_U, 4)
QX_DEFINE_NEONDOT(qx4_c, QX4_C, 4)

}  // namespace qx
