"""Reference 3-bit methods that fake-quantize an HF llama/qwen2 model in place (float weights
holding dequantized values): RTN, AWQ (scale + clip search) and GPTQ, all asymmetric with
per-group fp16 scale and an integer zero-point as in the papers' code (plain RTN, AWQ and GPTQ;
the `search`/`wsearch` variants keep a free fp16 minimum). They are the baselines the QuantX recipes are measured against.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .awq import AttentionShape, awq_scale_layer, rtn_quantizer, search_clip
from .calibration import LINEAR_NAMES, CalibrationSet, decoder_layers, stream_layers
from .gptq import gptq_quantize
from .uniform import quantize_uniform


@dataclass
class QuantReport:
    method: str
    bits_per_weight: float  # over the quantized linear weights, with scale/min overhead
    quantized_params: int
    seconds: float = 0.0
    details: dict = field(default_factory=dict)


def _linears(layer) -> list[tuple[str, torch.nn.Linear]]:
    return [(name, layer.get_submodule(name)) for name in LINEAR_NAMES]


def _count(model) -> int:
    return sum(lin.weight.numel() for layer in decoder_layers(model) for _, lin in _linears(layer))


def _bpw(model, bits: int, group_size: int) -> float:
    """Bits per quantized weight with an fp16 scale and minimum per group (short last groups included)."""
    total = groups = 0
    for layer in decoder_layers(model):
        for _, lin in _linears(layer):
            rows, cols = lin.weight.shape
            total += rows * cols
            groups += rows * -(-cols // group_size)
    return bits + 32.0 * groups / total


@torch.no_grad()
def rtn(model, bits: int = 3, group_size: int = 64) -> QuantReport:
    t = time.perf_counter()
    quantize = rtn_quantizer(bits, group_size)
    for layer in decoder_layers(model):
        for _, lin in _linears(layer):
            lin.weight.data.copy_(quantize(lin.weight.data))
    return QuantReport(f"rtn-w{bits}-g{group_size}", _bpw(model, bits, group_size), _count(model),
                       time.perf_counter() - t)


@torch.no_grad()
def searched_uniform(model, calib: CalibrationSet | None, bits: int = 3, group_size: int = 64,
                     batch_size: int = 8) -> QuantReport:
    """Round-to-nearest with the clipping/least-squares search of `quantize_uniform` per group:
    weight-MSE without calibration, activation-weighted (E[x^2]) with it (float propagation)."""
    t = time.perf_counter()
    if calib is None:
        for layer in decoder_layers(model):
            for _, lin in _linears(layer):
                lin.weight.data.copy_(quantize_uniform(lin.weight.data, bits, group_size).dequantize())
    else:
        for lc in stream_layers(model, calib, batch_size=batch_size, with_hessian=False, keep_samples=0,
                                propagate="float"):
            for name, lin in _linears(lc.layer):
                q = quantize_uniform(lin.weight.data, bits, group_size, lc.stats[name].sq_mean)
                lin.weight.data.copy_(q.dequantize())
    tag = "wsearch" if calib is not None else "search"
    return QuantReport(f"{tag}-w{bits}-g{group_size}", _bpw(model, bits, group_size), _count(model),
                       time.perf_counter() - t)


@torch.no_grad()
def awq(model, calib: CalibrationSet, bits: int = 3, group_size: int = 64, grid: int = 20,
        keep_samples: int = 8, batch_size: int = 8) -> QuantReport:
    """AWQ: per layer, search and fold scales, search clipping (not for q/k, as in the paper), then RTN.

    Layers see float outputs of the previous (scaled, unquantized) layer, as in the paper's code.
    """
    t = time.perf_counter()
    shape = AttentionShape.of(model.config)
    quantize = rtn_quantizer(bits, group_size)
    alphas = []
    for lc in stream_layers(model, calib, batch_size=batch_size, with_hessian=False, keep_samples=keep_samples,
                            propagate="float"):
        report, inputs = awq_scale_layer(lc, shape, quantize, grid)
        alphas.append(report.alphas)
        for name, lin in _linears(lc.layer):
            w = lin.weight.data
            if name not in ("self_attn.q_proj", "self_attn.k_proj"):
                w = search_clip(inputs[name], w, bits, group_size)
            lin.weight.data.copy_(quantize(w))
    return QuantReport(f"awq-w{bits}-g{group_size}", _bpw(model, bits, group_size), _count(model),
                       time.perf_counter() - t, {"alphas": alphas})


@torch.no_grad()
def gptq(model, calib: CalibrationSet, bits: int = 3, group_size: int = 64, act_order: bool = False,
         clip_search: bool = False, batch_size: int = 8) -> QuantReport:
    """GPTQ: each layer quantized with the Hessian of its inputs, which come from the already
    quantized previous layers (sequential, as in the paper). All linears of a layer use inputs
    from the layer's float weights (no "true-sequential" within the layer)."""
    t = time.perf_counter()
    for lc in stream_layers(model, calib, batch_size=batch_size, with_hessian=True, keep_samples=0,
                            propagate="quantized"):
        for name, lin in _linears(lc.layer):
            q = gptq_quantize(lin.weight.data, lc.stats[name].hessian, bits, group_size, act_order=act_order,
                              clip_search=clip_search)
            lin.weight.data.copy_(q.dequantize())
    tag = "gptq" + ("-act" if act_order else "") + ("-clip" if clip_search else "")
    return QuantReport(f"{tag}-w{bits}-g{group_size}", _bpw(model, bits, group_size), _count(model),
                       time.perf_counter() - t)
