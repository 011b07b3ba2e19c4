"""Per-layer criteria a recipe uses to choose between uniform and codebook candidates."""
from __future__ import annotations

import torch

from .awq import AttentionShape


def output_error(x: torch.Tensor, weight: torch.Tensor, dequantized: torch.Tensor) -> float:
    """Relative output error ||XW^T - XW^^T||^2 / ||XW^T||^2 on calibration inputs x [tokens, in]."""
    x, weight, dequantized = x.detach().float(), weight.detach().float(), dequantized.detach().float()
    ref = x @ weight.T
    return float(((x @ (weight.float() - dequantized.float()).T) ** 2).sum() / (ref ** 2).sum().clamp_min(1e-30))


def output_error_from_hessian(hessian: torch.Tensor, weight: torch.Tensor, dequantized: torch.Tensor) -> float:
    """The same relative error from H = X^T X / n: tr(D H D^T) / tr(W H W^T) with D = W - W^."""
    h = hessian.detach().float()
    w = weight.detach().float()
    d = w - dequantized.detach().float()
    return float(((d @ h) * d).sum() / ((w @ h) * w).sum().clamp_min(1e-30))


def rope_tables(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [seq, head_dim] of the default (unscaled) rotary embedding, rotate-half layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    ang = torch.cat([ang, ang], -1)
    return ang.cos().float(), ang.sin().float()


def _apply_rope(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """t [heads, seq, hd]."""
    half = t.shape[-1] // 2
    rotated = torch.cat([-t[..., half:], t[..., :half]], -1)
    return t * cos + rotated * sin


def _attention_logprobs(x, wq, wk, bq, bk, shape: AttentionShape, cos, sin) -> torch.Tensor:
    seq = x.shape[0]
    q = torch.nn.functional.linear(x, wq.float(), None if bq is None else bq.float())
    k = torch.nn.functional.linear(x, wk.float(), None if bk is None else bk.float())
    q = q.view(seq, shape.n_heads, shape.head_dim).transpose(0, 1)
    k = k.view(seq, shape.n_kv_heads, shape.head_dim).transpose(0, 1)
    q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
    k = k.repeat_interleave(shape.n_heads // shape.n_kv_heads, dim=0)
    scores = q @ k.transpose(1, 2) / shape.head_dim ** 0.5
    causal = torch.ones(seq, seq, dtype=torch.bool).triu_(1)
    return torch.log_softmax(scores.masked_fill(causal, float("-inf")), -1), causal


@torch.no_grad()
def attention_map_distortion(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, wq_hat: torch.Tensor,
                             wk_hat: torch.Tensor, shape: AttentionShape, rope: tuple[torch.Tensor, torch.Tensor],
                             bq: torch.Tensor | None = None, bk: torch.Tensor | None = None) -> float:
    """Mean KL(softmax(QK^T/sqrt d) float || quantized) over heads and query positions.

    x: the attention input (after input_layernorm) of one calibration sequence [seq, hidden];
    rope: (cos, sin) [seq, head_dim] for positions 0..seq-1 (e.g. from the model's rotary_emb).
    """
    cos, sin = rope
    x = x.float()
    lp, causal = _attention_logprobs(x, wq, wk, bq, bk, shape, cos, sin)
    lq, _ = _attention_logprobs(x, wq_hat, wk_hat, bq, bk, shape, cos, sin)
    kl = (lp.exp() * (lp - lq)).masked_fill(causal, 0.0).sum(-1)
    return float(kl.mean())


def critical_outlier_score(weight: torch.Tensor, levels: torch.Tensor, importance: torch.Tensor,
                           tau: float = 0.5) -> float:
    """Activation-weighted mass of weights far from every level of their segment's table.

    levels [segments, k] with segments tiling weight row-major (per row, per group or one
    for the tensor). A weight is critical when its distance to the nearest level exceeds
    tau times the segment's mean level spacing; the score is sum imp_j d^2 over critical
    weights divided by sum imp_j w^2 (so it is the share of the layer's weighted energy lost
    to them).
    """
    rows, cols = weight.shape
    segs, k = levels.shape
    w = weight.float().reshape(segs, -1)
    imp = importance.float().reshape(1, cols).expand(rows, cols).reshape(segs, -1)
    lv = levels.float()
    d = (w.unsqueeze(-1) - lv.unsqueeze(1)).abs().amin(-1)
    spacing = (lv.amax(-1) - lv.amin(-1)) / max(k - 1, 1)
    critical = d > tau * spacing.unsqueeze(-1)
    return float((imp * d * d * critical).sum() / (imp * w * w).sum().clamp_min(1e-30))
