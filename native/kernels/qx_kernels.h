// Dot-product kernels of the QuantX formats, one set per ISA, all with the
// signatures of the traits table (DotA16Fn / DotA8Fn). The *_ref set is the
// scalar reference every SIMD set is tested against (native/tests/test_qx.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "qx_format.h"
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

// Row-streaming A8 kernels used by matmul_rows (one token: gemv; many
// tokens: gemm), on BlockQ8 activations. The VNNI kernels multiply unsigned
// weight bytes u = T[c] + bias with the signed activations (vpdpbusd takes one
// unsigned operand): U types use the code itself (bias 4 / 8: no table
// lookup), C types T[c] + 128. Each block's int32 sum then gets
// -bias * (sum of the block's activations, BlockQ8.sum), which removes the
// bias exactly (integers).
inline int32_t qx_a8_bias(const QxFormat& f) { return f.row_codebook ? 128 : f.table_size / 2; }
// gemv: rows consecutive weight rows (row_bytes apart) against one token, y[r].
using QxGemvA8Fn = void (*)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x, float* y);
// gemm: rows weight rows against nt tokens (nt % 4 == 0; token t is x + t * ldx),
// y[t * ldy + r]. One call per row tile: the VNNI kernel decodes each row
// once for all nt tokens.
using QxGemmA8Fn = void (*)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
                            int64_t ldx, int64_t nt, float* y, int64_t ldy);
// nullptr for non-QuantX ids and for ISAs without row kernels (NEON: matmul_rows
// then calls the traits' dot per token).
QxGemvA8Fn qx_select_gemv_a8(uint32_t type_id, Isa isa);
QxGemmA8Fn qx_select_gemm_a8(uint32_t type_id, Isa isa);

#define QX_DECLARE_ROW_KERNELS(isa)                                                                                    \
    void qx3_u_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           float* y);                                                            \
    void qx3_c_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           float* y);                                                            \
    void qx4_u_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           float* y);                                                            \
    void qx4_c_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           float* y);                                                            \
    void qx3_u_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, float* y, int64_t ldy); \
    void qx3_c_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, float* y, int64_t ldy); \
    void qx4_u_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, float* y, int64_t ldy); \
    void qx4_c_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, float* y, int64_t ldy);

QX_DECLARE_ROW_KERNELS(ref)
#if defined(QX_ARCH_X86)
QX_DECLARE_ROW_KERNELS(avx2)
QX_DECLARE_ROW_KERNELS(avx512vnni)
#endif

// Reference dequantizers (ToFloatFn), one per type.
void qx3_u_to_float(const void* w, float* y, int64_t n);
void qx3_c_to_float(const void* w, float* y, int64_t n);
void qx4_u_to_float(const void* w, float* y, int64_t n);
void qx4_c_to_float(const void* w, float* y, int64_t n);

}  // namespace qx
