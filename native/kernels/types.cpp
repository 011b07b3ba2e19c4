// The traits table of ggml's standard types: one row per format, holding the
// reference dequantizer and the kernels of every ISA this build has.
#include "types.h"

#include <cstring>

#include "ggml_blocks.h"
#include "ggml_kernels.h"
#include "qx_types.h"

namespace qx {

float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);  // inf / nan (payload kept)
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalise into a float exponent.
        int e = 113;
        while (!(mant & 0x400)) {
            mant <<= 1;
            --e;
        }
        bits = sign | ((uint32_t)e << 23) | ((mant & 0x3FF) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t fp32_to_fp16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return (uint16_t)(sign | 0x7E00);  // nan -> quiet nan
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); // rounds to >= 65520: inf
    if (ax < 0x38800000u) {
        // Result is subnormal (or zero): value / 2^-24, round half to even.
        if (ax < 0x33000000u) return sign;  // < 2^-25: rounds to zero
        const uint32_t e = ax >> 23;
        const uint32_t m = (ax & 0x7FFFFF) | 0x800000;
        const uint32_t shift = 126 - e;  // (e - 127) + 24 - 23 below 0
        uint32_t q = m >> (shift + 0);
        const uint32_t rem = m & ((1u << shift) - 1);
        const uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) ++q;
        return (uint16_t)(sign | q);
    }
    // Normal: rebias exponent, round mantissa 23 -> 10 bits half to even.
    uint32_t v = ax - (112u << 23);
    const uint32_t rem = v & 0x1FFF;
    v >>= 13;
    if (rem > 0x1000 || (rem == 0x1000 && (v & 1))) ++v;
    return (uint16_t)(sign | v);
}

