// select_dot_rows_f32 / _f16 (dot_rows.h): ISAs without a multi-row kernel run
// their own single F32 / F16 dot once per row, which is its definition.
#include "dot_rows.h"

#include <type_traits>

#include "ggml_kernels.h"

namespace qx {
namespace {

template <typename T, float (*Dot)(int64_t, const void*, const float*)>
void rows_by_single_dots(int64_t n, int64_t count, const T* w, int64_t ldw, const float* x, float* out) {
    for (int64_t j = 0; j < count; ++j) out[j] = Dot(n, w + j * ldw, x);
}

template <typename T>
auto select_dot_rows(Isa isa) {
    constexpr bool f32 = std::is_same_v<T, float>;
    using Fn = void (*)(int64_t, int64_t, const T*, int64_t, const float*, float*);
    for (Isa cur = isa;; cur = isa_fallback(cur)) {
        switch (cur) {
#if defined(QX_ARCH_X86)
            case kIsaAvx512Vnni:
            case kIsaAvx512: return kernel_for<T>(avx512::dot_rows_f32, avx512::dot_rows_f16);
            case kIsaAvx2: return Fn{rows_by_single_dots<T, f32 ? avx2::dot_a16_f32 : avx2::dot_a16_f16>};
#endif
#if defined(QX_ARCH_ARM)
            case kIsaNeonDot:
            case kIsaNeon: return Fn{rows_by_single_dots<T, f32 ? neon::dot_a16_f32 : neon::dot_a16_f16>};
#endif
            case kIsaScalar: return Fn{rows_by_single_dots<T, f32 ? scalar::dot_a16_f32 : scalar::dot_a16_f16>};
            default: break;
        }
    }
}

}  // namespace

DotRowsF32Fn select_dot_rows_f32(Isa isa) { return select_dot_rows<float>(isa); }
DotRowsF16Fn select_dot_rows_f16(Isa isa) { return select_dot_rows<uint16_t>(isa); }

}  // namespace qx
