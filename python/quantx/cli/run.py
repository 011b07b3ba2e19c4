"""quantx-run: generate text with a GGUF model on the CPU."""
from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Optional, Sequence

from .. import QuantxError
from ..model import Model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="quantx-run",
        description="Generate text from a prompt with a GGUF model (llama, qwen2; llama.cpp's types and "
                    "QuantX's 3-bit formats) on the CPU. The text streams to stdout; a line of timings "
                    "goes to stderr at the end.")
    p.add_argument("model", help="path to a .gguf file")
    p.add_argument("-p", "--prompt", required=True, help="the prompt text")
    p.add_argument("-n", "--n-predict", type=int, default=128, help="tokens to generate at most (default 128)")
    p.add_argument("-t", "--threads", type=int, default=None, help="threads (default: all hardware threads)")
    p.add_argument("-c", "--ctx-size", type=int, default=None, help="context size (default: the model's)")
    p.add_argument("--temp", type=float, default=0.8, help="temperature; 0 is greedy (default 0.8)")
    p.add_argument("--top-k", type=int, default=40, help="top-k filter, 0 = off (default 40)")
    p.add_argument("--top-p", type=float, default=0.95, help="top-p (nucleus) filter, 1 = off (default 0.95)")
    p.add_argument("--min-p", type=float, default=0.05, help="min-p filter, 0 = off (default 0.05)")
    p.add_argument("--repeat-penalty", type=float, default=1.1, help="repetition penalty, 1 = off (default 1.1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the file's chat template")
    p.add_argument("--act", type=int, choices=(8, 16), default=None,
                   help="activation path: 8 (int8 integer dot products) or 16 (float); default: the file's")
    p.add_argument("--kv-type", choices=("f16", "f32"), default="f16",
                   help="the KV cache's element type: f16 (default, as llama.cpp: half the memory and the "
                        "attention reads) or f32 (keys and values exactly as computed)")
    p.add_argument("-v", "--verbose", action="store_true", help="print the model's tensor types to stderr")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n_predict < 0:
        print("quantx-run: error: -n must be >= 0", file=sys.stderr)
        return 2
    try:
        t0 = time.perf_counter()
        model = Model(args.model, threads=args.threads, act=args.act, n_ctx=args.ctx_size, kv_type=args.kv_type)
        load_s = time.perf_counter() - t0
        if args.verbose:
            types: dict[str, int] = {}
            for name, ty in model.tensor_types().items():
                print(f"  {name}: {ty}", file=sys.stderr)
                types[ty] = types.get(ty, 0) + 1
            print("tensor types: " + ", ".join(f"{k} x{v}" for k, v in sorted(types.items())), file=sys.stderr)
        prompt = model.chat_prompt(args.prompt) if args.chat else args.prompt
        n_prompt = len(model.tokenize(prompt))
        t_first: Optional[float] = None
        t1 = time.perf_counter()
        for piece in model.generate(prompt, max_tokens=args.n_predict, temperature=args.temp, top_k=args.top_k,
                                    top_p=args.top_p, min_p=args.min_p, repeat_penalty=args.repeat_penalty,
                                    seed=args.seed):
            if t_first is None:
                t_first = time.perf_counter()
            sys.stdout.write(piece)
            sys.stdout.flush()
        t2 = time.perf_counter()
        n_gen = max(model.n_past - n_prompt, 0)
        # The first sampled token comes out of the prompt pass; the rest are generation steps.
        prompt_s = (t_first or t2) - t1
        gen_s = t2 - (t_first or t2)
        sys.stdout.write("\n")
        pp = n_prompt / prompt_s if prompt_s > 0 else float("inf")
        tg = (n_gen / gen_s) if gen_s > 0 and n_gen > 0 else 0.0
        print(f"load {load_s * 1000:.0f} ms | prompt {n_prompt} tokens, {pp:.1f} t/s | "
              f"generated {n_gen} tokens, {tg:.1f} t/s | threads {model.threads}", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        print("quantx-run: interrupted", file=sys.stderr)
        return 130
    except (QuantxError, OSError, ValueError) as e:
        print(f"quantx-run: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    status = main()
    # Once the work is done, Ctrl-C simply ends the process: a KeyboardInterrupt
    # raised during interpreter shutdown would print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(status)
