// axpy_rows_f32: the scalar reference and the per-ISA choice (axpy.h).
#include "axpy.h"

namespace qx {

void axpy_rows_f32_ref(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y) {
    for (int64_t j = 0; j < count; ++j) {
        const float* xj = x + j * ldx;
        for (int64_t i = 0; i < n; ++i) {
            const float p = w[j] * xj[i];
            y[i] = y[i] + p;
        }
    }
}

AxpyRowsF32Fn select_axpy_rows_f32(Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        switch (cur) {
#if defined(QX_ARCH_X86)
            case kIsaAvx512Vnni:
            case kIsaAvx512: return avx512::axpy_rows_f32;
            case kIsaAvx2: return avx2::axpy_rows_f32;
#endif
#if defined(QX_ARCH_ARM)
            case kIsaNeonDot:
            case kIsaNeon: return neon::axpy_rows_f32;
#endif
            case kIsaScalar: return axpy_rows_f32_ref;
            default: break;
        }
    }
}

}  // namespace qx
