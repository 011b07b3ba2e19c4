"""Non-uniform codebook quantization by weighted k-means (SqueezeLLM-style).

Each segment of weights (a whole row, a group of consecutive columns in a row, or the
whole tensor) gets its own table of k levels. Levels are fitted by Lloyd iterations on
the objective sum_j imp_j (w_j - c[a_j])^2 with imp_j = E[x_j^2] of the input column, so
levels gather where the weights that matter for the layer's output are. Which segment
layout a file can store is the format's business; here it is a parameter.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

Granularity = Literal["row", "group", "tensor"]


@dataclass
class KMeansResult:
    centroids: torch.Tensor  # [segments, k]
    assignment: torch.Tensor  # int64 [segments, length]
    objective_history: list[float] = field(default_factory=list)  # after each Lloyd step


def _weighted_quantile_init(x: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    order = torch.argsort(x, dim=-1)
    xs = torch.gather(x, -1, order)
    ws = torch.gather(w, -1, order)
    cdf = torch.cumsum(ws, -1)
    cdf = cdf / cdf[:, -1:].clamp_min(1e-30)
    targets = (torch.arange(k, dtype=x.dtype) + 0.5) / k
    idx = torch.searchsorted(cdf.contiguous(), targets.expand(x.shape[0], k).contiguous())
    idx = idx.clamp_(max=x.shape[1] - 1)
    return torch.gather(xs, -1, idx)


def _assign(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return torch.argmin((x.unsqueeze(-1) - c.unsqueeze(1)).abs(), dim=-1)


def _objective(x: torch.Tensor, w: torch.Tensor, c: torch.Tensor, a: torch.Tensor) -> float:
    return float((w * (x - torch.gather(c, -1, a)) ** 2).sum())


def weighted_kmeans(x: torch.Tensor, w: torch.Tensor, k: int = 8, iters: int = 30, tol: float = 1e-7) -> KMeansResult:
    """Independent 1-D weighted k-means for every row of x [segments, length] with weights w (same shape).

    Lloyd's steps (assign to nearest, then weighted mean) each never increase the objective,
    so objective_history is non-increasing. An empty cluster keeps its previous level.
    """
    x = x.to(torch.float64)
    w = w.to(torch.float64).expand_as(x) + 0.0
    c = _weighted_quantile_init(x, w, k)
    a = _assign(x, c)
    history = [_objective(x, w, c, a)]
    for _ in range(iters):
        wsum = torch.zeros(x.shape[0], k, dtype=x.dtype).scatter_add_(1, a, w)
        xsum = torch.zeros(x.shape[0], k, dtype=x.dtype).scatter_add_(1, a, w * x)
        c = torch.where(wsum > 0, xsum / wsum.clamp_min(1e-300), c)
        a = _assign(x, c)
        history.append(_objective(x, w, c, a))
        if history[-2] - history[-1] <= tol * max(history[-2], 1e-30):
            break
    return KMeansResult(centroids=c, assignment=a, objective_history=history)


@dataclass
class CodebookQuant:
    """Codes into per-segment tables for one weight matrix (rows x cols)."""

    codes: torch.Tensor  # uint8 [rows, cols]
    tables: torch.Tensor  # float32 [segments, k], fp16-representable
    granularity: Granularity
    group_size: int  # columns per segment for "group"; cols for "row"; rows*cols for "tensor"

    def dequantize(self) -> torch.Tensor:
        rows, cols = self.codes.shape
        seg_codes = self.codes.long().reshape(self.tables.shape[0], -1)
        return torch.gather(self.tables, -1, seg_codes).reshape(rows, cols)

    @property
    def bits_per_weight(self) -> float:
        rows, cols = self.codes.shape
        k = self.tables.shape[1]
        code_bits = (k - 1).bit_length()
        return code_bits + 16.0 * self.tables.numel() / (rows * cols)


def _segments(weight: torch.Tensor, importance: torch.Tensor, granularity: Granularity, group_size: int):
    rows, cols = weight.shape
    imp = importance.reshape(1, cols).expand(rows, cols)
    if granularity == "row":
        return weight.reshape(rows, cols), imp.reshape(rows, cols), cols
    if granularity == "group":
        if cols % group_size:
            raise ValueError(f"columns {cols} are not a multiple of the group size {group_size}")
        return weight.reshape(-1, group_size), imp.reshape(-1, group_size), group_size
    if granularity == "tensor":
        return weight.reshape(1, -1), imp.reshape(1, -1), rows * cols
    raise ValueError(f"unknown codebook granularity {granularity!r}")


def quantize_codebook(
    weight: torch.Tensor,
    importance: torch.Tensor | None = None,
    k: int = 8,
    granularity: Granularity = "row",
    group_size: int = 128,
    iters: int = 30,
) -> CodebookQuant:
    """Fit a k-entry table per segment with weighted k-means; tables are rounded to fp16."""
    weight = weight.detach().to(torch.float32)
    rows, cols = weight.shape
    if importance is None:
        importance = torch.ones(cols)
    importance = importance.detach().to(torch.float32)
    importance = importance + 1e-8 * importance.mean().clamp_min(1e-30)
    x, w, seg_len = _segments(weight, importance, granularity, group_size)
    km = weighted_kmeans(x, w, k=k, iters=iters)
    tables = km.centroids.to(torch.float16).to(torch.float32)
    # Re-assign against the fp16 levels actually stored.
    codes = _assign(x, tables)
    return CodebookQuant(codes=codes.reshape(rows, cols).to(torch.uint8), tables=tables,
                         granularity=granularity, group_size=seg_len)
