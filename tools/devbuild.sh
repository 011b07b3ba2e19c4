#!/usr/bin/env bash
# Developer build without installing: compiles the native code (and the native
# test executables) into build/dev-cmake and assembles the package as the wheel
# lays it out (python/quantx + convert/ as quantx/convert + the extension) in
# build/dev. Then: PYTHONPATH=build/dev python -m pytest
# Extra CMake arguments pass through, e.g. tools/devbuild.sh -DQUANTX_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${QX_BUILD_DIR:-build/dev-cmake}
OUT=${QX_DEV_DIR:-build/dev}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=${QX_BUILD_TYPE:-Release} -DQUANTX_TESTS=ON \
  -DPython_EXECUTABLE="$(command -v python3)" -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build "$BUILD" -j"${QX_JOBS:-2}"
rm -rf "$OUT/quantx"
mkdir -p "$OUT"
cp -r python/quantx "$OUT/quantx"
cp -r convert "$OUT/quantx/convert"
cp "$BUILD"/_native*.so "$BUILD"/libquantx.so "$OUT/quantx/"
mkdir -p "$OUT/quantx/include" && cp native/include/quantx.h "$OUT/quantx/include/"
echo "dev package ready: PYTHONPATH=$OUT"
