// select_dot_rows_f32 (dot_rows.h): ISAs without a multi-row kernel run their
// own single F32 dot once per row, which is its definition.
#include "dot_rows.h"

#include "ggml_kernels.h"

namespace qx {
namespace {

template <float (*Dot)(int64_t, const void*, const float*)>
void rows_by_single_dots(int64_t n, int64_t count, const float* w, int64_t ldw, const float* x, float* out) {
    for (int64_t j = 0; j < count; ++j) out[j] = Dot(n, w + j * ldw, x);
}

}  // namespace

DotRowsF32Fn select_dot_rows_f32(Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        switch (cur) {
#if defined(QX_ARCH_X86)
            case kIsaAvx512Vnni:
            case kIsaAvx512: return avx512::dot_rows_f32;
            case kIsaAvx2: return rows_by_single_dots<avx2::dot_a16_f32>;
#endif
#if defined(QX_ARCH_ARM)
            case kIsaNeonDot:
            case kIsaNeon: return rows_by_single_dots<neon::dot_a16_f32>;
#endif
            case kIsaScalar: return rows_by_single_dots<scalar::dot_a16_f32>;
            default: break;
        }
    }
}

}  // namespace qx
