"""quantx-convert: a Hugging Face llama/qwen2 folder to a GGUF file."""
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

The output follows llama.cpp's GGUF conventions (tensor names, Q/K permutation
for llama, tokenizer metadata, chat template). It is written to a temp file
beside OUT and moved into place only when complete.

exit status: 0 ok, 1 conversion refused (message on stderr), 130/143 interrupted.
examples:
  quantx-convert ./SmolLM2-135M-Instruct smollm2-f16.gguf
  quantx-convert ./model model-q8.gguf --outtype q8_0 --force
"""


def build_parser(outtypes: list[str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="quantx-convert", description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir", help="Hugging Face model folder")
    ap.add_argument("out", help="output .gguf path")
    ap.add_argument("--outtype", default="f16", choices=outtypes,
                    help="weight type for 2-D tensors (1-D tensors stay F32); default f16")
    ap.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    ap.add_argument("--allow-nonfinite", action="store_true", help="convert even if weights contain NaN/Inf")
    ap.add_argument("--pre-tokenizer", metavar="NAME",
                    help="set tokenizer.ggml.pre instead of detecting it (e.g. llama-bpe, qwen2, smollm, gpt-2)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    return ap


def main(argv: list[str] | None = None) -> int:
    from quantx.convert import ConvertError, ConvertInterrupted, convert
    from quantx.convert.outtypes import available_outtypes

    args = build_parser(list(available_outtypes())).parse_args(argv)
    try:
        rep = convert(args.hf_dir, args.out, args.outtype, force=args.force, allow_nonfinite=args.allow_nonfinite,
                      quiet=args.quiet, pre_tokenizer=args.pre_tokenizer)
    except ConvertInterrupted as e:
        print(f"quantx-convert: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("quantx-convert: interrupted; no output was written", file=sys.stderr)
        return 128 + signal.SIGINT
    except ConvertError as e:
        print(f"quantx-convert: error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        types = ", ".join(f"{k}: {v}" for k, v in sorted(rep.tensor_types.items()))
        print(f"wrote {rep.out_path} ({rep.output_bytes / 1e6:.1f} MB, {rep.arch}, {rep.n_tensors} tensors [{types}], "
              f"{rep.n_params / 1e6:.1f}M params, tokenizer {rep.tokenizer_model}/{rep.pre_tokenizer}, "
              f"{rep.seconds:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
