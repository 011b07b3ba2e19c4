// axpy_f32 on AVX2: separate multiply and add (axpy.h says why).
#include <immintrin.h>

#include "axpy.h"

namespace qx::avx2 {

void axpy_f32(int64_t n, float a, const float* x, float* y) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    for (; i < n; ++i) {
        const float p = a * x[i];
        y[i] = y[i] + p;
    }
}

}  // namespace qx::avx2
