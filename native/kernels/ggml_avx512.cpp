// AVX-512 (F/BW/VL/DQ) kernels for ggml's standard types, and the variants
// using AVX512_VNNI's vpdpbusd for the 8-bit products. The file is built
// with the VNNI flag, so only the functions of namespace avx512vnni may use
// those instructions (kVnni == true); the avx512 namespace serves CPUs
// without VNNI. Each kernel matches its scalar reference in ggml_ref.cpp up
// to float summation order.
// GCC 12 warns about its own _mm512_undefined_* helpers inside the intrinsic
// headers (a known false positive); the warnings say nothing about this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "ggml_blocks.h"
#include "ggml_kernels.h"

namespace qx {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

// u8 x s8 products summed over 4 adjacent bytes per int32 lane.
template <bool kVnni>
inline __m512i dot_u8s8(__m512i u, __m512i s) {
    if constexpr (kVnni) return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
    else return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}
template <bool kVnni>
inline __m256i dot_u8s8(__m256i u, __m256i s) {
    if constexpr (kVnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
    else return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

inline __m256i unpack_q4(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}
inline __m256i load_q8(const BlockQ8& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
inline __m512 join_scale(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}
inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Q8_0 weights are signed: multiply |w| (unsigned) by x with w's sign.
template <bool kVnni>
inline __m512i dot_s8s8(__m512i w, __m512i x) {
    const __mmask64 neg = _mm512_movepi8_mask(w);
    return dot_u8s8<kVnni>(_mm512_abs_epi8(w), _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x));
}
template <bool kVnni>
inline __m256i dot_s8s8(__m256i w, __m256i x) {
    return dot_u8s8<kVnni>(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

template <bool kVnni>
float a8_q8_0(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
    const int64_t nb = n / kQK;
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 2 <= nb; k += 2) {
        const __m512i q = join(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qs)),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k + 1].qs)));
        const __m512i p = dot_s8s8<kVnni>(q, join(load_q8(x[k]), load_q8(x[k + 1])));
        acc = _mm512_fmadd_ps(join_scale(half(b[k].d) * x[k].d, half(b[k + 1].d) * x[k + 1].d),
                              _mm512_cvtepi32_ps(p), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (k < nb) {
        const __m256i p = dot_s8s8<kVnni>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qs)), load_q8(x[k]));
        s += half(b[k].d) * x[k].d * hsum256(_mm256_cvtepi32_ps(p));
    }
    return s;
}

// Q4_0 (offset -8*d) and Q4_1 (offset +m) multiply the unsigned codes and add
// the offset times the activation block sum.
template <bool kVnni, typename Block, bool kHasMin>
float a8_q4(int64_t n, const Block* b, const BlockQ8* x) {
    const int64_t nb = n / kQK;
    __m512 acc = _mm512_setzero_ps();
    float off = 0.0f;
    auto offset = [&](int64_t j) {
        float d;
        if constexpr (kHasMin) d = half(b[j].m); else d = -8.0f * half(b[j].d);
        return d * x[j].d * (float)(x[j].sum[0] + x[j].sum[1]);
    };
    int64_t k = 0;
    for (; k + 2 <= nb; k += 2) {
        const __m512i p = dot_u8s8<kVnni>(join(unpack_q4(b[k].qs), unpack_q4(b[k + 1].qs)),
                                          join(load_q8(x[k]), load_q8(x[k + 1])));
        acc = _mm512_fmadd_ps(join_scale(half(b[k].d) * x[k].d, half(b[k + 1].d) * x[k + 1].d),
                              _mm512_cvtepi32_ps(p), acc);
        off += offset(k) + offset(k + 1);
    }
    float s = _mm512_reduce_add_ps(acc) + off;
    if (k < nb) {
        const __m256i p = dot_u8s8<kVnni>(unpack_q4(b[k].qs), load_q8(x[k]));
        s += half(b[k].d) * x[k].d * hsum256(_mm256_cvtepi32_ps(p)) + offset(k);
    }
    return s;
}

