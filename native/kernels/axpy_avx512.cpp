// axpy_rows_f32 / _f16 on AVX-512 (axpy.h): strips of 64 columns held in four
// registers over all rows, separate multiply and add; a last strip of fewer
// than 16 columns masked. F16 rows are widened on load (exactly).
#include <immintrin.h>

#include "axpy.h"

namespace qx::avx512 {
namespace {

inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
inline __m512 load16(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(__mmask16 m, const uint16_t* p) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

template <typename T>
void axpy_rows(int64_t n, int64_t count, const float* w, const T* x, int64_t ldx, float* y) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a0 = _mm512_loadu_ps(y + i), a1 = _mm512_loadu_ps(y + i + 16);
        __m512 a2 = _mm512_loadu_ps(y + i + 32), a3 = _mm512_loadu_ps(y + i + 48);
        for (int64_t j = 0; j < count; ++j) {
            const __m512 p = _mm512_set1_ps(w[j]);
            const T* xj = x + j * ldx + i;
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(p, load16(xj)));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(p, load16(xj + 16)));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(p, load16(xj + 32)));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(p, load16(xj + 48)));
        }
        _mm512_storeu_ps(y + i, a0);
        _mm512_storeu_ps(y + i + 16, a1);
        _mm512_storeu_ps(y + i + 32, a2);
        _mm512_storeu_ps(y + i + 48, a3);
    }
    for (; i < n; i += 16) {
        const int64_t left = n - i;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, y + i);
        for (int64_t j = 0; j < count; ++j)
            a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(w[j]), load16(m, x + j * ldx + i)));
        _mm512_mask_storeu_ps(y + i, m, a);
    }
}

}  // namespace

QX_DEFINE_AXPY_ROWS

}  // namespace qx::avx512
