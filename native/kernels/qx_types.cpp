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

#define QX_ROWS(isa) {qx3_u_##isa, qx3_c_##isa, qx4_u_##isa, qx4_c_##isa}
const QxGemvA8Fn kGemvRef[4] = QX_ROWS(gemv_a8_ref);
const QxGemmA8Fn kGemmRef[4] = QX_ROWS(gemm_a8_ref);
#if defined(QX_ARCH_X86)
const QxGemvA8Fn kGemvAvx2[4] = QX_ROWS(gemv_a8_avx2);
const QxGemmA8Fn kGemmAvx2[4] = QX_ROWS(gemm_a8_avx2);
const QxGemvA8Fn kGemvVnni[4] = QX_ROWS(gemv_a8_avx512vnni);
const QxGemmA8Fn kGemmVnni[4] = QX_ROWS(gemm_a8_avx512vnni);
#endif

// The gemv and gemm of one call always come from the same set (bit-identical
// per token). Plain AVX-512 has no set of its own: the AVX2 one serves it.
template <class Fn>
Fn select_rows(uint32_t type_id, Isa isa, const Fn* ref, const Fn* avx2, const Fn* vnni) {
    if (type_id < QX_ID_BASE || type_id >= QX_ID_END) return nullptr;
    const uint32_t i = type_id - QX_ID_BASE;
#if defined(QX_ARCH_X86)
    if (isa == kIsaAvx512Vnni) return vnni[i];
    if (isa == kIsaAvx2 || isa == kIsaAvx512) return avx2[i];
#else
    (void)avx2;
    (void)vnni;
#endif
    // NEON: no row kernels; matmul_rows then calls the traits' dot per token.
    return isa == kIsaScalar ? ref[i] : nullptr;
}

}  // namespace

QxGemvA8Fn qx_select_gemv_a8(uint32_t type_id, Isa isa) {
#if defined(QX_ARCH_X86)
    return select_rows(type_id, isa, kGemvRef, kGemvAvx2, kGemvVnni);
#else
    return select_rows<QxGemvA8Fn>(type_id, isa, kGemvRef, nullptr, nullptr);
#endif
}

QxGemmA8Fn qx_select_gemm_a8(uint32_t type_id, Isa isa) {
#if defined(QX_ARCH_X86)
    return select_rows(type_id, isa, kGemmRef, kGemmAvx2, kGemmVnni);
#else
    return select_rows<QxGemmA8Fn>(type_id, isa, kGemmRef, nullptr, nullptr);
#endif
}

const TypeTraits* qx_type_traits(uint32_t type_id) {
    if (type_id < QX_ID_BASE || type_id >= QX_ID_END) return nullptr;
    return &kQxTraits[type_id - QX_ID_BASE];
}

}  // namespace qx
