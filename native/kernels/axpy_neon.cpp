// axpy_f32 on NEON: separate multiply and add (axpy.h says why).
#include <arm_neon.h>

#include "axpy.h"

namespace qx::neon {

void axpy_f32(int64_t n, float a, const float* x, float* y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vmulq_n_f32(vld1q_f32(x + i), a)));
    for (; i < n; ++i) {
        const float p = a * x[i];
        y[i] = y[i] + p;
    }
}

}  // namespace qx::neon
