#!/usr/bin/env bash
# Fuzz the GGUF reader with libFuzzer + ASan/UBSan for N seconds (default 60).
#   tools/fuzz.sh [SECONDS] [extra libFuzzer args...]
# Builds the runtime library with clang into build/fuzz (the same CMake rules
# as the real build, plus coverage instrumentation), links
# native/tests/fuzz_gguf.cpp against it, and runs it on a scratch copy of the
# seed corpus tests/fuzz_corpus/gguf. Crashing inputs land in build/fuzz/
# (crash-*, timeout-*, oom-*); turn each into a regression test in
# tests/test_gguf.py.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
B=build/fuzz
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DQUANTX_PYTHON=OFF -DQUANTX_TESTS=OFF -DQUANTX_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$B" --target quantx_core -j"${QX_JOBS:-2}"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Inative native/tests/fuzz_gguf.cpp "$B/libquantx_core.a" -lpthread -o "$B/fuzz_gguf"
mkdir -p "$B/corpus"
cp -n tests/fuzz_corpus/gguf/* "$B/corpus/"
cd "$B"
# Inputs are kept small so mutations reach every field; the RSS limit turns
# an unbounded allocation into a reported failure.
exec ./fuzz_gguf corpus -max_total_time="$SECS" -max_len=8192 -rss_limit_mb=1024 -timeout=10 \
  -dict=../../tests/fuzz_corpus/gguf.dict -print_final_stats=1 "$@"
