// The 8-bit-activation kernels with the Armv8.2 dot-product extension
// (sdot), built with -march=armv8.2-a+dotprod and used only when the kernel
// reports HWCAP_ASIMDDP.
#include <arm_neon.h>

#include "ggml_blocks.h"
#include "ggml_kernels.h"

namespace qx {
namespace neondot {

namespace {
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
}  // namespace

#include "ggml_neon_a8.inc"

}  // namespace neondot
}  // namespace qx
