// NEON (aarch64 baseline) kernels for ggml's standard types: float dots,
// activation quantization, and the 8-bit kernels built on widening
// multiplies (for cores without the dot-product extension).
#include <arm_neon.h>

#include "ggml_blocks.h"
#include "ggml_kernels.h"

namespace qx {
namespace neon {

namespace {
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    // |a*b| <= 128*128 fits int16; pairwise-add the products into int32.
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

}  // namespace

float dot_a16_f32(int64_t n, const void* w, const float* x) {
    const float* a = static_cast<const float*>(w);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(x + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(x + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(x + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(x + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; ++i) s += a[i] * x[i];
    return s;
}

float dot_a16_f16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(a + i));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(x + i));
        s1 = vfmaq_f32(s1, vcvt_high_f32_f16(h), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; ++i) s += fp16_to_fp32(a[i]) * x[i];
    return s;
}

float dot_a16_bf16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(a + i);
        s0 = vfmaq_f32(s0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)), vld1q_f32(x + i));
        s1 = vfmaq_f32(s1, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; ++i) s += bf16_to_fp32(a[i]) * x[i];
    return s;
}

namespace {
// Quantized weights with float activations: dequantize a block with the
// reference code, then multiply-add.
template <int kBlock, int kBytes, ToFloatFn kToFloat>
float a16_blocked(int64_t n, const void* w, const float* x) {
    const uint8_t* p = static_cast<const uint8_t*>(w);
    float buf[kBlock];
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < n / kBlock; ++k) {
        kToFloat(p + k * kBytes, buf, kBlock);
        for (int i = 0; i < kBlock; i += 4) acc = vfmaq_f32(acc, vld1q_f32(buf + i), vld1q_f32(x + k * kBlock + i));
    }
    return vaddvq_f32(acc);
}
}  // namespace

float dot_a16_q8_0(int64_t n, const void* w, const float* x) {
    return a16_blocked<kQK, sizeof(BlockQ8_0), scalar::to_float_q8_0>(n, w, x);
}
float dot_a16_q4_0(int64_t n, const void* w, const float* x) {
    return a16_blocked<kQK, sizeof(BlockQ4_0), scalar::to_float_q4_0>(n, w, x);
}
float dot_a16_q4_1(int64_t n, const void* w, const float* x) {
    return a16_blocked<kQK, sizeof(BlockQ4_1), scalar::to_float_q4_1>(n, w, x);
}
float dot_a16_q4_k(int64_t n, const void* w, const float* x) {
    return a16_blocked<kQKK, sizeof(BlockQ4K), scalar::to_float_q4_k>(n, w, x);
}
float dot_a16_q6_k(int64_t n, const void* w, const float* x) {
    return a16_blocked<kQKK, sizeof(BlockQ6K), scalar::to_float_q6_k>(n, w, x);
}

// Bit-identical to quantize_q8_ref (fcvtns rounds ties to even like nearbyint).
void quantize_q8(const float* x, BlockQ8* y, int64_t n) {
    for (int64_t b = 0; b < n / kQ8Block; ++b) {
        float32x4_t v[8];
        float32x4_t amax = vdupq_n_f32(0.0f);
        for (int i = 0; i < 8; ++i) {
            v[i] = vld1q_f32(x + b * 32 + 4 * i);
            amax = vmaxq_f32(amax, vabsq_f32(v[i]));
        }
        const float d = vmaxvq_f32(amax) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int32x4_t q[8];
        for (int i = 0; i < 8; ++i) q[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], id));
        BlockQ8& out = y[b];
        out.d = d;
        out.sum[0] = (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
        out.sum[1] = (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
        for (int h = 0; h < 2; ++h) {
            const int16x8_t a = vcombine_s16(vqmovn_s32(q[4 * h]), vqmovn_s32(q[4 * h + 1]));
            const int16x8_t c = vcombine_s16(vqmovn_s32(q[4 * h + 2]), vqmovn_s32(q[4 * h + 3]));
            vst1q_s8(out.qs + 16 * h, vcombine_s8(vqmovn_s16(a), vqmovn_s16(c)));
        }
    }
}

#include "ggml_neon_a8.inc"

}  // namespace neon
}  // namespace qx
