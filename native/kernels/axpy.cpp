// axpy_f32: the scalar reference and the per-ISA choice (axpy.h).
#include "axpy.h"

namespace qx {

void axpy_f32_ref(int64_t n, float a, const float* x, float* y) {
    for (int64_t i = 0; i < n; ++i) {
        const float p = a * x[i];
        y[i] = y[i] + p;
    }
}

AxpyF32Fn select_axpy_f32(Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        switch (cur) {
#if defined(QX_ARCH_X86)
            case kIsaAvx512Vnni:
            case kIsaAvx512: return avx512::axpy_f32;
            case kIsaAvx2: return avx2::axpy_f32;
#endif
#if defined(QX_ARCH_ARM)
            case kIsaNeonDot:
            case kIsaNeon: return neon::axpy_f32;
#endif
            case kIsaScalar: return axpy_f32_ref;
            default: break;
        }
    }
}

}  // namespace qx
