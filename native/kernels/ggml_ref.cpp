// Scalar reference kernels for ggml's standard types: the dequantizers are
// the definition of each format; the dot products are what every SIMD
// kernel is tested against (and the fallback on CPUs without SIMD).
#include <cmath>
#include <cstring>

#include "ggml_blocks.h"
#include "ggml_kernels.h"

namespace qx {

void quantize_q8_ref(const float* x, BlockQ8* y, int64_t n) {
    for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const float* xb = x + b * kQ8Block;
        float amax = 0.0f;
        for (int i = 0; i < kQ8Block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ8& out = y[b];
        out.d = d;
        int s0 = 0, s1 = 0;
        for (int i = 0; i < kQ8Block; ++i) {
            // Ties to even, as the SIMD conversions (cvtps2dq, fcvtns) round.
            const int q = (int)std::nearbyint(xb[i] * id);
            out.qs[i] = (int8_t)q;
            (i < 16 ? s0 : s1) += q;
        }
        out.sum[0] = (int16_t)s0;
        out.sum[1] = (int16_t)s1;
    }
}

namespace scalar {

// ---- dequantizers -------------------------------------------------------

void to_float_f32(const void* w, float* y, int64_t n) { std::memcpy(y, w, (size_t)n * sizeof(float)); }

void to_float_f16(const void* w, float* y, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(w);
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(h[i]);
}

void to_float_bf16(const void* w, float* y, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(w);
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(h[i]);
}

void to_float_q8_0(const void* w, float* y, int64_t n) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
    for (int64_t k = 0; k < n / kQK; ++k) {
        const float d = fp16_to_fp32(b[k].d);
        for (int i = 0; i < kQK; ++i) y[k * kQK + i] = d * (float)b[k].qs[i];
    }
}

void to_float_q4_0(const void* w, float* y, int64_t n) {
    const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
    for (int64_t k = 0; k < n / kQK; ++k) {
        const float d = fp16_to_fp32(b[k].d);
        for (int i = 0; i < 16; ++i) {
            y[k * kQK + i] = d * (float)((b[k].qs[i] & 0x0F) - 8);
            y[k * kQK + i + 16] = d * (float)((b[k].qs[i] >> 4) - 8);
        }
    }
}

void to_float_q4_1(const void* w, float* y, int64_t n) {
    const BlockQ4_1* b = static_cast<const BlockQ4_1*>(w);
    for (int64_t k = 0; k < n / kQK; ++k) {
        const float d = fp16_to_fp32(b[k].d), m = fp16_to_fp32(b[k].m);
        for (int i = 0; i < 16; ++i) {
            y[k * kQK + i] = d * (float)(b[k].qs[i] & 0x0F) + m;
            y[k * kQK + i + 16] = d * (float)(b[k].qs[i] >> 4) + m;
        }
    }
}

void to_float_q4_k(const void* w, float* y, int64_t n) {
    const BlockQ4K* b = static_cast<const BlockQ4K*>(w);
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = fp16_to_fp32(b[k].d), dmin = fp16_to_fp32(b[k].dmin);
        float* out = y + k * kQKK;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            q4k_scale_min(b[k].scales, j, &sc, &m);
            const float ds = d * (float)sc, dm = dmin * (float)m;
            const uint8_t* q = b[k].qs + 32 * (j / 2);
            const int shift = (j & 1) * 4;
            for (int i = 0; i < 32; ++i) out[32 * j + i] = ds * (float)((q[i] >> shift) & 0x0F) - dm;
        }
    }
}

void to_float_q6_k(const void* w, float* y, int64_t n) {
    const BlockQ6K* b = static_cast<const BlockQ6K*>(w);
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = fp16_to_fp32(b[k].d);
        for (int i = 0; i < kQKK; ++i)
            y[k * kQKK + i] = d * (float)b[k].scales[i / 16] * (float)(q6k_code(b[k], i) - 32);
    }
}

// ---- float activations: dequantize a block, then multiply-add -------------

float dot_a16_f32(int64_t n, const void* w, const float* x) {
    const float* a = static_cast<const float*>(w);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += a[i] * x[i];
    return s;
}

float dot_a16_f16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += fp16_to_fp32(a[i]) * x[i];
    return s;
}

float dot_a16_bf16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += bf16_to_fp32(a[i]) * x[i];
    return s;
}

namespace {
template <int kBlock, int kBytes, ToFloatFn kToFloat>
float dot_a16_blocked(int64_t n, const void* w, const float* x) {
    const uint8_t* p = static_cast<const uint8_t*>(w);
    float buf[kBlock];
    float s = 0.0f;
    for (int64_t k = 0; k < n / kBlock; ++k) {
        kToFloat(p + k * kBytes, buf, kBlock);
        for (int i = 0; i < kBlock; ++i) s += buf[i] * x[k * kBlock + i];
    }
    return s;
}
}  // namespace

