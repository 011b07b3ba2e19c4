// y[i] = y[i] + a * x[i]: attention's weighted sum of the cached values.
//
// The product is rounded to float before the sum (no fused multiply-add), on
// every ISA: that is what the plain loop this replaced computed on x86, and the
// runtime's greedy outputs (tests/test_qx_convert.py's "Paris") are pinned to
// those bits. The axpy*.cpp files are compiled with -ffp-contract=off so that
// no compiler fuses them behind our back.
#pragma once

#include <cstdint>

#include "cpu_features.h"

namespace qx {

using AxpyF32Fn = void (*)(int64_t n, float a, const float* x, float* y);

// Scalar reference: one rounding for the product, one for the sum.
void axpy_f32_ref(int64_t n, float a, const float* x, float* y);

namespace avx2 { void axpy_f32(int64_t n, float a, const float* x, float* y); }
namespace avx512 { void axpy_f32(int64_t n, float a, const float* x, float* y); }
namespace neon { void axpy_f32(int64_t n, float a, const float* x, float* y); }

// The kernel for isa (or the nearest one below it that has one).
AxpyF32Fn select_axpy_f32(Isa isa);

}  // namespace qx
