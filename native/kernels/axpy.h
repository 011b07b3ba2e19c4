// Attention's weighted sum of the cached values:
//   for j in [0, count): y[i] = y[i] + w[j] * x[j * ldx + i]   (i < n)
// in that order of j for every i, values in float32 or float16 (the KV
// cache's two types; a float16 value is widened to float32 exactly, so the
// F16 kernels compute what the F32 ones would on the widened values).
//
// Each product is rounded to float before the sum (no fused multiply-add), on
// every ISA: that is what the plain loop this replaced computed on x86, and the
// runtime's greedy outputs (tests/test_qx_convert.py's "Paris") are pinned to
// those bits. The axpy*.cpp files are compiled with -ffp-contract=off so that
// no compiler fuses them behind our back. The SIMD kernels keep a strip of y in
// registers across all count rows instead of storing and reloading it per row
// (the store-to-load chain is what made the one-row-at-a-time loop slow).
#pragma once

#include <cstdint>

#include "cpu_features.h"

namespace qx {

using AxpyRowsF32Fn = void (*)(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y);
using AxpyRowsF16Fn = void (*)(int64_t n, int64_t count, const float* w, const uint16_t* x, int64_t ldx, float* y);

// Scalar reference: row after row, one rounding for each product and each sum.
void axpy_rows_ref(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y);
void axpy_rows_ref(int64_t n, int64_t count, const float* w, const uint16_t* x, int64_t ldx, float* y);

#define QX_DECLARE_AXPY_ROWS                                                                                  \
    void axpy_rows_f32(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y);     \
    void axpy_rows_f16(int64_t n, int64_t count, const float* w, const uint16_t* x, int64_t ldx, float* y);
namespace avx2 { QX_DECLARE_AXPY_ROWS }
namespace avx512 { QX_DECLARE_AXPY_ROWS }
namespace neon { QX_DECLARE_AXPY_ROWS }
#undef QX_DECLARE_AXPY_ROWS

// An ISA's file writes one template axpy_rows<T> and exports it for both types with this.
#define QX_DEFINE_AXPY_ROWS                                                                                   \
    void axpy_rows_f32(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y) {    \
        axpy_rows(n, count, w, x, ldx, y);                                                                    \
    }                                                                                                         \
    void axpy_rows_f16(int64_t n, int64_t count, const float* w, const uint16_t* x, int64_t ldx, float* y) { \
        axpy_rows(n, count, w, x, ldx, y);                                                                    \
    }

// The kernel for isa (or the nearest one below it that has one).
AxpyRowsF32Fn select_axpy_rows_f32(Isa isa);
AxpyRowsF16Fn select_axpy_rows_f16(Isa isa);

}  // namespace qx