float dot_a16_q8_0(int64_t n, const void* w, const float* x) {
    return dot_a16_blocked<kQK, sizeof(BlockQ8_0), to_float_q8_0>(n, w, x);
}
float dot_a16_q4_0(int64_t n, const void* w, const float* x) {
    return dot_a16_blocked<kQK, sizeof(BlockQ4_0), to_float_q4_0>(n, w, x);
}
float dot_a16_q4_1(int64_t n, const void* w, const float* x) {
    return dot_a16_blocked<kQK, sizeof(BlockQ4_1), to_float_q4_1>(n, w, x);
}
float dot_a16_q4_k(int64_t n, const void* w, const float* x) {
    return dot_a16_blocked<kQKK, sizeof(BlockQ4K), to_float_q4_k>(n, w, x);
}
float dot_a16_q6_k(int64_t n, const void* w, const float* x) {
    return dot_a16_blocked<kQKK, sizeof(BlockQ6K), to_float_q6_k>(n, w, x);
}

// ---- 8-bit activations: integer products per block, one float scale each --

namespace {
template <typename Load>
float dot_a8_float_weights(int64_t n, const BlockQ8* x, Load load) {
    float s = 0.0f;
    for (int64_t k = 0; k < n / kQ8Block; ++k) {
        float sb = 0.0f;
        for (int i = 0; i < kQ8Block; ++i) sb += load(k * kQ8Block + i) * (float)x[k].qs[i];
        s += x[k].d * sb;
    }
    return s;
}
}  // namespace

float dot_a8_f32(int64_t n, const void* w, const BlockQ8* x) {
    const float* a = static_cast<const float*>(w);
    return dot_a8_float_weights(n, x, [a](int64_t i) { return a[i]; });
}
float dot_a8_f16(int64_t n, const void* w, const BlockQ8* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    return dot_a8_float_weights(n, x, [a](int64_t i) { return fp16_to_fp32(a[i]); });
}
float dot_a8_bf16(int64_t n, const void* w, const BlockQ8* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    return dot_a8_float_weights(n, x, [a](int64_t i) { return bf16_to_fp32(a[i]); });
}

float dot_a8_q8_0(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
    float s = 0.0f;
    for (int64_t k = 0; k < n / kQK; ++k) {
        int32_t isum = 0;
        for (int i = 0; i < kQK; ++i) isum += (int32_t)b[k].qs[i] * x[k].qs[i];
        s += fp16_to_fp32(b[k].d) * x[k].d * (float)isum;
    }
    return s;
}

// Q4_0 and Q4_1 multiply the unsigned codes (0..15) and fold the offset
// (-8, or +m) in through the activation block sums.
float dot_a8_q4_0(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
    float s = 0.0f;
    for (int64_t k = 0; k < n / kQK; ++k) {
        int32_t isum = 0;
        for (int i = 0; i < 16; ++i)
            isum += (b[k].qs[i] & 0x0F) * x[k].qs[i] + (b[k].qs[i] >> 4) * x[k].qs[i + 16];
        isum -= 8 * (x[k].sum[0] + x[k].sum[1]);
        s += fp16_to_fp32(b[k].d) * x[k].d * (float)isum;
    }
    return s;
}

float dot_a8_q4_1(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4_1* b = static_cast<const BlockQ4_1*>(w);
    float s = 0.0f;
    for (int64_t k = 0; k < n / kQK; ++k) {
        int32_t isum = 0;
        for (int i = 0; i < 16; ++i)
            isum += (b[k].qs[i] & 0x0F) * x[k].qs[i] + (b[k].qs[i] >> 4) * x[k].qs[i + 16];
        s += fp16_to_fp32(b[k].d) * x[k].d * (float)isum +
             fp16_to_fp32(b[k].m) * x[k].d * (float)(x[k].sum[0] + x[k].sum[1]);
    }
    return s;
}

float dot_a8_q4_k(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4K* b = static_cast<const BlockQ4K*>(w);
    float s = 0.0f;
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = fp16_to_fp32(b[k].d), dmin = fp16_to_fp32(b[k].dmin);
        const BlockQ8* xs = x + k * 8;
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            q4k_scale_min(b[k].scales, j, &sc, &m);
            const uint8_t* q = b[k].qs + 32 * (j / 2);
            const int shift = (j & 1) * 4;
            int32_t isum = 0;
            for (int i = 0; i < 32; ++i) isum += ((q[i] >> shift) & 0x0F) * xs[j].qs[i];
            s += xs[j].d * (d * (float)(sc * isum) - dmin * (float)(m * (xs[j].sum[0] + xs[j].sum[1])));
        }
    }
    return s;
}

float dot_a8_q6_k(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ6K* b = static_cast<const BlockQ6K*>(w);
    float s = 0.0f;
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = fp16_to_fp32(b[k].d);
        const BlockQ8* xs = x + k * 8;
        for (int j = 0; j < 8; ++j) {
            int32_t isum = 0;
            for (int g = 0; g < 2; ++g) {
                int32_t part = 0;
                for (int i = 0; i < 16; ++i) part += q6k_code(b[k], 32 * j + 16 * g + i) * xs[j].qs[16 * g + i];
                isum += b[k].scales[2 * j + g] * (part - 32 * xs[j].sum[g]);
            }
            s += d * xs[j].d * (float)isum;
        }
    }
    return s;
}

}  // namespace scalar
}  // namespace qx
