"""quantx-convert: a Hugging Face llama/qwen2 folder to a GGUF file.

By default the QuantX recipe quantizes every linear weight of the decoder blocks to about
3.1 bits per weight (uniform or codebook format chosen per weight, activation-aware scales
folded into the norms, GPTQ rounding, sensitivity-driven mixed precision to --bpw), then
tunes the group scales, codebook entries and norms end to end against the float model
(--tune-epochs).
--outtype instead writes one plain type for every weight (f16, q8_0, or a QuantX format by
round-to-nearest).
"""
from __future__ import annotations

import argparse
import signal
import sys

EPILOG = """\
input: a Hugging Face model folder with config.json, *.safetensors (single or
sharded via model.safetensors.index.json; F32/F16/BF16) and tokenizer.json or
tokenizer.model. Supported: LlamaForCausalLM (Llama 2/3, TinyLlama, SmolLM,
Mistral-style), MistralForCausalLM, Qwen2ForCausalLM. Pickle checkpoints (.bin)
are refused.

recipes (--recipe): default       uniform grid (QX3_U) or codebook (QX3_T) per
                                  weight, within --bpw; the budget also buys QX4_T
                                  and Q8_0 for the most sensitive weights (and QX4_U
                                  above 3.3)
                    uniform       every weight on the 3-bit uniform grid (QX3_U)
                    codebook      every weight with one fitted 3-bit codebook per
                                  matrix (QX3_T)
                    row-codebook  one fitted 3-bit codebook per row (QX3_C)
calibration: --calib FILE (plain text) or, without it, text the model writes
itself (data-free). The source, token count and hash are recorded in the file
(quantx.calibration.*). The model's text is cached (--calib-cache), keyed by a
hash of the weights and the generation settings: converting the same model again
reuses it and writes the same file.

The output follows llama.cpp's GGUF conventions (tensor names, Q/K permutation
for llama, tokenizer metadata, chat template). It is written to a temp file
beside OUT and moved into place only when complete.

exit status: 0 ok, 1 conversion refused (message on stderr), 130/143 interrupted.
examples:
  quantx-convert ./SmolLM2-135M-Instruct smollm2-qx3.gguf
  quantx-convert ./SmolLM2-135M-Instruct quick-qx3.gguf --calib-samples 32   # half the time
  quantx-convert ./model model-qx.gguf --calib wiki.txt --bpw 4.14 --report report.json
  quantx-convert ./model model-f16.gguf --outtype f16
"""


