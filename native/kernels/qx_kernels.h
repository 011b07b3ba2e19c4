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
// tokens: gemm). Both get the BlockQ8 activations and the same activations
// prepared once per matmul call for the VNNI kernels (QxActPair, per pair of
// 32-blocks b, b+1 of a token; other ISAs ignore it):
//  - q: [q_b 0..15 | q_b+1 0..15 | q_b 16..31 | q_b+1 16..31], so two
//    vpdpbusd leave in int32 lane l (< 4) the 8-product sum of block b over
//    bytes {4l..4l+3, 16+4l..16+4l+3} and in lane 4 + l the same for b + 1:
//    one int->float conversion and one fma then serve two blocks;
//  - corr: those lanes start at -bias * (sum of their 8 activations). The
//    kernels multiply unsigned weight bytes u = T[c] + bias (vpdpbusd takes
//    one unsigned operand) and the start value removes the bias exactly
//    (integers). U types use the code itself (bias 4 / 8: no table lookup),
//    C types T[c] + 128;
//  - d: [d_b x4 | d_b+1 x4].
// A missing b + 1 (odd block count) is all zeros.
struct QxActPair {
    int8_t q[64];
    int32_t corr[8];
    float d[8];
};
static_assert(sizeof(QxActPair) == 128, "QxActPair layout");
inline int64_t qx_act_pairs(int64_t n) { return (n / kQxSub + 1) / 2; }
inline int32_t qx_a8_bias(const QxFormat& f) { return f.row_codebook ? 128 : f.table_size / 2; }
// x: n / 32 blocks of one token -> qx_act_pairs(n) pairs.
inline void qx_prepare_act_pairs(const BlockQ8* x, int64_t n, int32_t bias, QxActPair* out) {
    const int64_t nb = n / kQxSub;
    for (int64_t p = 0; p < qx_act_pairs(n); ++p) {
        QxActPair& a = out[p];
        for (int h = 0; h < 2; ++h) {
            const int64_t b = 2 * p + h;
            for (int i = 0; i < 16; ++i) {
                a.q[16 * h + i] = b < nb ? x[b].qs[i] : 0;
                a.q[32 + 16 * h + i] = b < nb ? x[b].qs[16 + i] : 0;
            }
            for (int l = 0; l < 4; ++l) {
                int32_t s = 0;
                for (int k = 0; k < 4; ++k) s += b < nb ? x[b].qs[4 * l + k] + x[b].qs[16 + 4 * l + k] : 0;
                a.corr[4 * h + l] = -bias * s;
                a.d[4 * h + l] = b < nb ? x[b].d : 0.0f;
            }
        }
    }
}
// gemv: rows consecutive weight rows (row_bytes apart) against one token, y[r].
using QxGemvA8Fn = void (*)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
                            const QxActPair* xa, float* y);
// gemm: rows weight rows against nt tokens (nt % 4 == 0; token t is x + t * ldx
// and xa + t * lda), y[t * ldy + r]. One call per row tile: the VNNI kernel
// decodes each row once for all nt tokens.
using QxGemmA8Fn = void (*)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
                            int64_t ldx, int64_t nt, const QxActPair* xa, int64_t lda, float* y, int64_t ldy);
// nullptr for non-QuantX ids and for ISAs without row kernels (NEON: matmul_rows
// then calls the traits' dot per token).
QxGemvA8Fn qx_select_gemv_a8(uint32_t type_id, Isa isa);
QxGemmA8Fn qx_select_gemm_a8(uint32_t type_id, Isa isa);

#define QX_DECLARE_ROW_KERNELS(isa)                                                                                    \
    void qx3_u_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActPair* xa, float* y);                                                            \
    void qx3_c_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActPair* xa, float* y);                                                            \
    void qx4_u_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActPair* xa, float* y);                                                            \
    void qx4_c_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActPair* xa, float* y);                                                            \
    void qx3_u_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActPair* xa, int64_t lda, float* y, int64_t ldy); \
    void qx3_c_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActPair* xa, int64_t lda, float* y, int64_t ldy); \
    void qx4_u_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActPair* xa, int64_t lda, float* y, int64_t ldy); \
    void qx4_c_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActPair* xa, int64_t lda, float* y, int64_t ldy);

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
