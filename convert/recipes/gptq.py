"""GPTQ (Frantar et al. 2022): column-by-column rounding with Hessian-based error feedback.

The quantization error of column i is spread over the not-yet-quantized columns through
the inverse Hessian H^-1 (H = X^T X of the layer's calibration inputs), which minimises the
output error ||XW^T - XW^^T|| greedily. Group mode as in the paper's code: the (scale, min)
of a group are fixed when its first column is reached, from the error-updated weights of
that group, and then used for every column of the group. With act_order the columns are
visited by decreasing H_ii; the group parameters are then computed up front from the
original weights ("static groups") so that groups stay contiguous in the original column
order, which is what a file format with per-group parameters can store.
"""
from __future__ import annotations

import torch

from .uniform import UniformGroups, quantize_uniform, quantize_with_params


def inverse_hessian_upper_cholesky(hessian: torch.Tensor, damp: float) -> torch.Tensor:
    """Upper Cholesky factor of (H + damp * mean(diag H) * I)^-1, the form GPTQ's column loop
    reads its error feedback from (more damping when H is numerically indefinite)."""
    h = hessian.clone()
    diag = torch.arange(h.shape[0])
    h[diag, diag] += damp * torch.mean(torch.diag(h))
    for attempt in range(5):
        lower, info = torch.linalg.cholesky_ex(h)
        if int(info) == 0:
            break
        # Numerically indefinite (few samples): add more damping and retry.
        h[diag, diag] += damp * torch.mean(torch.diag(h)) * (10 ** attempt)
    else:
        raise RuntimeError("GPTQ: Hessian is not positive definite even after extra damping")
    hinv = torch.cholesky_inverse(lower)
    return torch.linalg.cholesky(hinv, upper=True)


def gptq_quantize(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    bits: int = 3,
    group_size: int = 64,
    act_order: bool = False,
    damp: float = 0.01,
    block_size: int = 128,
    clip_search: bool = False,
) -> UniformGroups:
    """Quantize `weight` [rows, cols] with GPTQ given `hessian` [cols, cols] (X^T X, any scale).

    clip_search: choose each group's (scale, min) with the activation-weighted clipping
    search of `quantize_uniform` (importance = diag H) instead of GPTQ's plain min/max.
    """
    rows, cols = weight.shape
    block_size = max(block_size // group_size, 1) * group_size
    w = weight.detach().to(torch.float32).clone()
    h = hessian.detach().to(torch.float32).clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    importance = torch.diag(h).clone()
    n_groups = -(-cols // group_size)  # the last group may be short
    scale = torch.zeros(rows, n_groups)
    minimum = torch.zeros(rows, n_groups)
    grid, refine = (20, 2) if clip_search else (1, 0)

    def set_group_params(g: int, group_weights: torch.Tensor) -> None:
        width = group_weights.shape[1]
        p = quantize_uniform(group_weights, bits, width, importance[g * group_size:g * group_size + width],
                             grid=grid, refine_steps=refine, integer_zero=not clip_search)
        scale[:, g] = p.scale[:, 0]
        minimum[:, g] = p.minimum[:, 0]

    if act_order:
        for g in range(n_groups):
            set_group_params(g, w[:, g * group_size:(g + 1) * group_size])
        perm = torch.argsort(torch.diag(h), descending=True)
    else:
        perm = torch.arange(cols)
    w = w[:, perm]
    h = h[perm][:, perm]
    hinv = inverse_hessian_upper_cholesky(h, damp)
    codes = torch.zeros(rows, cols)

    for i1 in range(0, cols, block_size):
        i2 = min(i1 + block_size, cols)
        w1 = w[:, i1:i2].clone()
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = int(perm[i1 + i])
            g = col // group_size
            if not act_order and col % group_size == 0:
                # Block size is a multiple of the group size, so the whole group is in w1 and current.
                set_group_params(g, w1[:, i:i + group_size])
            wcol = w1[:, i]
            q = quantize_with_params(wcol.unsqueeze(1), scale[:, g], minimum[:, g], bits).squeeze(1)
            codes[:, col] = q
            deq = q * scale[:, g] + minimum[:, g]
            e = (wcol - deq) / hinv1[i, i]
            w1[:, i:] -= e.unsqueeze(1) * hinv1[i, i:].unsqueeze(0)
            err1[:, i] = e
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]

    return UniformGroups(codes=codes.to(torch.uint8), scale=scale, minimum=minimum, bits=bits,
                         group_size=group_size)
