"""Per-group asymmetric uniform quantization with an activation-weighted clipping search.

A weight row is cut into groups of `group_size` consecutive input columns; each group
stores a scale d and a minimum m (both fp16 in the file), and a code q in [0, 2^bits-1]
per weight, dequantizing to d*q + m.

The (d, m) pair is chosen to minimise the activation-weighted error
sum_j imp_j (w_j - w^_j)^2 with imp_j = E[x_j^2] of the layer's input column j: this is
the diagonal part of the output error ||XW^T - XW^^T||^2, which is what the layer's
output actually suffers. Plain min/max is one of the candidates, so the search is never
worse than min/max under that objective.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class UniformGroups:
    """Codes and per-group parameters of one weight matrix (rows x cols)."""

    codes: torch.Tensor  # uint8 [rows, cols]
    scale: torch.Tensor  # float32 [rows, n_groups], fp16-representable
    minimum: torch.Tensor  # float32 [rows, n_groups], fp16-representable
    bits: int
    group_size: int  # the last group of a row is shorter when cols is not a multiple

    def dequantize(self) -> torch.Tensor:
        cols = self.codes.shape[1]
        scale = self.scale.repeat_interleave(self.group_size, dim=1)[:, :cols]
        minimum = self.minimum.repeat_interleave(self.group_size, dim=1)[:, :cols]
        return self.codes.float() * scale + minimum

    @property
    def bits_per_weight(self) -> float:
        """Code bits plus the fp16 scale and minimum of every group, per weight."""
        return self.bits + 32.0 * self.scale.shape[1] / self.codes.shape[1]


def _as_fp16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


def _codes_for(wg: torch.Tensor, scale: torch.Tensor, minimum: torch.Tensor, qmax: int) -> torch.Tensor:
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round((wg - minimum.unsqueeze(-1)) / safe.unsqueeze(-1)).clamp_(0, qmax)
    return torch.where((scale > 0).unsqueeze(-1), q, torch.zeros_like(q))


def _weighted_err(wg: torch.Tensor, q: torch.Tensor, scale: torch.Tensor, minimum: torch.Tensor,
                  imp: torch.Tensor) -> torch.Tensor:
    deq = q * scale.unsqueeze(-1) + minimum.unsqueeze(-1)
    return ((deq - wg) ** 2 * imp).sum(-1)


def _params_from_range(lo: torch.Tensor, hi: torch.Tensor, qmax: int,
                       integer_zero: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    scale = _as_fp16((hi - lo) / qmax)
    if not integer_zero:
        return scale, _as_fp16(lo)
    # AWQ/GPTQ's zero-point: an integer code z with minimum -z*d, so w = 0 is a grid point.
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    zero = torch.round(-lo / safe).clamp_(0, qmax)
    return scale, torch.where(scale > 0, -zero * scale, _as_fp16(lo))


def _least_squares_params(wg: torch.Tensor, q: torch.Tensor, imp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted least-squares (d, m) for fixed codes; `ok` marks groups where it is defined."""
    sw = imp.sum(-1)
    sq = (imp * q).sum(-1)
    sqq = (imp * q * q).sum(-1)
    sx = (imp * wg).sum(-1)
    sqx = (imp * q * wg).sum(-1)
    det = sw * sqq - sq * sq
    ok = det > 1e-12 * (sw * sqq).clamp_min(1e-30)
    safe = torch.where(ok, det, torch.ones_like(det))
    scale = (sw * sqx - sq * sx) / safe
    minimum = (sqq * sx - sq * sqx) / safe
    ok = ok & (scale > 0)
    return _as_fp16(scale), _as_fp16(minimum), ok


