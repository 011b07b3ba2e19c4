// Row tiles for Q8_0 weights: the in-memory layout of the AVX-512 VNNI
// kernels for the output head (built at load from the file's rows; never in a
// file). See FORMATS.md, "Q8_0 row tiles".
//
// A Q8_0 row kernel ends every row with a horizontal sum and, on SmolLM2's
// 576-wide rows (18 blocks), two more per row for the blocks left over from
// groups of 8: the head (49152 such rows) ran at about 19 GB/s on one thread,
// short of the memory's 25+. Stored like the QuantX tiles (8 rows, codes
// chunk-major), every row's exact int32 block sum lands in its own lane after
// 8 vpdpbusd, with no cross-lane work.
//
// One tile is B = n/32 blocks of 272 bytes, each:
//   16 bytes: the block's fp16 scales of rows 0..7;
//   256 bytes: byte 32k + 4r + j = qs[r][4k + j] + 128 (unsigned; k < 8 chunks, r < 8 rows, j < 4).
// A last tile with fewer than 8 rows repeats its last row (the kernels drop those lanes).
//
// The tiled kernels compute, per (row r, token), in this order over the blocks b:
//   acc = fma(float(isum_b), fp16_to_fp32(d_w[r][b]) * x[b].d, acc)      (acc starts at 0)
// with isum_b the exact int32 sum of qs[r][i] * x[b].qs[i]; the scalar
// reference (q8_0_tiled_gemv_a8_ref) does the same, so they agree bit for bit,
// one token or many.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qx_tiles.h"
#include "types.h"

namespace qx {

constexpr size_t kQ8TileBlockBytes = 16 + 8 * 32;

inline size_t q8_0_tile_bytes(int64_t n) { return (size_t)(n / kQ8Block) * kQ8TileBlockBytes; }

// rows Q8_0 file rows (row_bytes apart, n weights each) -> qx_tile_count(rows) tiles at out.
void q8_0_tile_rows(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t n, uint8_t* out);
// Row r (< 8) of a tile back in the file's Q8_0 row layout (n / 32 blocks of 34 bytes).
void q8_0_untile_row(const uint8_t* tile, int64_t n, int r, uint8_t* row);

// The scalar reference of the tiled kernels (the formula above), for rows [0, rows) against one token.
void q8_0_tiled_gemv_a8_ref(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, float* y);
// ... and against nt tokens (token t at x + t * ldx; y[t * ldy + r]), any nt.
void q8_0_tiled_gemm_a8_ref(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, int64_t ldx,
                            int64_t nt, float* y, int64_t ldy);

// The tiled kernels on an ISA, or nullptr where there are none (then the runtime keeps the
// file's rows): AVX-512 VNNI only.
QxTiledGemvFn q8_0_select_tiled_gemv(Isa isa);
QxTiledGemmFn q8_0_select_tiled_gemm(Isa isa);

#if defined(QX_ARCH_X86)
void q8_0_tiled_gemv_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, float* y);
void q8_0_tiled_gemm_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, int64_t ldx,
                                   int64_t nt, float* y, int64_t ldy);
#endif

}  // namespace qx
