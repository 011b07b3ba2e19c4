// axpy_rows_f32 / _f16 on NEON (axpy.h): strips of 16 columns held in four
// registers over all rows, separate multiply and add; the last columns by the
// scalar reference. F16 rows are widened on load (exactly).
#include <arm_neon.h>

#include "axpy.h"

namespace qx::neon {
namespace {

inline float32x4_t load4(const float* p) { return vld1q_f32(p); }
inline float32x4_t load4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

template <typename T>
void axpy_rows(int64_t n, int64_t count, const float* w, const T* x, int64_t ldx, float* y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a0 = vld1q_f32(y + i), a1 = vld1q_f32(y + i + 4);
        float32x4_t a2 = vld1q_f32(y + i + 8), a3 = vld1q_f32(y + i + 12);
        for (int64_t j = 0; j < count; ++j) {
            const float p = w[j];
            const T* xj = x + j * ldx + i;
            a0 = vaddq_f32(a0, vmulq_n_f32(load4(xj), p));
            a1 = vaddq_f32(a1, vmulq_n_f32(load4(xj + 4), p));
            a2 = vaddq_f32(a2, vmulq_n_f32(load4(xj + 8), p));
            a3 = vaddq_f32(a3, vmulq_n_f32(load4(xj + 12), p));
        }
        vst1q_f32(y + i, a0);
        vst1q_f32(y + i + 4, a1);
        vst1q_f32(y + i + 8, a2);
        vst1q_f32(y + i + 12, a3);
    }
    // The reference does the same operations in the same order per column.
    axpy_rows_ref(n - i, count, w, x + i, ldx, y + i);
}

}  // namespace

QX_DEFINE_AXPY_ROWS

}  // namespace qx::neon
