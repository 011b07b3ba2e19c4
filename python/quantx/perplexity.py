"""Perplexity and KL divergence with llama-perplexity's protocol.

Tokenize the whole text once (BOS only where the tokenizer adds one at the
start), cut it into non-overlapping windows of `ctx` tokens, evaluate each
window from an empty cache (its first token replaced by BOS when the model
adds BOS, as llama-perplexity does), and score the second half: the logits at
positions ctx/2 .. ctx-2 predict tokens ctx/2+1 .. ctx-1. PPL = exp(mean NLL).
With a base model, the same windows also give mean KL(base || model) over the
full vocabulary and how often both pick the same top-1 token.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

if TYPE_CHECKING:
    from .model import Model


@dataclass
class PerplexityReport:
    ppl: float
    ppl_stderr: float
    chunks: int
    tokens_scored: int
    ctx: int
    mean_kld: Optional[float] = None
    kld_stderr: Optional[float] = None
    same_top1: Optional[float] = None  # percent

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def windows(model: "Model", text: str, ctx: int, chunks: Optional[int]) -> list[list[int]]:
    if ctx < 4 or ctx % 2:
        raise ValueError(f"ctx must be an even number >= 4, not {ctx}")
    if ctx > model.n_ctx:
        raise ValueError(f"ctx {ctx} exceeds the model's context {model.n_ctx}")
    tokens = model.tokenize(text, add_special=True)
    available = len(tokens) // ctx
    if available == 0:
        raise ValueError(f"text has {len(tokens)} tokens, fewer than one window of {ctx}")
    n = available if chunks is None else min(chunks, available)
    bos = model.bos_id
    adds_bos = bos >= 0 and len(tokens) > 0 and tokens[0] == bos
    out = []
    for i in range(n):
        w = tokens[i * ctx:(i + 1) * ctx]
        if adds_bos:
            w[0] = bos
        out.append(w)
    return out


def perplexity(model: "Model", text: str, ctx: int = 512, chunks: Optional[int] = None,
               kl_base: Optional["Model"] = None,
               progress: Optional[Callable[[int, int, float], None]] = None) -> PerplexityReport:
    ws = windows(model, text, ctx, chunks)
    first = ctx // 2
    nll_all: list[np.ndarray] = []
    kld_all: list[np.ndarray] = []
    same = 0
    for i, w in enumerate(ws):
        model.reset()
        lp = _log_softmax(model.eval(w, logits_from=first)[:-1])
        targets = np.asarray(w[first + 1:], dtype=np.int64)
        nll_all.append(-lp[np.arange(len(targets)), targets])
        if kl_base is not None:
            kl_base.reset()
            lb = _log_softmax(kl_base.eval(w, logits_from=first)[:-1])
            kld_all.append((np.exp(lb) * (lb - lp)).sum(axis=-1))
            same += int((lb.argmax(axis=-1) == lp.argmax(axis=-1)).sum())
        if progress:
            nll = np.concatenate(nll_all)
            progress(i + 1, len(ws), math.exp(nll.mean()))
    model.reset()
    nll = np.concatenate(nll_all)
    mean = float(nll.mean())
    ppl = math.exp(mean)
    var = float((nll ** 2).mean() - mean ** 2)
    stderr = ppl * math.sqrt(max(var, 0.0) / max(len(nll) - 1, 1))
    rep = PerplexityReport(ppl=ppl, ppl_stderr=stderr, chunks=len(ws), tokens_scored=len(nll), ctx=ctx)
    if kl_base is not None:
        kl_base.reset()
        kld = np.concatenate(kld_all)
        rep.mean_kld = float(kld.mean())
        rep.kld_stderr = float(kld.std(ddof=1) / math.sqrt(len(kld))) if len(kld) > 1 else 0.0
        rep.same_top1 = 100.0 * same / len(kld)
    return rep
