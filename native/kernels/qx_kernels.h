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
// tokens: gemm). Both get the BlockQ8 activations and, for the VNNI kernels,
// per block a correction prepared once per matmul call (QxActCorr; other ISAs
// ignore it). The VNNI kernels multiply unsigned weight bytes u = T[c] + bias
// with the signed activations (vpdpbusd takes one unsigned operand): U types
// use the code itself (bias 4 / 8: no table lookup), C types T[c] + 128. The
// int32 sums start at -bias * (sum of the activations), which removes the
// bias exactly (integers): `lanes` per vpdpbusd lane (4 activations each, the
// gemv), `total` for the whole block (the gemm computes it from BlockQ8.sum).
struct QxActCorr {
    int32_t lanes[8];
    int32_t total;
    int32_t pad[7];
};
static_assert(sizeof(QxActCorr) == 64, "QxActCorr layout");
inline int32_t qx_a8_bias(const QxFormat& f) { return f.row_codebook ? 128 : f.table_size / 2; }
// x: n / 32 blocks of one token -> n / 32 corrections.
inline void qx_prepare_act_corr(const BlockQ8* x, int64_t n, int32_t bias, QxActCorr* out) {
    for (int64_t b = 0; b < n / kQxSub; ++b) {
        int32_t total = 0;
        for (int l = 0; l < 8; ++l) {
            const int32_t s = (int32_t)x[b].qs[4 * l] + x[b].qs[4 * l + 1] + x[b].qs[4 * l + 2] + x[b].qs[4 * l + 3];
            out[b].lanes[l] = -bias * s;
            total += s;
        }
        out[b].total = -bias * total;
        for (auto& v : out[b].pad) v = 0;
    }
}
// gemv: rows consecutive weight rows (row_bytes apart) against one token, y[r].
using QxGemvA8Fn = void (*)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
                            const QxActCorr* xa, float* y);
// gemm: rows weight rows against nt tokens (nt % 4 == 0; token t is x + t * ldx;
// xa is unused: the whole-block correction comes from BlockQ8.sum),
// y[t * ldy + r]. One call per row tile: the VNNI kernel decodes each row
// once for all nt tokens.
using QxGemmA8Fn = void (*)(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,
                            int64_t ldx, int64_t nt, const QxActCorr* xa, int64_t lda, float* y, int64_t ldy);
// nullptr for non-QuantX ids and for ISAs without row kernels (NEON: matmul_rows
// then calls the traits' dot per token).
QxGemvA8Fn qx_select_gemv_a8(uint32_t type_id, Isa isa);
QxGemmA8Fn qx_select_gemm_a8(uint32_t type_id, Isa isa);

#define QX_DECLARE_ROW_KERNELS(isa)                                                                                    \
    void qx3_u_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActCorr* xa, float* y);                                                            \
    void qx3_c_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActCorr* xa, float* y);                                                            \
    void qx4_u_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActCorr* xa, float* y);                                                            \
    void qx4_c_gemv_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           const QxActCorr* xa, float* y);                                                            \
    void qx3_u_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActCorr* xa, int64_t lda, float* y, int64_t ldy); \
    void qx3_c_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActCorr* xa, int64_t lda, float* y, int64_t ldy); \
    void qx4_u_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActCorr* xa, int64_t lda, float* y, int64_t ldy); \
    void qx4_c_gemm_a8_##isa(int64_t n, const uint8_t* w, size_t row_bytes, int64_t rows, const BlockQ8* x,            \
                           int64_t ldx, int64_t nt, const QxActCorr* xa, int64_t lda, float* y, int64_t ldy);

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
