// The QuantX rows of the type traits table: the one place where each format
// is tied to its reference dequantizer and its kernels per ISA.
#include "qx_types.h"

#include "qx_format.h"
#include "qx_kernels.h"

namespace qx {

namespace {

size_t qx3_u_row_size(int64_t n) { return qx_row_size(kQxFormats[0], n); }
size_t qx3_c_row_size(int64_t n) { return qx_row_size(kQxFormats[1], n); }
size_t qx4_u_row_size(int64_t n) { return qx_row_size(kQxFormats[2], n); }
size_t qx4_c_row_size(int64_t n) { return qx_row_size(kQxFormats[3], n); }

#if defined(QX_ARCH_X86)
#define QX_DOTS_A16(t) {t##_dot_a16_ref, t##_dot_a16_avx2, t##_dot_a16_avx512, nullptr, nullptr, nullptr}
#define QX_DOTS_A8(t) {t##_dot_a8_ref, t##_dot_a8_avx2, t##_dot_a8_avx512, t##_dot_a8_avx512vnni, nullptr, nullptr}
#elif defined(QX_ARCH_ARM)
// neondot only changes the integer path; A16 uses the neon kernels.
#define QX_DOTS_A16(t) {t##_dot_a16_ref, nullptr, nullptr, nullptr, t##_dot_a16_neon, nullptr}
#define QX_DOTS_A8(t) {t##_dot_a8_ref, nullptr, nullptr, nullptr, t##_dot_a8_neon, t##_dot_a8_neondot}
#else
#define QX_DOTS_A16(t) {t##_dot_a16_ref, nullptr, nullptr, nullptr, nullptr, nullptr}
#define QX_DOTS_A8(t) {t##_dot_a8_ref, nullptr, nullptr, nullptr, nullptr, nullptr}
#endif

// block_size 32: rows must be whole sub-blocks; type_size 0 because the row
// size is not a multiple of a block size (per-row codebook and scales).
#define QX_TRAITS(t, ID, NAME, ACT) \
    {NAME, ID, kQxSub, 0, t##_to_float, ACT, t##_row_size, QX_DOTS_A16(t), QX_DOTS_A8(t)}

const TypeTraits kQxTraits[4] = {
    QX_TRAITS(qx3_u, QX3_U, "QX3_U", ActMode::A8),
    QX_TRAITS(qx3_c, QX3_C, "QX3_C", ActMode::A8),
    QX_TRAITS(qx4_u, QX4_U, "QX4_U", ActMode::A8),
    QX_TRAITS(qx4_c, QX4_C, "QX4_C", ActMode::A8),
};

#if defined(QX_ARCH_X86)
#define QX_DECLARE_GEMM_X86(t)                                                                                   \
    void t##_gemm_a8_avx2(int64_t n, const void* w, const BlockQ8* const* x, const float* const* xs, float* out); \
    void t##_gemm_a8_avx512vnni(int64_t n, const void* w, const BlockQ8* const* x, const float* const* xs, float* out);
}  // namespace
QX_DECLARE_GEMM_X86(qx3_u)
QX_DECLARE_GEMM_X86(qx3_c)
QX_DECLARE_GEMM_X86(qx4_u)
QX_DECLARE_GEMM_X86(qx4_c)
namespace {
const QxGemmA8Fn kGemmAvx2[4] = {qx3_u_gemm_a8_avx2, qx3_c_gemm_a8_avx2, qx4_u_gemm_a8_avx2, qx4_c_gemm_a8_avx2};
const QxGemmA8Fn kGemmVnni[4] = {qx3_u_gemm_a8_avx512vnni, qx3_c_gemm_a8_avx512vnni, qx4_u_gemm_a8_avx512vnni,
                                 qx4_c_gemm_a8_avx512vnni};
#endif

}  // namespace

QxGemmA8Fn qx_select_gemm_a8(uint32_t type_id, Isa isa) {
    if (type_id < QX_ID_BASE || type_id >= QX_ID_END) return nullptr;
#if defined(QX_ARCH_X86)
    if (isa == kIsaAvx512Vnni) return kGemmVnni[type_id - QX_ID_BASE];
    if (isa == kIsaAvx2 || isa == kIsaAvx512) return kGemmAvx2[type_id - QX_ID_BASE];
#endif
    (void)isa;
    return nullptr;
}

const TypeTraits* qx_type_traits(uint32_t type_id) {
    if (type_id < QX_ID_BASE || type_id >= QX_ID_END) return nullptr;
    return &kQxTraits[type_id - QX_ID_BASE];
}

}  // namespace qx
