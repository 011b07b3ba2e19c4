"""quantx-perplexity: llama-perplexity's protocol, optionally with KL divergence to a base model."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from tqdm import tqdm

from .. import QuantxError
from ..model import Model
from ..perplexity import perplexity


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="quantx-perplexity",
        description="Perplexity of a GGUF model on a text file, with llama-perplexity's protocol: "
                    "windows of c tokens, the second half of each scored. With --kl-base, also mean "
                    "KL divergence and same-top-1 rate against a base model on the same windows.")
    p.add_argument("model", help="path to a .gguf file")
    p.add_argument("-f", "--file", required=True, help="text file to score (e.g. WikiText-2 test)")
    p.add_argument("-c", "--ctx", type=int, default=512, help="window size in tokens (default 512)")
    p.add_argument("--chunks", type=int, default=None, help="score only the first N windows (default: all)")
    p.add_argument("-t", "--threads", type=int, default=None, help="threads (default: all hardware threads)")
    p.add_argument("--kl-base", default=None, help="base .gguf (e.g. the float model) for KL divergence")
    p.add_argument("--act", type=int, choices=(8, 16), default=None, help="activation path override")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        model = Model(args.model, threads=args.threads, act=args.act, n_ctx=max(args.ctx, 4))
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{args.file} is not UTF-8 text ({e.reason} at byte {e.start})") from None
        base = Model(args.kl_base, threads=args.threads, n_ctx=max(args.ctx, 4)) if args.kl_base else None
        bar = None if (args.quiet or args.json) else tqdm(desc="perplexity", unit="window", file=sys.stderr)

        def progress(done: int, total: int, ppl: float) -> None:
            if bar is not None:
                bar.total = total
                bar.set_postfix(ppl=f"{ppl:.3f}")
                bar.update(1)

        rep = perplexity(model, text, ctx=args.ctx, chunks=args.chunks, kl_base=base, progress=progress)
        if bar is not None:
            bar.close()
    except KeyboardInterrupt:
        print("quantx-perplexity: interrupted", file=sys.stderr)
        return 130
    except (QuantxError, OSError, ValueError) as e:
        print(f"quantx-perplexity: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rep.to_dict()))
    else:
        print(f"chunks = {rep.chunks}, tokens scored = {rep.tokens_scored}")
        print(f"PPL = {rep.ppl:.4f} +/- {rep.ppl_stderr:.4f}")
        if rep.mean_kld is not None:
            print(f"mean KLD = {rep.mean_kld:.6f}")
            print(f"same top-1 = {rep.same_top1:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