template <bool kVnni>
float a8_q4_k(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ4K* b = static_cast<const BlockQ4K*>(w);
    __m512 acc = _mm512_setzero_ps();
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
            const __m512i wq = join(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            const __m512i p = dot_u8s8<kVnni>(wq, join(load_q8(xs[2 * c]), load_q8(xs[2 * c + 1])));
            acc = _mm512_fmadd_ps(join_scale(d * (float)sc0 * xs[2 * c].d, d * (float)sc1 * xs[2 * c + 1].d),
                                  _mm512_cvtepi32_ps(p), acc);
            off -= dmin * (xs[2 * c].d * (float)(m0 * (xs[2 * c].sum[0] + xs[2 * c].sum[1])) +
                           xs[2 * c + 1].d * (float)(m1 * (xs[2 * c + 1].sum[0] + xs[2 * c + 1].sum[1])));
        }
    }
    return _mm512_reduce_add_ps(acc) + off;
}

template <bool kVnni>
float a8_q6_k(int64_t n, const void* w, const BlockQ8* x) {
    const BlockQ6K* b = static_cast<const BlockQ6K*>(w);
    __m512 acc = _mm512_setzero_ps();
    float off = 0.0f;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    for (int64_t k = 0; k < n / kQKK; ++k) {
        const float d = half(b[k].d);
        const BlockQ8* xs = x + k * 8;
        const int8_t* sc = b[k].scales;
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[k].qh + 32 * h));
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
            const __m256i qq[4] = {q0, q1, q2, q3};
            for (int s = 0; s < 4; s += 2) {
                const int j = 4 * h + s;  // sub-blocks j and j+1, 16-groups 2j..2j+3
                const __m512i p = dot_u8s8<kVnni>(join(qq[s], qq[s + 1]), join(load_q8(xs[j]), load_q8(xs[j + 1])));
                const float e0 = d * xs[j].d, e1 = d * xs[j + 1].d;
                // int32 lanes 0-3 cover elements 0-15 of sub-block j, 4-7 its 16-31, etc.
                const __m512 scale = _mm512_setr_ps(
                    e0 * sc[2 * j], e0 * sc[2 * j], e0 * sc[2 * j], e0 * sc[2 * j], e0 * sc[2 * j + 1],
                    e0 * sc[2 * j + 1], e0 * sc[2 * j + 1], e0 * sc[2 * j + 1], e1 * sc[2 * j + 2],
                    e1 * sc[2 * j + 2], e1 * sc[2 * j + 2], e1 * sc[2 * j + 2], e1 * sc[2 * j + 3],
                    e1 * sc[2 * j + 3], e1 * sc[2 * j + 3], e1 * sc[2 * j + 3]);
                acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(p), acc);
                off -= e0 * (float)(32 * (sc[2 * j] * xs[j].sum[0] + sc[2 * j + 1] * xs[j].sum[1])) +
                       e1 * (float)(32 * (sc[2 * j + 2] * xs[j + 1].sum[0] + sc[2 * j + 3] * xs[j + 1].sum[1]));
            }
        }
    }
    return _mm512_reduce_add_ps(acc) + off;
}

// The horizontal sum of 16 floats in a fixed addition tree (GCC's
// _mm512_reduce_add_ps: halves, quarters, then pairs), written out so that
// sum16_rows below can reproduce it exactly whatever the compiler.
inline float sum16(__m512 v) {
    const __m256 t3 = _mm256_add_ps(_mm512_extractf32x8_ps(v, 1), _mm512_castps512_ps256(v));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(_mm_add_ss(t8, _mm_shuffle_ps(t8, t8, _MM_SHUFFLE(1, 1, 1, 1))));
}

