// Attention's weighted sum of the cached values:
//   for j in [0, count): y[i] = y[i] + w[j] * x[j * ldx + i]   (i < n)
// in that order of j for every i.
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

// Scalar reference: row after row, one rounding for each product and each sum.
void axpy_rows_f32_ref(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y);

namespace avx2 { void axpy_rows_f32(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y); }
namespace avx512 { void axpy_rows_f32(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y); }
namespace neon { void axpy_rows_f32(int64_t n, int64_t count, const float* w, const float* x, int64_t ldx, float* y); }

// The kernel for isa (or the nearest one below it that has one).
AxpyRowsF32Fn select_axpy_rows_f32(Isa isa);

}  // namespace qx