def build_parser(outtypes: list[str], recipes: list[str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="quantx-convert", description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir", help="Hugging Face model folder")
    ap.add_argument("out", help="output .gguf path")
    q = ap.add_argument_group("QuantX recipe (the default)")
    q.add_argument("--recipe", default="default", choices=recipes, help="how weights get their formats (default: default)")
    q.add_argument("--bpw", type=float, help="bit budget: average bits per weight over the quantized linear weights "
                   "(default 3.15; the most sensitive weights get QX4_T or Q8_0 within it, and QX4_U too above 3.3)")
    q.add_argument("--act", type=int, choices=(8, 16), help="activations at run time: 8 = int8 (W3A8, the fast "
                   "path) or 16 = float (W3A16); default 8")
    q.add_argument("--calib", metavar="FILE", help="calibration text file (default: data-free, model-generated text)")
    q.add_argument("--calib-samples", type=int, metavar="N", help="calibration sequences (default "
                   "128); every step uses them and the tuning passes over all of them, so more give a better "
                   "model and a longer conversion (SmolLM2-135M on 2 cores: 128 gave WikiText-2 perplexity "
                   "25.1-25.7 in about 8.5 min with the calibration text cached, 3.5 more the first time; 32 gave 28.0)")
    q.add_argument("--calib-seq", type=int, metavar="N", help="tokens per calibration sequence (default 512)")
    q.add_argument("--calib-cache", metavar="DIR", help="where the model-written calibration text is kept, so the "
                   "next conversion of the same model (another --bpw, --recipe, --act) skips generating it, "
                   "about 3.5 of the 12 minutes for SmolLM2-135M on 2 cores (default: $QUANTX_CACHE_DIR, else "
                   "$XDG_CACHE_HOME/quantx, else ~/.cache/quantx)")
    q.add_argument("--no-calib-cache", action="store_true", help="generate the calibration text afresh and keep "
                   "nothing")
    q.add_argument("--tune-epochs", type=int, metavar="N", help="passes of the end-to-end tuning of the group "
                   "scales and norms against the float model's outputs (default 1; 0: no tuning)")
    q.add_argument("--tune-precision", choices=("auto", "fp32", "bf16"), help="precision of the tuning's matrix "
                   "products (default auto: bf16 where the CPU has bf16 instructions, e.g. AVX512_BF16 or AMX, which "
                   "tunes as well and 1.5x faster; fp32 elsewhere, where bf16 is emulated and slower)")
    q.add_argument("--tune-tables", action=argparse.BooleanOptionalAction, default=None,
                   help="tune the free entries of the codebooks (QX3_T/QX4_T) with the scales (default: on; "
                   "--no-tune-tables keeps the fitted codebooks)")
    q.add_argument("--report", metavar="FILE", help="write the per-tensor choices and criteria as JSON")
    q.add_argument("--plot", metavar="DIR", help="draw each layer's weight histograms with the uniform and codebook "
                   "levels and the choice (PNG per layer)")
    q.add_argument("--threads", type=int, metavar="N", help="CPU threads for the quantization (default: all)")
    q.add_argument("--low-memory", action="store_true", help="give large freed buffers back to the OS at once "
                   "(glibc): the same file, a lower peak memory, a slower conversion (SmolLM2-135M, 8 "
                   "calibration sequences: peak RSS 2.19 -> 1.69 GB; the layers 2.1x and the Fisher pass 1.5x "
                   "slower)")
    ap.add_argument("--outtype", choices=outtypes,
                    help="instead of a recipe, one type for every 2-D weight (1-D tensors stay F32)")
    ap.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    ap.add_argument("--allow-nonfinite", action="store_true", help="convert even if weights contain NaN/Inf")
    ap.add_argument("--pre-tokenizer", metavar="NAME",
                    help="set tokenizer.ggml.pre instead of detecting it (e.g. llama-bpe, qwen2, smollm, gpt-2)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    return ap


def _plain(args) -> int:
    from quantx.convert import convert

    rep = convert(args.hf_dir, args.out, args.outtype, force=args.force, allow_nonfinite=args.allow_nonfinite,
                  quiet=args.quiet, pre_tokenizer=args.pre_tokenizer)
    if not args.quiet:
        types = ", ".join(f"{k}: {v}" for k, v in sorted(rep.tensor_types.items()))
        print(f"wrote {rep.out_path} ({rep.output_bytes / 1e6:.1f} MB, {rep.arch}, {rep.n_tensors} tensors [{types}], "
              f"{rep.n_params / 1e6:.1f}M params, tokenizer {rep.tokenizer_model}/{rep.pre_tokenizer}, "
              f"{rep.seconds:.1f} s)", file=sys.stderr)
    return 0


class _Bars:
    """One tqdm bar per stage of progress(stage, done, total)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.stage, self.bar = quiet, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, tqdm(total=total, desc=stage, file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _recipe(args) -> int:
    from quantx.convert.quantize import CalibrationOptions, quantize
    from quantx.convert.recipes.calibration_cache import default_cache_dir
    from quantx.convert.recipes.memory import fix_mmap_threshold
    from quantx.convert.recipes.recipe import recipe_by_name
    from quantx.convert.recipes.report import format_table

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # e.g. the calibration text being longer than the model's context
    if args.quiet:
        hf_logging.disable_progress_bar()
    if args.tune_epochs is not None and args.tune_epochs < 0:
        print("quantx-convert: error: --tune-epochs must be 0 or more", file=sys.stderr)
        return 2
    # The Fisher pass and the tuning make many short-lived tensors that glibc keeps resident once
    # freed (recipes/memory.py); serving them from mmap instead costs page faults, so only on request.
    if args.low_memory and not fix_mmap_threshold():
        print("quantx-convert: note: --low-memory needs glibc's mallopt; converting with the default allocator",
              file=sys.stderr)
    recipe = recipe_by_name(args.recipe, bpw=args.bpw, act=args.act, tune_epochs=args.tune_epochs,
                            tune_precision=args.tune_precision, tune_tables=args.tune_tables)
    given = {"samples": args.calib_samples, "seq_len": args.calib_seq}  # unset: CalibrationOptions' defaults
    cache = None if args.no_calib_cache else (args.calib_cache or default_cache_dir())
    calib = CalibrationOptions(args.calib, **{k: v for k, v in given.items() if v is not None}, cache_dir=cache)
    bars = _Bars(args.quiet)
    try:
        rep = quantize(args.hf_dir, args.out, recipe, calib, force=args.force, quiet=args.quiet,
                       allow_nonfinite=args.allow_nonfinite, pre_tokenizer=args.pre_tokenizer,
                       report_path=args.report, plot_dir=args.plot, progress=bars)
    finally:
        bars.close()
    if not args.quiet:
        print(format_table(rep), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from quantx.convert import ConvertError, ConvertInterrupted
    from quantx.convert.outtypes import available_outtypes
    from quantx.convert.recipes.recipe import RECIPES

    args = build_parser(list(available_outtypes()), list(RECIPES)).parse_args(argv)
    if args.calib_cache and args.no_calib_cache:
        print("quantx-convert: error: --calib-cache and --no-calib-cache contradict each other", file=sys.stderr)
        return 1
    if args.outtype and (args.bpw is not None or args.calib or args.report or args.plot or args.recipe != "default"
                         or args.tune_epochs is not None
                         or args.tune_precision is not None or args.tune_tables is not None):
        print("quantx-convert: error: --outtype writes one plain type; --recipe/--bpw/--calib/--tune-epochs/"
              "--tune-precision/--tune-tables/--report belong to the QuantX recipe", file=sys.stderr)
        return 1
    try:
        return _plain(args) if args.outtype else _recipe(args)
    except ConvertInterrupted as e:
        print(f"quantx-convert: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("quantx-convert: interrupted; no output was written", file=sys.stderr)
        return 128 + signal.SIGINT
    except (ConvertError, ValueError) as e:
        print(f"quantx-convert: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
