// Attention's scores: one query against many cached keys,
//   out[j] = dot(w + j * ldw, x) over n floats, j < count,
// keys in float32 or float16 (the KV cache's two types), with exactly the
// arithmetic of the same ISA's F32 / F16 dot (dot_a16_f32 / dot_a16_f16), so a
// row's score has the same bits whether it comes from here or from a single
// dot. The AVX-512 kernel reduces 16 rows' partial sums together, in the same
// addition tree as the single dot's horizontal sum, instead of one horizontal
// sum per row (for head sizes of 64, that sum was most of each dot's work).
#pragma once

#include <cstdint>

#include "cpu_features.h"

namespace qx {

using DotRowsF32Fn = void (*)(int64_t n, int64_t count, const float* w, int64_t ldw, const float* x, float* out);
using DotRowsF16Fn = void (*)(int64_t n, int64_t count, const uint16_t* w, int64_t ldw, const float* x, float* out);

namespace avx512 {
void dot_rows_f32(int64_t n, int64_t count, const float* w, int64_t ldw, const float* x, float* out);
void dot_rows_f16(int64_t n, int64_t count, const uint16_t* w, int64_t ldw, const float* x, float* out);
}

// The kernel for isa: AVX-512's own, elsewhere that ISA's single dot row by row.
DotRowsF32Fn select_dot_rows_f32(Isa isa);
DotRowsF16Fn select_dot_rows_f16(Isa isa);

}  // namespace qx
