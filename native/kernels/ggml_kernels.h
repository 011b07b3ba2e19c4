// Declarations of the per-ISA kernels for ggml's standard types. Each ISA's
// functions live in their own namespace and file (the *_avx2 / *_avx512 /
// *_neon / *_neondot files get their ISA's compiler flags); types.cpp puts
// them into the traits table. Every SIMD function has the signature and the
// meaning of the scalar reference of the same name.
#pragma once

#include <cstdint>

#include "types.h"

#define QX_DECLARE_DOT_A16(T) float dot_a16_##T(int64_t n, const void* w, const float* x);
#define QX_DECLARE_DOT_A8(T) float dot_a8_##T(int64_t n, const void* w, const BlockQ8* x);
#define QX_DECLARE_QUANT_A8(X) X(q8_0) X(q4_0) X(q4_1) X(q4_k) X(q6_k)
#define QX_DECLARE_ALL(X) X(f32) X(f16) X(bf16) QX_DECLARE_QUANT_A8(X)

namespace qx {

// Several-token kernels (x86): one weight row against kGemmTokens activation
// rows x[0..kGemmTokens), with the activation scales precomputed:
// xd[t][k] = x[t][k].d, xsum[t][k] = x[t][k].d * (x[t][k].sum[0] + sum[1]).
// out[t] = dot_a8(n, w, x[t]) up to float summation order, and bit-identical
// to what the one-token kernel (gemv) returns for that token.
constexpr int kGemmTokens = 4;
using GemmA8Fn = void (*)(int64_t n, const void* w, const BlockQ8* const* x, const float* const* xd,
                          const float* const* xsum, float* out);
using GemvA8Fn = float (*)(int64_t n, const void* w, const BlockQ8* x, const float* xd, const float* xsum);
#define QX_DECLARE_GEMM(T)                                                                                     \
    void gemm_a8_##T(int64_t n, const void* w, const BlockQ8* const* x, const float* const* xd,                \
                     const float* const* xsum, float* out);                                                   \
    float gemv_a8_##T(int64_t n, const void* w, const BlockQ8* x, const float* xd, const float* xsum);

namespace scalar {
QX_DECLARE_ALL(QX_DECLARE_DOT_A16)
QX_DECLARE_ALL(QX_DECLARE_DOT_A8)
void to_float_f32(const void* w, float* y, int64_t n);
void to_float_f16(const void* w, float* y, int64_t n);
void to_float_bf16(const void* w, float* y, int64_t n);
void to_float_q8_0(const void* w, float* y, int64_t n);
void to_float_q4_0(const void* w, float* y, int64_t n);
void to_float_q4_1(const void* w, float* y, int64_t n);
void to_float_q4_k(const void* w, float* y, int64_t n);
void to_float_q6_k(const void* w, float* y, int64_t n);
}  // namespace scalar

#if defined(__x86_64__)
namespace avx2 {
QX_DECLARE_ALL(QX_DECLARE_DOT_A16)
QX_DECLARE_QUANT_A8(QX_DECLARE_DOT_A8)
void quantize_q8(const float* x, BlockQ8* y, int64_t n);
QX_DECLARE_GEMM(q8_0) QX_DECLARE_GEMM(q4_0) QX_DECLARE_GEMM(q4_1)
}  // namespace avx2
namespace avx512 {
QX_DECLARE_ALL(QX_DECLARE_DOT_A16)
QX_DECLARE_QUANT_A8(QX_DECLARE_DOT_A8)
void quantize_q8(const float* x, BlockQ8* y, int64_t n);
}  // namespace avx512
namespace avx512vnni {
QX_DECLARE_QUANT_A8(QX_DECLARE_DOT_A8)
QX_DECLARE_GEMM(q8_0) QX_DECLARE_GEMM(q4_0) QX_DECLARE_GEMM(q4_1)
}  // namespace avx512vnni
#endif

// The several-token kernel for a type and ISA, or nullptr (then matmul_rows
// calls the dot kernel per token).
GemmA8Fn select_gemm_a8(uint32_t type_id, Isa isa);
GemvA8Fn select_gemv_a8(uint32_t type_id, Isa isa);

#if defined(__aarch64__)
namespace neon {
QX_DECLARE_ALL(QX_DECLARE_DOT_A16)
QX_DECLARE_QUANT_A8(QX_DECLARE_DOT_A8)
void quantize_q8(const float* x, BlockQ8* y, int64_t n);
}  // namespace neon
namespace neondot {
QX_DECLARE_QUANT_A8(QX_DECLARE_DOT_A8)
}  // namespace neondot
#endif

}  // namespace qx
