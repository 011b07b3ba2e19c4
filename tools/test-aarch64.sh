#!/usr/bin/env bash
# Cross-compiles the kernel layer and its native test for aarch64 and runs it
# under qemu-user: once with `-cpu max` (the dot-product extension present,
# so the neondot kernels run) and once with QUANTX_ISA=neon (the plain NEON
# kernels). Needs g++-aarch64-linux-gnu and qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${QX_AARCH64_DIR:-build/aarch64}
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
mkdir -p "$OUT"
FLAGS=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Inative -DQX_ARCH_ARM=1)
objs=()
for f in native/kernels/*.cpp; do
  case "$f" in
    *_avx2.cpp|*_avx512.cpp|*_avx512vbmi.cpp) continue ;;
    *_neondot.cpp) extra=(-march=armv8.2-a+dotprod) ;;
    */axpy*.cpp) extra=(-ffp-contract=off) ;;  # as CMakeLists.txt: no fused multiply-adds (axpy.h)
    *) extra=() ;;
  esac
  o="$OUT/$(basename "${f%.cpp}").o"
  "$CXX" "${FLAGS[@]}" "${extra[@]}" -c "$f" -o "$o"
  objs+=("$o")
done
"$CXX" "${FLAGS[@]}" -static native/tests/test_kernels.cpp "${objs[@]}" -o "$OUT/test_kernels" -lpthread
echo "== qemu-aarch64 -cpu max (neondot) =="
"$QEMU" -cpu max "$OUT/test_kernels" | grep -E "best isa|skipped|FAIL|passed"
echo "== qemu-aarch64 -cpu max, QUANTX_ISA=neon =="
QUANTX_ISA=neon "$QEMU" -cpu max "$OUT/test_kernels" | grep -E "best isa|skipped|FAIL|passed"
echo "aarch64 kernel tests passed"
