// Tiled AVX-512 VNNI kernels of the U types (qx_tiles_x86.h): the code is the
// weight byte, no table lookup.
#include "qx_tiles_x86.h"

namespace qx {
QX_DEFINE_TILED_VNNI(qx3_u, QX3_U, 3, false)
QX_DEFINE_TILED_VNNI(qx4_u, QX4_U, 4, false)
}  // namespace qx
