// axpy_rows_f32 / _f16: the scalar reference and the per-ISA choice (axpy.h).
#include "axpy.h"

#include "types.h"

namespace qx {
namespace {

inline float widen(float v) { return v; }
inline float widen(uint16_t h) { return fp16_to_fp32(h); }

template <typename T>
void axpy_rows_scalar(int64_t n, int64_t count, const float* w, const T* x, int64_t ldx, float* y) {
    for (int64_t j = 0; j < count; ++j) {
        const T* xj = x + j * ldx;
        for (int64_t i = 0; i < n; ++i) {
            const float p = w[j] * widen(xj[i]);
            y[i] = y[i] + p;
        }
    }
}

template <typename T>
auto select_axpy_rows(Isa isa) {
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        switch (cur) {
#if defined(QX_ARCH_X86)
            case kIsaAvx512Vnni:
            case kIsaAvx512: return kernel_for<T>(avx512::axpy_rows_f32, avx512::axpy_rows_f16);
            case kIsaAvx2: return kernel_for<T>(avx2::axpy_rows_f32, avx2::axpy_rows_f16);
#endif
#if defined(QX_ARCH_ARM)
            case kIsaNeonDot:
            case kIsaNeon: return kernel_for<T>(neon::axpy_rows_f32, neon::axpy_rows_f16);
#endif
            case kIsaScalar: return &axpy_rows_scalar<T>;
            default: break;
        }
    }
}

}  // namespace

void axpy_rows_ref(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y) {
    axpy_rows_scalar(n, count, w, x, ldx, y);
}
void axpy_rows_ref(int64_t n, int64_t count, const float* w, const uint16_t* x, int64_t ldx, float* y) {
    axpy_rows_scalar(n, count, w, x, ldx, y);
}

AxpyRowsF32Fn select_axpy_rows_f32(Isa isa) { return select_axpy_rows<float>(isa); }
AxpyRowsF16Fn select_axpy_rows_f16(Isa isa) { return select_axpy_rows<uint16_t>(isa); }

}  // namespace qx
