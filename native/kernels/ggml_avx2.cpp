// AVX2 + FMA + F16C kernels for ggml's standard types (compiled with those
// flags only; called only when cpu_features() reports them). Each matches
// the scalar reference in ggml_ref.cpp up to float summation order.
#include <immintrin.h>

#include <cstring>

#include <cmath>

#include "ggml_blocks.h"
#include "ggml_kernels.h"

namespace qx {
namespace avx2 {
namespace {

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float half(uint16_t h) { return _cvtsh_ss(h); }

// Sums of u8*s8 products, 4 adjacent bytes per int32 lane. No saturation:
// weights are at most 128 (|Q8_0|) and activations at most 127 in magnitude.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// 32 4-bit codes of a Q4_0/Q4_1 block as bytes in element order.
inline __m256i unpack_q4(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

inline __m256i load_q8(const BlockQ8& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }

// Float dot of one block of 32 weights already in float.
inline __m256 fma32(const float* w, const float* x, __m256 acc) {
    for (int i = 0; i < 32; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
    return acc;
}

}  // namespace

// ---- float activations ---------------------------------------------------

float dot_a16_f32(int64_t n, const void* w, const float* x) {
    const float* a = static_cast<const float*>(w);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; ++i) s += a[i] * x[i];
    return s;
}

float dot_a16_f16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    auto ld = [a](int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i))); };
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(ld(i + 8), _mm256_loadu_ps(x + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(x + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += half(a[i]) * x[i];
    return s;
}

float dot_a16_bf16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    auto ld = [a](int64_t i) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    };
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(ld(i + 8), _mm256_loadu_ps(x + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(x + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) s += bf16_to_fp32(a[i]) * x[i];
    return s;
}

float dot_a16_q8_0(int64_t n, const void* w, const float* x) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / kQK; ++k) {
        __m256 blk = _mm256_setzero_ps();
        for (int i = 0; i < 32; i += 8) {
            const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[k].qs + i));
            blk = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), _mm256_loadu_ps(x + k * 32 + i), blk);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half(b[k].d)), blk, acc);
    }
    return hsum(acc);
}

namespace {
// Q4_0 / Q4_1 with float activations: sum(q*x) and sum(x) per block, then
// d * sum(q*x) + offset * sum(x).
template <typename Block, bool kHasMin>
float dot_a16_q4(int64_t n, const Block* b, const float* x) {
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_off = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / kQK; ++k) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs));
        const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
        const float* xb = x + k * 32;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), x0);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), x1, s);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), x2, s);
        s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), x3, s);
        const __m256 sx = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
        const float d = half(b[k].d);
        float off;
        if constexpr (kHasMin) off = half(b[k].m); else off = -8.0f * d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), s, acc);
        acc_off = _mm256_fmadd_ps(_mm256_set1_ps(off), sx, acc_off);
    }
    return hsum(_mm256_add_ps(acc, acc_off));
}
}  // namespace

float dot_a16_q4_0(int64_t n, const void* w, const float* x) {
    return dot_a16_q4<BlockQ4_0, false>(n, static_cast<const BlockQ4_0*>(w), x);
}
float dot_a16_q4_1(int64_t n, const void* w, const float* x) {
    return dot_a16_q4<BlockQ4_1, true>(n, static_cast<const BlockQ4_1*>(w), x);
}

// The K formats dequantize a super-block with the reference code, then FMA.
float dot_a16_q4_k(int64_t n, const void* w, const float* x) {
    const BlockQ4K* b = static_cast<const BlockQ4K*>(w);
    alignas(32) float buf[kQKK];
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / kQKK; ++k) {
        scalar::to_float_q4_k(b + k, buf, kQKK);
        for (int i = 0; i < kQKK; i += 32) acc = fma32(buf + i, x + k * kQKK + i, acc);
    }
    return hsum(acc);
}
float dot_a16_q6_k(int64_t n, const void* w, const float* x) {
    const BlockQ6K* b = static_cast<const BlockQ6K*>(w);
    alignas(32) float buf[kQKK];
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n / kQKK; ++k) {
        scalar::to_float_q6_k(b + k, buf, kQKK);
        for (int i = 0; i < kQKK; i += 32) acc = fma32(buf + i, x + k * kQKK + i, acc);
    }
    return hsum(acc);
}

// ---- 8-bit activations ----------------------------------------------------

float dot_a8_q8_0(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    const int64_t nb = n / kQK;
    int64_t k = 0;
    auto block = [&](int64_t j) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[j].qs));
        const __m256i p = dot_u8s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(load_q8(x[j]), q));
        return _mm256_mul_ps(_mm256_set1_ps(half(b[j].d) * x[j].d), _mm256_cvtepi32_ps(p));
    };
    for (; k + 2 <= nb; k += 2) {
        acc0 = _mm256_add_ps(block(k), acc0);
        acc1 = _mm256_add_ps(block(k + 1), acc1);
    }
    for (; k < nb; ++k) acc0 = _mm256_add_ps(block(k), acc0);
    return hsum(_mm256_add_ps(acc0, acc1));
}