// sum16(v[j]) for 16 vectors at once, the same additions of the same lanes
// (float addition commutes exactly, so only the tree matters): out[j].
inline __m512 sum16_rows(const __m512 v[16]) {
    __m512 t3[8], t6[4], t8[2];
    for (int p = 0; p < 8; ++p)  // rows 2p, 2p+1: their lanes k and k+8 -> 8 lanes each
        t3[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)),
                              _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)));
    for (int q = 0; q < 4; ++q)  // rows 4q..4q+3: lanes k and k+4 -> 4 lanes each
        t6[q] = _mm512_add_ps(_mm512_shuffle_f32x4(t3[2 * q], t3[2 * q + 1], _MM_SHUFFLE(3, 1, 3, 1)),
                              _mm512_shuffle_f32x4(t3[2 * q], t3[2 * q + 1], _MM_SHUFFLE(2, 0, 2, 0)));
    for (int s = 0; s < 2; ++s) {  // lanes m and m+2 -> 2 lanes each (rows 8s+l, 8s+4+l in 128-bit lane l)
        const __m512d g = _mm512_castps_pd(t6[2 * s]), h = _mm512_castps_pd(t6[2 * s + 1]);
        t8[s] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(g, h)), _mm512_castpd_ps(_mm512_unpackhi_pd(g, h)));
    }
    // the last pair: element 4l+e of r is row 4e+l
    const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(t8[0], t8[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(t8[0], t8[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i rows = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(rows, r);
}

// The vector part of a float dot over the first n - n % 16 elements, with
// loader ld(i) giving 16 floats at i: the 16 partial sums to reduce.
template <typename Load>
inline __m512 float_dot_lanes(int64_t n, const float* x, Load ld) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(ld(i), _mm512_loadu_ps(x + i), s0);
        s1 = _mm512_fmadd_ps(ld(i + 16), _mm512_loadu_ps(x + i + 16), s1);
    }
    if (i + 16 <= n) s0 = _mm512_fmadd_ps(ld(i), _mm512_loadu_ps(x + i), s0);
    return _mm512_add_ps(s0, s1);
}

// Float dot over n elements with loader ld(i) giving 16 floats at i.
template <typename Load, typename Tail>
float float_dot(int64_t n, const float* x, Load ld, Tail tail) {
    float s = sum16(float_dot_lanes(n, x, ld));
    for (int64_t i = n - n % 16; i < n; ++i) s += tail(i) * x[i];
    return s;
}

}  // namespace

namespace avx512 {

float dot_a16_f32(int64_t n, const void* w, const float* x) {
    const float* a = static_cast<const float*>(w);
    return float_dot(n, x, [a](int64_t i) { return _mm512_loadu_ps(a + i); }, [a](int64_t i) { return a[i]; });
}

float dot_a16_f16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    return float_dot(
        n, x, [a](int64_t i) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i))); },
        [a](int64_t i) { return half(a[i]); });
}
// dot_rows.h: 16 rows' partial sums reduced together; rows beyond the last
// 16, and row lengths with a scalar tail, through the single dot itself.
inline __m512 load16(const float* a, int64_t i) { return _mm512_loadu_ps(a + i); }
inline __m512 load16(const uint16_t* a, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
}
template <typename T>
void dot_rows(int64_t n, int64_t count, const T* w, int64_t ldw, const float* x, float* out, DotA16Fn single) {
    int64_t j = 0;
    if (n % 16 == 0) {
        for (; j + 16 <= count; j += 16) {
            __m512 v[16];
            for (int r = 0; r < 16; ++r) {
                const T* a = w + (j + r) * ldw;
                v[r] = float_dot_lanes(n, x, [a](int64_t i) { return load16(a, i); });
            }
            _mm512_storeu_ps(out + j, sum16_rows(v));
        }
    }
    for (; j < count; ++j) out[j] = single(n, w + j * ldw, x);
}
void dot_rows_f32(int64_t n, int64_t count, const float* w, int64_t ldw, const float* x, float* out) {
    dot_rows(n, count, w, ldw, x, out, dot_a16_f32);
}
void dot_rows_f16(int64_t n, int64_t count, const uint16_t* w, int64_t ldw, const float* x, float* out) {
    dot_rows(n, count, w, ldw, x, out, dot_a16_f16);
}
float dot_a16_bf16(int64_t n, const void* w, const float* x) {
    const uint16_t* a = static_cast<const uint16_t*>(w);
    return float_dot(
        n, x,
        [a](int64_t i) {
            const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
            return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        },
        [a](int64_t i) { return bf16_to_fp32(a[i]); });
}

float dot_a16_q8_0(int64_t n, const void* w, const float* x) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(w);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < n / kQK; ++k) {
        const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs));
        const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs + 16));
        __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), _mm512_loadu_ps(x + 32 * k));
        blk = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), _mm512_loadu_ps(x + 32 * k + 16), blk);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(half(b[k].d)), blk, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