def quantize_uniform(
    weight: torch.Tensor,
    bits: int = 3,
    group_size: int = 64,
    importance: torch.Tensor | None = None,
    grid: int = 20,
    min_ratio: float = 0.5,
    refine_steps: int = 2,
    integer_zero: bool = False,
) -> UniformGroups:
    """Asymmetric per-group quantization of `weight` [rows, cols].

    importance: per-input-column weights (E[x^2]); None means all ones.
    grid: number of range-shrink ratios tried in [min_ratio, 1]; grid=1 with refine_steps=0
    is plain min/max round-to-nearest.
    refine_steps: rounds of weighted least-squares refitting of (d, m) for the chosen codes,
    each kept only where it lowers the weighted error.
    integer_zero: the minimum is -z*d for an integer code z (AWQ's and GPTQ's quantizers), so an
    exact zero weight stays exactly zero. On SmolLM2-135M this alone takes plain RTN W3 G64 from
    PPL ~175 to ~65 (10 windows): small weights at the few huge-activation input channels must
    stay near zero. Least-squares refits would move the minimum off the grid, so refine_steps
    must be 0 with it.
    """
    if integer_zero and refine_steps:
        raise ValueError("integer_zero keeps the minimum on the code grid; it needs refine_steps=0")
    rows, cols = weight.shape
    qmax = (1 << bits) - 1
    w = weight.detach().to(torch.float32)
    imp = torch.ones(cols) if importance is None else importance.detach().to(torch.float32)
    # A column never seen active still matters a little: keep the objective positive definite.
    imp = imp + 1e-8 * imp.mean().clamp_min(1e-30)
    pad = -cols % group_size
    if pad:
        # A short last group: pad it with copies of its last column (inside its range, so min/max
        # are unchanged) carrying zero importance (so the error is unchanged); codes are cut off.
        w = torch.cat([w, w[:, -1:].expand(rows, pad)], 1)
        imp = torch.cat([imp, torch.zeros(pad)])
    n_groups = (cols + pad) // group_size
    wg = w.reshape(rows, n_groups, group_size)
    imp = imp.reshape(1, n_groups, group_size).expand_as(wg)

    lo0 = wg.amin(-1)
    hi0 = wg.amax(-1)
    best_scale, best_min = _params_from_range(lo0, hi0, qmax, integer_zero)
    best_q = _codes_for(wg, best_scale, best_min, qmax)
    best_err = _weighted_err(wg, best_q, best_scale, best_min, imp)
    ratios = torch.linspace(1.0, min_ratio, grid)[1:] if grid > 1 else torch.empty(0)
    for r in ratios.tolist():
        scale, minimum = _params_from_range(lo0 * r, hi0 * r, qmax, integer_zero)
        q = _codes_for(wg, scale, minimum, qmax)
        err = _weighted_err(wg, q, scale, minimum, imp)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_scale = torch.where(better, scale, best_scale)
        best_min = torch.where(better, minimum, best_min)
        best_q = torch.where(better.unsqueeze(-1), q, best_q)
    for _ in range(refine_steps):
        scale, minimum, ok = _least_squares_params(wg, best_q, imp)
        q = _codes_for(wg, scale, minimum, qmax)
        err = _weighted_err(wg, q, scale, minimum, imp)
        better = ok & (err < best_err)
        best_err = torch.where(better, err, best_err)
        best_scale = torch.where(better, scale, best_scale)
        best_min = torch.where(better, minimum, best_min)
        best_q = torch.where(better.unsqueeze(-1), q, best_q)
    return UniformGroups(
        codes=best_q.reshape(rows, cols + pad)[:, :cols].to(torch.uint8),
        scale=best_scale,
        minimum=best_min,
        bits=bits,
        group_size=group_size,
    )


def quantize_with_params(weight: torch.Tensor, scale: torch.Tensor, minimum: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes of `weight` [rows, g] (one group) for given per-row (d, m); used by GPTQ column by column."""
    qmax = (1 << bits) - 1
    return _codes_for(weight.unsqueeze(1), scale.unsqueeze(1), minimum.unsqueeze(1), qmax).squeeze(1)


def weighted_error(weight: torch.Tensor, dequantized: torch.Tensor, importance: torch.Tensor | None) -> float:
    """sum_ij imp_j (w_ij - w^_ij)^2."""
    d2 = (weight.float() - dequantized.float()) ** 2
    if importance is not None:
        d2 = d2 * importance.float().unsqueeze(0)
    return float(d2.sum())