float dot_a8_q4_0(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4_0* b = static_cast<const BlockQ4_0*>(w);
    __m256 acc = _mm256_setzero_ps();
    float off = 0.0f;
    for (int64_t k = 0; k < n / kQK; ++k) {
        const float dd = half(b[k].d) * x[k].d;
        const __m256i p = dot_u8s8(unpack_q4(b[k].qs), load_q8(x[k]));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p), acc);
        off += dd * (float)(-8 * (x[k].sum[0] + x[k].sum[1]));
    }
    return hsum(acc) + off;
}

float dot_a8_q4_1(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4_1* b = static_cast<const BlockQ4_1*>(w);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    float off = 0.0f;
    const int64_t nb = n / kQK;
    int64_t k = 0;
    for (; k + 2 <= nb; k += 2) {
        const __m256i p0 = dot_u8s8(unpack_q4(b[k].qs), load_q8(x[k]));
        const __m256i p1 = dot_u8s8(unpack_q4(b[k + 1].qs), load_q8(x[k + 1]));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(b[k].d) * x[k].d), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(half(b[k + 1].d) * x[k + 1].d), _mm256_cvtepi32_ps(p1), acc1);
        off += half(b[k].m) * x[k].d * (float)(x[k].sum[0] + x[k].sum[1]) +
               half(b[k + 1].m) * x[k + 1].d * (float)(x[k + 1].sum[0] + x[k + 1].sum[1]);
    }
    for (; k < nb; ++k) {
        const __m256i p0 = dot_u8s8(unpack_q4(b[k].qs), load_q8(x[k]));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(half(b[k].d) * x[k].d), _mm256_cvtepi32_ps(p0), acc0);
        off += half(b[k].m) * x[k].d * (float)(x[k].sum[0] + x[k].sum[1]);
    }
    return hsum(_mm256_add_ps(acc0, acc1)) + off;
}

float dot_a8_q4_k(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4K* b = static_cast<const BlockQ4K*>(w);
    __m256 acc = _mm256_setzero_ps();
    float off = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = half(b[k].d), dmin = half(b[k].dmin);
        const BlockQ8* xs = x + k * 8;
        for (int c = 0; c < 4; ++c) {
            uint8_t sc0, m0, sc1, m1;
            q4k_scale_min(b[k].scales, 2 * c, &sc0, &m0);
            q4k_scale_min(b[k].scales, 2 * c + 1, &sc1, &m1);
            const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qs + 32 * c));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(q, m4), load_q8(xs[2 * c])),
                                                 _mm256_set1_epi16(sc0));
            const __m256i p1 = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), load_q8(xs[2 * c + 1])),
                _mm256_set1_epi16(sc1));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * xs[2 * c].d), _mm256_cvtepi32_ps(p0), acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * xs[2 * c + 1].d), _mm256_cvtepi32_ps(p1), acc);
            off -= dmin * (xs[2 * c].d * (float)(m0 * (xs[2 * c].sum[0] + xs[2 * c].sum[1])) +
                           xs[2 * c + 1].d * (float)(m1 * (xs[2 * c + 1].sum[0] + xs[2 * c + 1].sum[1])));
        }
    }
    return hsum(acc) + off;
}

float dot_a8_q6_k(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ6K* b = static_cast<const BlockQ6K*>(w);
    __m256 acc = _mm256_setzero_ps();
    float off = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = half(b[k].d);
        const BlockQ8* xs = x + k * 8;
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            for (int s = 0; s < 4; ++s) {
                const int j = 4 * h + s;
                const int s0 = b[k].scales[2 * j], s1 = b[k].scales[2 * j + 1];
                const __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[s], load_q8(xs[j])), sc);
                const float dd = d * xs[j].d;
                acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p), acc);
                off -= dd * (float)(32 * (s0 * xs[j].sum[0] + s1 * xs[j].sum[1]));
            }
        }
    }
    return hsum(acc) + off;
}

// ---- activation quantization (bit-identical to quantize_q8_ref) -------------

void quantize_q8(const float* x, BlockQ8* y, int64_t n) {
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const float* xb = x + b * kQ8Block;
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[i]));
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float d = _mm_cvtss_f32(m) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
        // Half sums: elements 0..15 are q[0], q[1]; 16..31 are q[2], q[3].
        const __m256i h0 = _mm256_add_epi32(q[0], q[1]), h1 = _mm256_add_epi32(q[2], q[3]);
        const __m128i a0 = _mm_add_epi32(_mm256_castsi256_si128(h0), _mm256_extracti128_si256(h0, 1));
        const __m128i a1 = _mm_add_epi32(_mm256_castsi256_si128(h1), _mm256_extracti128_si256(h1, 1));
        __m128i s = _mm_hadd_epi32(a0, a1);  // a0[0]+a0[1], a0[2]+a0[3], a1.., a1..
        s = _mm_hadd_epi32(s, s);
        // Pack 32 int32 -> 32 int8; packs interleave 128-bit lanes, the
        // permute restores element order.
        const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
        const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        BlockQ8& out = y[b];
        out.d = d;
        out.sum[0] = (int16_t)_mm_cvtsi128_si32(s);
        out.sum[1] = (int16_t)_mm_extract_epi32(s, 1);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.qs), p8);
    }
}

#include "ggml_x86_gemm.inc"

}  // namespace avx2
}  // namespace qx
