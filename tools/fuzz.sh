#!/usr/bin/env bash
# Fuzz one harness for N seconds (default 60).
#   tools/fuzz.sh HARNESS [SECONDS] [extra libFuzzer args...]
#   HARNESS: gguf | tokenizer (native, libFuzzer + ASan/UBSan, clang)
#            chat_template (Python, atheris, through quantx.chat)
#   tools/fuzz.sh HARNESS --regress   # only replay the seed corpus (CI)
# Native harnesses: the runtime library is built with clang into build/fuzz
# (the same CMake rules as the real build plus coverage instrumentation) and
# native/tests/fuzz_HARNESS.cpp is linked against it. Each harness runs on a
# scratch corpus build/fuzz/corpus-HARNESS seeded from tests/fuzz_corpus/HARNESS
# (with tests/fuzz_corpus/HARNESS.dict if present). Crashing inputs land in
# build/fuzz/ (crash-*, timeout-*, oom-*); turn each into a regression test in
# tests/test_fuzz_regressions.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# Backwards compatible: "tools/fuzz.sh 600" fuzzes the GGUF reader.
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then set -- gguf "$@"; fi
H=${1:?usage: tools/fuzz.sh gguf|tokenizer|chat_template [SECONDS|--regress] [libFuzzer args...]}
shift
SECS=60
REGRESS=0
if [ "${1:-}" = "--regress" ]; then REGRESS=1; shift
elif [ -n "${1:-}" ] && [[ "$1" =~ ^[0-9]+$ ]]; then SECS=$1; shift
fi
B=build/fuzz
mkdir -p "$B/corpus-$H"
[ -d "tests/fuzz_corpus/$H" ] && cp -n tests/fuzz_corpus/"$H"/* "$B/corpus-$H/" 2>/dev/null || true
DICT=()
[ -f "tests/fuzz_corpus/$H.dict" ] && DICT=(-dict="$ROOT/tests/fuzz_corpus/$H.dict")

# Per-harness input size limits: GGUF inputs stay small so mutations reach
# every field; tokenizer inputs go up to 64 KiB (long words, long runs of
# one byte class); templates are short programs.
case "$H" in
  gguf) MAXLEN=8192 ;;
  tokenizer) MAXLEN=65536 ;;
  chat_template) MAXLEN=4096 ;;
  *) echo "unknown harness '$H' (gguf, tokenizer, chat_template)" >&2; exit 2 ;;
esac
# The RSS limit turns an unbounded allocation into a reported failure.
ARGS=(-max_len=$MAXLEN -rss_limit_mb=1024 -timeout=10 "${DICT[@]}" -print_final_stats=1)

if [ "$H" = chat_template ]; then
  # atheris (pip) instruments the Python code it imports; the package must
  # be importable (PYTHONPATH=build/dev after tools/devbuild.sh, or installed).
  [ -d "$ROOT/build/dev/quantx" ] && export PYTHONPATH="$ROOT/build/dev${PYTHONPATH:+:$PYTHONPATH}"
  RUN=(python3 "$ROOT/tools/fuzz_chat_template.py")
else
  LOCK="$B/.build.lock"
  (
    flock 9
    cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
      -DQUANTX_PYTHON=OFF -DQUANTX_TESTS=OFF -DQUANTX_SANITIZE=ON \
      -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
    cmake --build "$B" --target quantx_core -j"${QX_JOBS:-2}" >/dev/null
    clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -Inative "native/tests/fuzz_$H.cpp" "$B/libquantx_core.a" -lpthread -o "$B/fuzz_$H.new"
    mv "$B/fuzz_$H.new" "$B/fuzz_$H"
  ) 9>"$LOCK"
  if [ "$H" = tokenizer ]; then
    mkdir -p "$B/vocab"
    cp tests/fuzz_corpus/tokenizer_vocab/spm.gguf "$B/vocab/"
    [ -f "$B/vocab/bpe.gguf" ] || python3 tools/fuzz_vocabs.py bpe "$B/vocab/bpe.gguf"
    export QX_FUZZ_VOCAB_DIR="$ROOT/$B/vocab"
  fi
  RUN=("$ROOT/$B/fuzz_$H")
fi

cd "$B"
if [ "$REGRESS" = 1 ]; then
  # Replays every seed once (no mutation): a crash here is a regression.
  exec "${RUN[@]}" "${ARGS[@]}" -runs=0 "corpus-$H" "$ROOT/tests/fuzz_corpus/$H" "$@"
fi
exec "${RUN[@]}" "corpus-$H" -max_total_time="$SECS" "${ARGS[@]}" "$@"
