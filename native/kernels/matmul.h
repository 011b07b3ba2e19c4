// Matrix products between a weight tensor (rows in any registered format) and
// a batch of activation rows. The caller (the thread pool) splits the weight
// rows into ranges; each call does rows [r0, r1) for all nt activation rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qx_tiles.h"
#include "types.h"

namespace qx {

struct WeightView {
    const TypeTraits* type;
    const uint8_t* data;   // first row
    size_t row_bytes;      // bytes between consecutive rows
    int64_t n;             // row length (input features)
    int64_t rows;          // output features
    // Nonzero: `data` holds the rows as QuantX row tiles of this many bytes
    // (qx_tiles.h), for the tiled A8 kernels only; row_bytes is then the file's.
    size_t tile_bytes = 0;
    // A tiled weight's kernels, chosen once when it was tiled (for the ISA and
    // whether its rows share one table), so no call looks them up again.
    QxTiledGemvFn tiled_gemv = nullptr;
    QxTiledGemmFn tiled_gemm = nullptr;
};

// Activations prepared for one weight format's kernel: either float rows
// or BlockQ8 rows (n/32 blocks per row), nt rows.
struct ActView {
    ActMode mode;
    const float* f32;       // mode == A16: nt rows of n floats, stride ld_f32
    int64_t ld_f32;
    const BlockQ8* q8;      // mode == A8: nt rows of n/32 blocks, stride ld_q8 (blocks)
    int64_t ld_q8;
    int64_t nt;
};

// y[t * ldy + r] = dot(W[r], x[t]) for r in [r0, r1), t in [0, nt). A tiled
// weight takes A8 activations on the ISA it was tiled for, and r0 on a tile.
void matmul_rows(const WeightView& w, const ActView& x, Isa isa, int64_t r0, int64_t r1, float* y,
                 int64_t ldy);

// Dequantize row r of w into y (n floats), with the reference dequantizer.
void dequantize_row(const WeightView& w, int64_t r, float* y);

}  // namespace qx
