// Row tiles: the in-memory layout the AVX-512 VNNI A8 kernels read (built at
// load from the file's rows; never written to a file). See FORMATS.md, "Row
// tiles".
//
// The file's rows are self-contained, so a kernel reading them gets row r's
// int32 sum of a 32-block spread over 8 dword lanes and has to add them up
// across lanes (a transpose-add per 8 rows, about a quarter of the row
// kernel's time). Tiles of 8 rows store the codes "chunk-major" instead: for
// each 32-block, chunk k (codes 4k..4k+3) of rows 0..7 decodes into one
// register whose dword lane r is row r's, so 8 vpdpbusd with the activation
// chunk broadcast leave every row's whole block sum in its own lane — no
// cross-lane work at all, for one token as for many.
//
// One tile, bytes in order (K = table_size, G = ceil(n/128), B = n/32):
//   C types only: 8 x K bytes, row r's table entry e + 128 (unsigned) at r*K + e;
//   G x 16 bytes: group g's fp16 scales of rows 0..7;
//   B x 8 x sub_bytes bytes: per 32-block, the 8 rows' codes:
//     QX3 (96 bytes): P0[32], P1[32], P2[32]; byte i = 4r + j (row r, j < 4), c_k = code[r][4k + j]:
//       P0[i] = c_0 | c_1 << 3 | (c_6 & 3) << 6,
//       P1[i] = c_2 | c_3 << 3 | (c_7 & 3) << 6,
//       P2[i] = c_4 | c_5 << 3 | (c_6 >> 2) << 6 | (c_7 >> 2) << 7
//       (six chunks are one 16-bit shift and a mask; chunks 6 and 7 join two planes);
//     QX4 (128 bytes): N0..N3[32]; N_p[i] = code[r][8p + j] | code[r][8p + 4 + j] << 4.
// A last tile with fewer than 8 rows repeats its last row (the kernels drop those lanes).
#pragma once

#include <cstddef>
#include <cstdint>

#include "qx_format.h"
#include "types.h"

namespace qx {

constexpr int kQxTileRows = 8;

inline int64_t qx_tile_count(int64_t rows) { return (rows + kQxTileRows - 1) / kQxTileRows; }
inline size_t qx_tile_tables_bytes(const QxFormat& f) { return f.row_codebook ? (size_t)(kQxTileRows * f.table_size) : 0; }
inline size_t qx_tile_codes_offset(const QxFormat& f, int64_t n) {
    return qx_tile_tables_bytes(f) + 16 * (size_t)qx_groups(n);
}
inline size_t qx_tile_bytes(const QxFormat& f, int64_t n) {
    return qx_tile_codes_offset(f, n) + (size_t)(n / kQxSub) * kQxTileRows * (size_t)f.sub_bytes;
}

// rows file rows (row_bytes apart, n weights each) -> qx_tile_count(rows) tiles at out.
void qx_tile_rows(const QxFormat& f, const uint8_t* w, size_t row_bytes, int64_t rows, int64_t n, uint8_t* out);
// Row r (< 8) of a tile back in the file's row layout (qx_row_size(f, n) bytes): the tile
// layout's definition read the other way, and the reference kernel's decoder.
void qx_untile_row(const QxFormat& f, const uint8_t* tile, int64_t n, int r, uint8_t* row);

// y[r] for rows [0, rows) of the tiles starting at `tiles` (rows need not be a
// multiple of 8) against one token; the gemm against nt tokens (nt % 4 == 0,
// token t at x + t * ldx) writes y[t * ldy + r]. Bit-identical to the row kernels
// of the same ISA (qx_kernels.h) on the same rows.
using QxTiledGemvFn = void (*)(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, float* y);
using QxTiledGemmFn = void (*)(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, int64_t ldx,
                               int64_t nt, float* y, int64_t ldy);

// The tiled kernels for a QuantX type on an ISA, or nullptr where there are
// none (then the runtime keeps the file's rows): AVX-512 VNNI, and for the C
// types also AVX-512 VBMI (per-row tables through vpermb). shared_table: a C
// type's rows all carry the same table (qx_rows_share_table), so the kernels
// look it up with vpshufb and need no VBMI; only valid for such rows.
QxTiledGemvFn qx_select_tiled_gemv(uint32_t type_id, Isa isa, bool shared_table = false);
QxTiledGemmFn qx_select_tiled_gemm(uint32_t type_id, Isa isa, bool shared_table = false);

// Whether a C type's rows (row_bytes apart) all carry row 0's table: true for
// the tensors the loader expands from QX3_T / QX4_T files (one codebook per
// tensor), false for U types.
bool qx_rows_share_table(const QxFormat& f, const uint8_t* w, size_t row_bytes, int64_t rows);

// The scalar reference: each tile row decoded back to its file row, then the
// reference dot (qx_kernels.h) per row and token.
void qx_tiled_gemv_a8_ref(const QxFormat& f, int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,
                          float* y);

#if defined(QX_ARCH_X86)
#define QX_DECLARE_TILED(lower)                                                                                  \
    void lower##_tiled_gemv_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,      \
                                          float* y);                                                            \
    void lower##_tiled_gemm_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,      \
                                          int64_t ldx, int64_t nt, float* y, int64_t ldy);
QX_DECLARE_TILED(qx3_u)
QX_DECLARE_TILED(qx3_c)
QX_DECLARE_TILED(qx4_u)
QX_DECLARE_TILED(qx4_c)
QX_DECLARE_TILED(qx3_c_shared)
QX_DECLARE_TILED(qx4_c_shared)
#endif

}  // namespace qx