namespace {
template <typename Block, bool kHasMin>
float a16_q4(int64_t n, const Block* b, const float* x) {
    __m512 acc = _mm512_setzero_ps(), acc_off = _mm512_setzero_ps();
    for (int64_t k = 0; k < n / kQK; ++k) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].qs));
        const __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
        const __m512 x0 = _mm512_loadu_ps(x + 32 * k), x1 = _mm512_loadu_ps(x + 32 * k + 16);
        __m512 s = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), x0);
        s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), x1, s);
        const float d = half(b[k].d);
        float off;
        if constexpr (kHasMin) off = half(b[k].m); else off = -8.0f * d;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), s, acc);
        acc_off = _mm512_fmadd_ps(_mm512_set1_ps(off), _mm512_add_ps(x0, x1), acc_off);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc, acc_off));
}
template <int kBytes, ToFloatFn kToFloat>
float a16_k(int64_t n, const uint8_t* b, const float* x) {
    alignas(64) float buf[kQKK];
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < n / kQKK; ++k) {
        kToFloat(b + k * kBytes, buf, kQKK);
        for (int i = 0; i < kQKK; i += 16)
            acc = _mm512_fmadd_ps(_mm512_load_ps(buf + i), _mm512_loadu_ps(x + k * kQKK + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}
}  // namespace

float dot_a16_q4_0(int64_t n, const void* w, const float* x) {
    return a16_q4<BlockQ4_0, false>(n, static_cast<const BlockQ4_0*>(w), x);
}
float dot_a16_q4_1(int64_t n, const void* w, const float* x) {
    return a16_q4<BlockQ4_1, true>(n, static_cast<const BlockQ4_1*>(w), x);
}
float dot_a16_q4_k(int64_t n, const void* w, const float* x) {
    return a16_k<sizeof(BlockQ4K), scalar::to_float_q4_k>(n, static_cast<const uint8_t*>(w), x);
}
float dot_a16_q6_k(int64_t n, const void* w, const float* x) {
    return a16_k<sizeof(BlockQ6K), scalar::to_float_q6_k>(n, static_cast<const uint8_t*>(w), x);
}

float dot_a8_q8_0(int64_t n, const void* w, const BlockQ8* x) { return a8_q8_0<false>(n, w, x); }
float dot_a8_q4_0(int64_t n, const void* w, const BlockQ8* x) {
    return a8_q4<false, BlockQ4_0, false>(n, static_cast<const BlockQ4_0*>(w), x);
}
float dot_a8_q4_1(int64_t n, const void* w, const BlockQ8* x) {
    return a8_q4<false, BlockQ4_1, true>(n, static_cast<const BlockQ4_1*>(w), x);
}
float dot_a8_q4_k(int64_t n, const void* w, const BlockQ8* x) { return a8_q4_k<false>(n, w, x); }
float dot_a8_q6_k(int64_t n, const void* w, const BlockQ8* x) { return a8_q6_k<false>(n, w, x); }

// Bit-identical to quantize_q8_ref: same amax, same d and 1/d, same
// products, and cvtps2dq rounds ties to even like nearbyint.
void quantize_q8(const float* x, BlockQ8* y, int64_t n) {
    for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
        const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
        BlockQ8& out = y[b];
        out.d = d;
        out.sum[0] = (int16_t)_mm512_reduce_add_epi32(q0);
        out.sum[1] = (int16_t)_mm512_reduce_add_epi32(q1);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out.qs), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out.qs + 16), _mm512_cvtsepi32_epi8(q1));
    }
}

}  // namespace avx512

namespace avx512vnni {
float dot_a8_q8_0(int64_t n, const void* w, const BlockQ8* x) { return a8_q8_0<true>(n, w, x); }
float dot_a8_q4_0(int64_t n, const void* w, const BlockQ8* x) {
    return a8_q4<true, BlockQ4_0, false>(n, static_cast<const BlockQ4_0*>(w), x);
}
float dot_a8_q4_1(int64_t n, const void* w, const BlockQ8* x) {
    return a8_q4<true, BlockQ4_1, true>(n, static_cast<const BlockQ4_1*>(w), x);
}
float dot_a8_q4_k(int64_t n, const void* w, const BlockQ8* x) { return a8_q4_k<true>(n, w, x); }
float dot_a8_q6_k(int64_t n, const void* w, const BlockQ8* x) { return a8_q6_k<true>(n, w, x); }

namespace {
inline __m256i dot_u8s8(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
}  // namespace
#include "ggml_x86_gemm.inc"
}  // namespace avx512vnni

}  // namespace qx
