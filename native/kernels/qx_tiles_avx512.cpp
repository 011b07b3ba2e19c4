// Tiled AVX-512 VNNI kernels (qx_tiles_x86.h) that need no VBMI: the U types,
// whose code is the weight byte (no table lookup), and the C types' tensors
// whose rows share one table (QX3_T / QX4_T files), looked up with vpshufb.
#include "qx_tiles_x86.h"

namespace qx {
QX_DEFINE_TILED_VNNI(qx3_u, QX3_U, 3, tiles_x86::kLutNone)
QX_DEFINE_TILED_VNNI(qx4_u, QX4_U, 4, tiles_x86::kLutNone)
QX_DEFINE_TILED_VNNI(qx3_c_shared, QX3_C, 3, tiles_x86::kLutShared)
QX_DEFINE_TILED_VNNI(qx4_c_shared, QX4_C, 4, tiles_x86::kLutShared)
}  // namespace qx
