// Tiled AVX-512 VNNI kernels of the C types (qx_tiles_x86.h): a chunk register
// holds 8 rows, each with its own table, so the lookup is one vpermb (QX3:
// 8 rows x 8 entries) or vpermi2b (QX4: 8 x 16) instead of a vpshufb per row.
// Built with AVX-512 VBMI; selected only where the CPU has it (qx_tiles.cpp).
#include "qx_tiles_x86.h"

namespace qx {
QX_DEFINE_TILED_VNNI(qx3_c, QX3_C, 3, true)
QX_DEFINE_TILED_VNNI(qx4_c, QX4_C, 4, true)
}  // namespace qx
