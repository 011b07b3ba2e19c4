#!/usr/bin/env bash
# Cross-compile the QuantX format test (native/tests/test_qx.cpp) for aarch64
# with the NEON / dotprod kernels, statically, and run it under qemu with
# every CPU feature on (neon and neondot kernels checked), then on a CPU
# without the dot-product extension (neon only, the neondot entries skipped).
# Usage: tools/test-aarch64-qx.sh   (needs g++-aarch64-linux-gnu, qemu-user)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${QX_AARCH64_DIR:-build/aarch64-qx}
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
mkdir -p "$OUT"
FLAGS=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Inative -DQX_ARCH_ARM=1)
objs=()
for f in native/kernels/qx_*.cpp native/qx_gguf.cpp native/tests/test_qx.cpp; do
  case "$f" in
    *_avx2.cpp|*_avx512.cpp|*_avx512vbmi.cpp) continue ;;
    *_neondot.cpp) extra=(-march=armv8.2-a+dotprod) ;;
    *) extra=() ;;
  esac
  o="$OUT/$(basename "${f%.cpp}").o"
  "$CXX" "${FLAGS[@]}" "${extra[@]}" -c "$f" -o "$o"
  objs+=("$o")
done
"$CXX" -static -o "$OUT/test_qx" "${objs[@]}" -lpthread
echo "== qemu-aarch64 -cpu max (neon + neondot) =="
qemu-aarch64 -cpu max "$OUT/test_qx" | grep -E "checked|FAIL|passed"
echo "== qemu-aarch64 -cpu cortex-a53 (no dotprod: neon only) =="
qemu-aarch64 -cpu cortex-a53 "$OUT/test_qx" | grep -E "checked|FAIL|passed"
