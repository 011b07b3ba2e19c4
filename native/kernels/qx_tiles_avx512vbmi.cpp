// Tiled AVX-512 VNNI kernels of the C types (qx_tiles_x86.h): a chunk register
// holds 8 rows, each with its own table, so the lookup is one vpermi2b over
// the tile's 8 x 8 entries (QX3, two 256-bit halves: 8 % faster than a
// 512-bit vpermb) or 8 x 16 (QX4, two 512-bit tables).
// Built with AVX-512 VBMI; selected only where the CPU has it (qx_tiles.cpp).
#include "qx_tiles_x86.h"

namespace qx {
QX_DEFINE_TILED_VNNI(qx3_c, QX3_C, 3, tiles_x86::kLutRowTables)
QX_DEFINE_TILED_VNNI(qx4_c, QX4_C, 4, tiles_x86::kLutRowTables)
}  // namespace qx
