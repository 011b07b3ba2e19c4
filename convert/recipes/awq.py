"""Activation-aware weight quantization (AWQ, Lin et al. 2023): scale search, folding, clip search.

Input channels that carry large activations are scaled up in the weight (W diag(s)) and the
activation is divided by s, which the previous operation absorbs, so inference cost and the
float function are unchanged. s = E|x|^alpha, alpha searched on a grid of 20 in [0, 1),
minimising the output error of the quantized linear layers on calibration activations.

Scaling pairs in a llama/qwen2 decoder layer:
  input_layernorm          -> q, k, v   (norm weight /= s)
  v_proj                   -> o         (v rows and bias /= s; with GQA one scale per v row,
                                         shared by the query heads that read it)
  post_attention_layernorm -> gate, up  (norm weight /= s)
  up_proj                  -> down      (up rows /= s; silu(gate) * up is linear in up)

Deviation from the paper's code: the loss is the output error of the scaled linear layers
themselves (for q/k/v the paper measures the attention block output).

W3A8 (SmoothQuant's concern): the runtime also rounds the activations, to int8 per block of 32,
and dividing x by s moves activation outliers into the weights, which shrinks that error. With
act_block set, the search adds the activation rounding error to the loss, so the chosen alpha
weighs both. Measured on SmolLM2-135M (layers 0, 5, 15, 29): at the weight-only alpha, int8
rounding of 32-blocks adds 1e-3 of the 3-bit weight error (the scaling already cut it 1.2-6x from
alpha = 0), and not one alpha changed; the term matters where the activations are coarser.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .calibration import LayerCalibration
from .uniform import quantize_uniform

Quantizer = Callable[[torch.Tensor], torch.Tensor]


def rtn_quantizer(bits: int, group_size: int) -> Quantizer:
    """Plain min/max asymmetric round-to-nearest with an integer zero-point (AWQ's pseudo-quantizer)."""
    return lambda w: quantize_uniform(w, bits, group_size, grid=1, refine_steps=0, integer_zero=True).dequantize()


@dataclass
class AttentionShape:
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @classmethod
    def of(cls, config) -> "AttentionShape":
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return cls(config.num_attention_heads, config.num_key_value_heads, head_dim)

    def expand_kv(self, s_kv: torch.Tensor) -> torch.Tensor:
        """Per-v-row scales [n_kv*hd] -> per-o-input-channel scales [n_heads*hd]."""
        rep = self.n_heads // self.n_kv_heads
        return s_kv.view(self.n_kv_heads, 1, self.head_dim).expand(-1, rep, -1).reshape(-1)

    def tie_kv(self, per_o_input: torch.Tensor) -> torch.Tensor:
        """Average a per-o-input statistic over the query heads sharing a kv head -> [n_kv*hd]."""
        rep = self.n_heads // self.n_kv_heads
        return per_o_input.view(self.n_kv_heads, rep, self.head_dim).mean(1).reshape(-1)


def fold_into_norm(norm: torch.nn.Module, linears: list[torch.nn.Linear], s: torch.Tensor) -> None:
    norm.weight.data /= s.to(norm.weight.dtype)
    for lin in linears:
        lin.weight.data *= s.to(lin.weight.dtype).unsqueeze(0)


def fold_into_previous_linear(prev: torch.nn.Linear, nxt: torch.nn.Linear, s_prev_rows: torch.Tensor,
                              s_next_cols: torch.Tensor) -> None:
    prev.weight.data /= s_prev_rows.to(prev.weight.dtype).unsqueeze(1)
    if prev.bias is not None:
        prev.bias.data /= s_prev_rows.to(prev.bias.dtype)
    nxt.weight.data *= s_next_cols.to(nxt.weight.dtype).unsqueeze(0)


ACT_BLOCK = 32  # the runtime's int8 activation blocks (BlockQ8)


def int8_block_error_sq(x: torch.Tensor, block: int = ACT_BLOCK) -> torch.Tensor:
    """E[e_j^2] per input channel j of the rounding error e of x [tokens, in] quantized as the
    runtime does for A8 (per `block` consecutive values: scale absmax / 127, round to nearest)."""
    xb = x.float().reshape(x.shape[0], -1, block)
    d = xb.abs().amax(-1, keepdim=True) / 127
    q = torch.round(xb / torch.where(d > 0, d, torch.ones_like(d))).clamp(-127, 127) * d
    return ((q - xb) ** 2).mean(0).reshape(-1)


@torch.no_grad()
def search_scale(x: torch.Tensor | None, x_abs_mean: torch.Tensor, weights: list[torch.Tensor], quantize: Quantizer,
                 grid: int = 20, tie: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 expand: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 hessian: torch.Tensor | None = None, act_x: torch.Tensor | None = None,
                 act_block: int | None = None) -> tuple[torch.Tensor, float, list[float]]:
    """Best per-input-channel scale for linears sharing input x [tokens, in].

    hessian: X^T X / tokens of the input instead of x: the same output error,
    tr(D H D^T) with D = Q(W diag(s)) diag(1/s) - W, from all calibration tokens at the cost
    of one [out, in] x [in, in] product per candidate instead of [tokens, in] x [in, out].
    tie/expand: for GQA v->o, scales live on the kv rows (tie reduces the statistic, expand
    maps the scale back to o's inputs). Returns (scale in o-input space, best alpha, losses).
    act_block: add the output error of rounding the scaled activations (samples act_x, or x) to
    int8 in blocks of act_block: sum_j E[e_j^2] ||(W diag(s))[:, j]||^2 per output row (rounding
    errors of different channels taken as uncorrelated), the units of the weight term.
    """
    if (x is None) == (hessian is None):
        raise ValueError("give exactly one of x and hessian")
    if x is not None:
        x = x.float()
        ref = [x @ w.float().T for w in weights]
    act_x = x if act_x is None else act_x.float()
    if act_block is not None and act_x is None:
        raise ValueError("the activation term needs activation samples (x or act_x)")
    if act_block is not None and act_x.shape[1] % act_block:
        act_block = None  # no A8 path for such rows: the runtime keeps these activations float
    stat = tie(x_abs_mean) if tie is not None else x_abs_mean
    best = (float("inf"), None, 0.0)
    losses = []
    for i in range(grid):
        alpha = i / grid
        s = stat.float().pow(alpha).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        s_full = expand(s) if expand is not None else s
        loss = 0.0
        if hessian is not None:
            for w in weights:
                d = quantize(w.float() * s_full.unsqueeze(0)) / s_full.unsqueeze(0) - w.float()
                loss += float(((d @ hessian) * d).sum()) / w.shape[0]
        else:
            xs = x / s_full
            for w, r in zip(weights, ref):
                wq = quantize(w.float() * s_full.unsqueeze(0))
                loss += float(((xs @ wq.T - r) ** 2).mean())
        if act_block is not None:
            e2 = int8_block_error_sq(act_x / s_full, act_block)
            for w in weights:
                loss += float(((w.float() * s_full.unsqueeze(0)) ** 2 @ e2).mean())
        losses.append(loss)
        if loss < best[0]:
            best = (loss, s_full, alpha)
    return best[1], best[2], losses


@torch.no_grad()
def search_clip(x: torch.Tensor, weight: torch.Tensor, bits: int, group_size: int, n_tokens: int = 512,
                grid: int = 20, max_shrink: float = 0.5) -> torch.Tensor:
    """AWQ's clip search: per (row, group) max |w| that minimises the group's partial output error.

    Returns the weight clamped to the chosen [-max, max] per group.
    """
    rows, cols = weight.shape
    tail = cols % group_size
    if tail:  # the short last group is searched on its own
        head = cols - tail
        first = search_clip(x[:, :head], weight[:, :head], bits, group_size, n_tokens, grid, max_shrink) if head else None
        last = search_clip(x[:, head:], weight[:, head:], bits, tail, n_tokens, grid, max_shrink)
        return last if first is None else torch.cat([first, last], 1)
    ng = cols // group_size
    quantize = rtn_quantizer(bits, group_size)
    idx = torch.linspace(0, x.shape[0] - 1, min(n_tokens, x.shape[0])).long()
    xg = x[idx].float().reshape(-1, ng, group_size)  # [t, g, k]
    wg = weight.float().reshape(rows, ng, group_size)
    ref = torch.einsum("rgk,tgk->rgt", wg, xg)
    org_max = wg.abs().amax(-1, keepdim=True)
    best_max = org_max.clone()
    best_err = torch.full((rows, ng), float("inf"))
    for i in range(int(max_shrink * grid)):
        max_val = org_max * (1 - i / grid)
        clipped = torch.maximum(torch.minimum(wg, max_val), -max_val)
        q = quantize(clipped.view(rows, cols))
        out = torch.einsum("rgk,tgk->rgt", q.view(rows, ng, group_size), xg)
        err = ((out - ref) ** 2).mean(-1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_max = torch.where(better.unsqueeze(-1), max_val, best_max)
    return torch.maximum(torch.minimum(wg, best_max), -best_max).view(rows, cols)


@dataclass
class AwqLayerReport:
    alphas: dict[str, float]
    # Per linear: the scale its input was divided by (folded into the previous op), so that
    # statistics gathered before the fold transform exactly: E[x^2] / s^2, H / (s s^T).
    input_scales: dict[str, torch.Tensor] = field(default_factory=dict)


@torch.no_grad()
def awq_scale_layer(lc: LayerCalibration, shape: AttentionShape, quantize: Quantizer,
                    grid: int = 20, use_hessian: bool = False,
                    act_block: int | None = None) -> tuple[AwqLayerReport, dict[str, torch.Tensor]]:
    """Search and fold the four AWQ scalings of one decoder layer.

    Returns the report and the kept calibration inputs of every linear, divided by the
    folded scales (i.e. the inputs the scaled layer now sees).
    use_hessian: score the scales with the inputs' Hessians (all calibration tokens; needs
    stream_layers(with_hessian=True)) instead of the kept samples (the paper's way).
    act_block: also weigh the int8 activation rounding of W3A8 (search_scale), on the kept samples.
    """
    layer = lc.layer
    attn, mlp = layer.self_attn, layer.mlp
    st = lc.stats
    x_qkv = st["self_attn.q_proj"].sample_matrix()
    x_o = st["self_attn.o_proj"].sample_matrix()
    x_up = st["mlp.gate_proj"].sample_matrix()
    x_down = st["mlp.down_proj"].sample_matrix()
    alphas: dict[str, float] = {}

    def search(owner: str, x: torch.Tensor, weights: list[torch.Tensor], **kw) -> tuple[torch.Tensor, float, list[float]]:
        if use_hessian:
            return search_scale(None, st[owner].abs_mean, weights, quantize, grid, hessian=st[owner].hessian,
                                act_x=x, act_block=act_block, **kw)
        return search_scale(x, st[owner].abs_mean, weights, quantize, grid, act_block=act_block, **kw)

    s, alphas["qkv"], _ = search("self_attn.q_proj", x_qkv, [attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
    fold_into_norm(layer.input_layernorm, [attn.q_proj, attn.k_proj, attn.v_proj], s)
    x_qkv = x_qkv / s
    s_qkv = s

    s, alphas["o"], _ = search("self_attn.o_proj", x_o, [attn.o_proj.weight], tie=shape.tie_kv, expand=shape.expand_kv)
    s_kv = shape.tie_kv(s)  # exact: s is constant over the heads sharing a kv head
    fold_into_previous_linear(attn.v_proj, attn.o_proj, s_kv, s)
    x_o = x_o / s
    s_o = s

    s, alphas["gate_up"], _ = search("mlp.gate_proj", x_up, [mlp.gate_proj.weight, mlp.up_proj.weight])
    fold_into_norm(layer.post_attention_layernorm, [mlp.gate_proj, mlp.up_proj], s)
    x_up = x_up / s
    s_up = s

    s, alphas["down"], _ = search("mlp.down_proj", x_down, [mlp.down_proj.weight])
    fold_into_previous_linear(mlp.up_proj, mlp.down_proj, s, s)
    x_down = x_down / s

    inputs = {"self_attn.q_proj": x_qkv, "self_attn.k_proj": x_qkv, "self_attn.v_proj": x_qkv,
              "self_attn.o_proj": x_o, "mlp.gate_proj": x_up, "mlp.up_proj": x_up, "mlp.down_proj": x_down}
    scales = {"self_attn.q_proj": s_qkv, "self_attn.k_proj": s_qkv, "self_attn.v_proj": s_qkv,
              "self_attn.o_proj": s_o, "mlp.gate_proj": s_up, "mlp.up_proj": s_up, "mlp.down_proj": s}
    return AwqLayerReport(alphas=alphas, input_scales=scales), inputs
