// Dot-product kernels of the QuantX formats, one set per ISA, all with the
// signatures of the traits table (DotA16Fn / DotA8Fn). The *_ref set is the
// scalar reference every SIMD set is tested against (native/tests/test_qx.cpp).
#pragma once

#include <cstdint>

#include "types.h"

#define QX_DECLARE_DOTS(isa)                                                        \
    float qx3_u_dot_a16_##isa(int64_t n, const void* w, const float* x);            \
    float qx3_c_dot_a16_##isa(int64_t n, const void* w, const float* x);            \
    float qx4_u_dot_a16_##isa(int64_t n, const void* w, const float* x);            \
    float qx4_c_dot_a16_##isa(int64_t n, const void* w, const float* x);            \
    float qx3_u_dot_a8_##isa(int64_t n, const void* w, const BlockQ8* x);           \
    float qx3_c_dot_a8_##isa(int64_t n, const void* w, const BlockQ8* x);           \
    float qx4_u_dot_a8_##isa(int64_t n, const void* w, const BlockQ8* x);           \
    float qx4_c_dot_a8_##isa(int64_t n, const void* w, const BlockQ8* x);

namespace qx {

QX_DECLARE_DOTS(ref)
#if defined(QX_ARCH_X86)
QX_DECLARE_DOTS(avx2)
QX_DECLARE_DOTS(avx512)
// VNNI only changes the integer path; A16 uses the avx512 kernels.
float qx3_u_dot_a8_avx512vnni(int64_t n, const void* w, const BlockQ8* x);
float qx3_c_dot_a8_avx512vnni(int64_t n, const void* w, const BlockQ8* x);
float qx4_u_dot_a8_avx512vnni(int64_t n, const void* w, const BlockQ8* x);
float qx4_c_dot_a8_avx512vnni(int64_t n, const void* w, const BlockQ8* x);
#endif
#if defined(QX_ARCH_ARM)
QX_DECLARE_DOTS(neon)
// dotprod only changes the integer path; A16 uses the neon kernels.
float qx3_u_dot_a8_neondot(int64_t n, const void* w, const BlockQ8* x);
float qx3_c_dot_a8_neondot(int64_t n, const void* w, const BlockQ8* x);
float qx4_u_dot_a8_neondot(int64_t n, const void* w, const BlockQ8* x);
float qx4_c_dot_a8_neondot(int64_t n, const void* w, const BlockQ8* x);
#endif

// Several-token A8 kernels (GemmA8Fn of ggml_kernels.h, x86): each weight
// sub-block is decoded once for kGemmTokens (4) activation rows;
// out[t] = dot_a8(n, w, x[t]). xsum is unused (QuantX has no zero-points).
// nullptr for types/ISAs without one.
using QxGemmA8Fn = void (*)(int64_t n, const void* w, const BlockQ8* const* x, const float* const* xsum, float* out);
QxGemmA8Fn qx_select_gemm_a8(uint32_t type_id, Isa isa);

// Reference dequantizers (ToFloatFn), one per type.
void qx3_u_to_float(const void* w, float* y, int64_t n);
void qx3_c_to_float(const void* w, float* y, int64_t n);
void qx4_u_to_float(const void* w, float* y, int64_t n);
void qx4_c_to_float(const void* w, float* y, int64_t n);

}  // namespace qx
