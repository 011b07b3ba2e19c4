// axpy_rows_f32 / _f16 on AVX2 (axpy.h): strips of 32 columns held in four
// registers over all rows, separate multiply and add; the last columns by the
// scalar reference. F16 rows are widened on load (F16C, exactly).
#include <immintrin.h>

#include "axpy.h"

namespace qx::avx2 {
namespace {

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }

template <typename T>
void axpy_rows(int64_t n, int64_t count, const float* w, const T* x, int64_t ldx, float* y) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 a0 = _mm256_loadu_ps(y + i), a1 = _mm256_loadu_ps(y + i + 8);
        __m256 a2 = _mm256_loadu_ps(y + i + 16), a3 = _mm256_loadu_ps(y + i + 24);
        for (int64_t j = 0; j < count; ++j) {
            const __m256 p = _mm256_set1_ps(w[j]);
            const T* xj = x + j * ldx + i;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(p, load8(xj)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(p, load8(xj + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(p, load8(xj + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(p, load8(xj + 24)));
        }
        _mm256_storeu_ps(y + i, a0);
        _mm256_storeu_ps(y + i + 8, a1);
        _mm256_storeu_ps(y + i + 16, a2);
        _mm256_storeu_ps(y + i + 24, a3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(y + i);
        for (int64_t j = 0; j < count; ++j)
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(w[j]), load8(x + j * ldx + i)));
        _mm256_storeu_ps(y + i, a);
    }
    // The reference does the same operations in the same order per column.
    axpy_rows_ref(n - i, count, w, x + i, ldx, y + i);
}

}  // namespace

QX_DEFINE_AXPY_ROWS

}  // namespace qx::avx2
