"""RoPE scaling: GGUF keys for linear/yarn, and llama3's per-frequency factors tensor."""
from __future__ import annotations

import math
from typing import Any

import gguf
import numpy as np

from .errors import ConvertError

ROPE_FREQS_NAME = "rope_freqs.weight"


def _num(s: dict[str, Any], key: str, default: float | None = None) -> float:
    v = s.get(key, default)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ConvertError(f"rope scaling needs a numeric '{key}', got {v!r}")
    return float(v)


def write_rope_scaling(w: gguf.GGUFWriter, scaling: dict[str, Any] | None) -> None:
    if not scaling:
        return
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(_num(scaling, "factor"))
    elif kind == "yarn":
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(_num(scaling, "factor"))
        if "original_max_position_embeddings" in scaling:
            w.add_rope_scaling_orig_ctx_len(int(_num(scaling, "original_max_position_embeddings")))
    elif kind == "llama3":
        pass  # carried by the rope_freqs tensor, as llama.cpp does
    else:
        raise ConvertError(f"rope scaling type {kind!r} is not supported (supported: linear, yarn, llama3)")


def llama3_rope_factors(scaling: dict[str, Any] | None, theta: float, head_dim: int) -> np.ndarray | None:
    """Llama 3.1's frequency-dependent scaling as divisors of the base frequencies:
    high frequencies keep theirs, low ones are divided by `factor`, and the band
    between is interpolated smoothly in inverse wavelength."""
    if not scaling or scaling.get("rope_type", scaling.get("type")) != "llama3":
        return None
    factor = _num(scaling, "factor", 8.0)
    low = _num(scaling, "low_freq_factor", 1.0)
    high = _num(scaling, "high_freq_factor", 4.0)
    old_ctx = _num(scaling, "original_max_position_embeddings", 8192)
    if high <= low:
        raise ConvertError("llama3 rope scaling needs high_freq_factor > low_freq_factor")
    freqs = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    out = np.empty_like(freqs)
    for i, fr in enumerate(freqs):
        wavelen = 2 * math.pi / fr
        if wavelen < old_ctx / high:
            out[i] = 1.0
        elif wavelen > old_ctx / low:
            out[i] = factor
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out[i] = 1.0 / ((1 - smooth) / factor + smooth)
    return out.astype(np.float32)