float bf16_to_fp32(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

namespace {

TypeTraits make(const char* name, uint32_t id, int32_t bs, int32_t ts, ToFloatFn tf, ActMode act,
                DotA16Fn a16_scalar, DotA8Fn a8_scalar) {
    TypeTraits t{};
    t.name = name;
    t.id = id;
    t.block_size = bs;
    t.type_size = ts;
    t.to_float = tf;
    t.default_act = act;
    t.row_size_fn = nullptr;
    t.dot_a16[kIsaScalar] = a16_scalar;
    t.dot_a8[kIsaScalar] = a8_scalar;
    return t;
}

// Fill the SIMD columns of one row; T names the per-ISA function suffix.
#define QX_SET_A16(t, T)                                                   \
    do {                                                                   \
        QX_IF_X86(t.dot_a16[kIsaAvx2] = avx2::dot_a16_##T;                   \
                  t.dot_a16[kIsaAvx512] = avx512::dot_a16_##T;)              \
        QX_IF_ARM(t.dot_a16[kIsaNeon] = neon::dot_a16_##T;)                  \
    } while (0)
#define QX_SET_A8(t, T)                                                    \
    do {                                                                   \
        QX_IF_X86(t.dot_a8[kIsaAvx2] = avx2::dot_a8_##T;                     \
                  t.dot_a8[kIsaAvx512] = avx512::dot_a8_##T;                 \
                  t.dot_a8[kIsaAvx512Vnni] = avx512vnni::dot_a8_##T;)              \
        QX_IF_ARM(t.dot_a8[kIsaNeon] = neon::dot_a8_##T;                     \
                  t.dot_a8[kIsaNeonDot] = neondot::dot_a8_##T;)              \
    } while (0)
#if defined(__x86_64__)
#define QX_IF_X86(...) __VA_ARGS__
#else
#define QX_IF_X86(...)
#endif
#if defined(__aarch64__)
#define QX_IF_ARM(...) __VA_ARGS__
#else
#define QX_IF_ARM(...)
#endif

struct Table {
    TypeTraits f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q6_k;
    Table() {
        using namespace scalar;
        f32 = make("F32", GGML_F32, 1, 4, to_float_f32, ActMode::A16, dot_a16_f32, dot_a8_f32);
        f16 = make("F16", GGML_F16, 1, 2, to_float_f16, ActMode::A16, dot_a16_f16, dot_a8_f16);
        bf16 = make("BF16", GGML_BF16, 1, 2, to_float_bf16, ActMode::A16, dot_a16_bf16, dot_a8_bf16);
        q8_0 = make("Q8_0", GGML_Q8_0, kQK, sizeof(BlockQ8_0), to_float_q8_0, ActMode::A8, dot_a16_q8_0,
                    dot_a8_q8_0);
        q4_0 = make("Q4_0", GGML_Q4_0, kQK, sizeof(BlockQ4_0), to_float_q4_0, ActMode::A8, dot_a16_q4_0,
                    dot_a8_q4_0);
        q4_1 = make("Q4_1", GGML_Q4_1, kQK, sizeof(BlockQ4_1), to_float_q4_1, ActMode::A8, dot_a16_q4_1,
                    dot_a8_q4_1);
        q4_k = make("Q4_K", GGML_Q4_K, kQKK, sizeof(BlockQ4K), to_float_q4_k, ActMode::A8, dot_a16_q4_k,
                    dot_a8_q4_k);
        q6_k = make("Q6_K", GGML_Q6_K, kQKK, sizeof(BlockQ6K), to_float_q6_k, ActMode::A8, dot_a16_q6_k,
                    dot_a8_q6_k);
        QX_SET_A16(f32, f32);
        QX_SET_A16(f16, f16);
        QX_SET_A16(bf16, bf16);
        QX_SET_A16(q8_0, q8_0);
        QX_SET_A16(q4_0, q4_0);
        QX_SET_A16(q4_1, q4_1);
        QX_SET_A16(q4_k, q4_k);
        QX_SET_A16(q6_k, q6_k);
        QX_SET_A8(q8_0, q8_0);
        QX_SET_A8(q4_0, q4_0);
        QX_SET_A8(q4_1, q4_1);
        QX_SET_A8(q4_k, q4_k);
        QX_SET_A8(q6_k, q6_k);
    }
};

const Table& table() {
    static const Table t;
    return t;
}

}  // namespace

const TypeTraits* type_traits(uint32_t type_id) {
    const Table& t = table();
    switch (type_id) {
        case GGML_F32: return &t.f32;
        case GGML_F16: return &t.f16;
        case GGML_BF16: return &t.bf16;
        case GGML_Q8_0: return &t.q8_0;
        case GGML_Q4_0: return &t.q4_0;
        case GGML_Q4_1: return &t.q4_1;
        case GGML_Q4_K: return &t.q4_k;
        case GGML_Q6_K: return &t.q6_k;
        default: return qx_type_traits(type_id);
    }
}

DotA16Fn select_dot_a16(const TypeTraits& t, Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        if (cur >= 0 && cur < kIsaCount && t.dot_a16[cur]) return t.dot_a16[cur];
        if (cur == kIsaScalar) return t.dot_a16[kIsaScalar];
    }
}

DotA8Fn select_dot_a8(const TypeTraits& t, Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        if (cur >= 0 && cur < kIsaCount && t.dot_a8[cur]) return t.dot_a8[cur];
        if (cur == kIsaScalar) return t.dot_a8[kIsaScalar];
    }
}

QuantizeQ8Fn select_quantize_q8(Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        switch (cur) {
#if defined(__x86_64__)
            case kIsaAvx512Vnni:
            case kIsaAvx512: return avx512::quantize_q8;
            case kIsaAvx2: return avx2::quantize_q8;
#endif
#if defined(__aarch64__)
            case kIsaNeonDot:
            case kIsaNeon: return neon::quantize_q8;
#endif
            case kIsaScalar: return quantize_q8_ref;
            default: break;
        }
    }
}

namespace {

struct RowKernelsA8 {
    GemvA8Fn gemv = nullptr;
    GemmA8Fn gemm = nullptr;
};

RowKernelsA8 row_kernels_a8(uint32_t type_id, Isa isa) {
#if defined(__x86_64__)
    // Plain AVX-512 has no kernels of its own here; the AVX2 ones are the best it can do.
    const bool vnni = isa == kIsaAvx512Vnni;
    const bool avx2 = isa == kIsaAvx2 || isa == kIsaAvx512;
    if (!vnni && !avx2) return {};
#define QX_ROWS(suffix)                                                                         \
    (vnni ? RowKernelsA8{avx512vnni::gemv_a8_##suffix, avx512vnni::gemm_a8_##suffix}             \
          : RowKernelsA8{avx2::gemv_a8_##suffix, avx2::gemm_a8_##suffix})
    switch (type_id) {
        case GGML_Q8_0: return QX_ROWS(q8_0);
        case GGML_Q4_0: return QX_ROWS(q4_0);
        case GGML_Q4_1: return QX_ROWS(q4_1);
        default: return {};
    }
#undef QX_ROWS
#else
    (void)type_id;
    (void)isa;
    return {};
#endif
}

}  // namespace

GemmA8Fn select_gemm_a8(uint32_t type_id, Isa isa) { return row_kernels_a8(type_id, isa).gemm; }
GemvA8Fn select_gemv_a8(uint32_t type_id, Isa isa) { return row_kernels_a8(type_id, isa).gemv; }

}  // namespace qx
