"""What each supported Hugging Face architecture becomes in GGUF.

Hyperparameters come from config.json; tensor names follow llama.cpp (via
gguf-py's TensorNameMap); every expected tensor gets its shape from the
config so a checkpoint that disagrees with its config is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np

from .errors import ConvertError

SUPPORTED = {
    "LlamaForCausalLM": (gguf.MODEL_ARCH.LLAMA, "llama"),
    "MistralForCausalLM": (gguf.MODEL_ARCH.LLAMA, "llama"),
    "Qwen2ForCausalLM": (gguf.MODEL_ARCH.QWEN2, "qwen2"),
}


@dataclass(frozen=True)
class HParams:
    hf_arch: str
    arch: str                     # GGUF general.architecture
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    n_ctx: int
    rms_eps: float
    rope_theta: float
    rope_scaling: dict[str, Any] | None
    tied: bool
    attn_bias: bool               # q/k/v biases (always for qwen2)


def _get(cfg: dict[str, Any], key: str, typ: type, default: Any = None) -> Any:
    v = cfg.get(key, default)
    if v is None:
        raise ConvertError(f"config.json lacks '{key}'")
    if typ is float and isinstance(v, int):
        v = float(v)
    if not isinstance(v, typ) or isinstance(v, bool) != (typ is bool):
        raise ConvertError(f"config.json '{key}' is {v!r}, expected a {typ.__name__}")
    return v


def _rope_params(cfg: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """rope_theta and a non-default scaling dict, from either the transformers<5 keys
    (rope_theta, rope_scaling) or transformers 5's rope_parameters."""
    params = cfg.get("rope_parameters") if isinstance(cfg.get("rope_parameters"), dict) else {}
    theta = cfg.get("rope_theta", params.get("rope_theta", 10000.0))
    if not isinstance(theta, (int, float)) or isinstance(theta, bool) or theta <= 0:
        raise ConvertError(f"config.json rope_theta is {theta!r}, expected a positive number")
    scaling = cfg.get("rope_scaling") or params
    if scaling:
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind == "default":
            scaling = None
    return float(theta), (dict(scaling) if scaling else None)


def read_hparams(cfg: dict[str, Any]) -> HParams:
    archs = cfg.get("architectures")
    if not isinstance(archs, list) or not archs:
        raise ConvertError("config.json has no 'architectures' list; cannot tell what model this is. "
                           f"Supported: {', '.join(SUPPORTED)}")
    hf_arch = str(archs[0])
    if hf_arch not in SUPPORTED:
        raise ConvertError(f"unsupported architecture {hf_arch}; supported: {', '.join(SUPPORTED)}")
    arch = SUPPORTED[hf_arch][1]
    n_embd = _get(cfg, "hidden_size", int)
    n_head = _get(cfg, "num_attention_heads", int)
    n_head_kv = _get(cfg, "num_key_value_heads", int, n_head)
    head_dim = cfg.get("head_dim") or n_embd // n_head
    if n_head <= 0 or n_head_kv <= 0 or n_head % n_head_kv:
        raise ConvertError(f"config.json: num_attention_heads={n_head} is not a multiple of num_key_value_heads={n_head_kv}")
    if head_dim % 2:
        raise ConvertError(f"config.json: head dimension {head_dim} is odd; RoPE needs it even")
    if cfg.get("mlp_bias"):
        raise ConvertError(f"{hf_arch} with mlp_bias=true is not supported")
    rope_theta, scaling = _rope_params(cfg)
    return HParams(
        hf_arch=hf_arch, arch=arch,
        n_layer=_get(cfg, "num_hidden_layers", int),
        n_embd=n_embd,
        n_ff=_get(cfg, "intermediate_size", int),
        n_head=n_head, n_head_kv=n_head_kv, head_dim=int(head_dim),
        n_vocab=_get(cfg, "vocab_size", int),
        n_ctx=_get(cfg, "max_position_embeddings", int),
        rms_eps=_get(cfg, "rms_norm_eps", float),
        rope_theta=rope_theta, rope_scaling=scaling,
        tied=bool(cfg.get("tie_word_embeddings", False)),
        attn_bias=arch == "qwen2" or bool(cfg.get("attention_bias", False)),
    )


@dataclass(frozen=True)
class TensorSpec:
    """One GGUF tensor: where it comes from and its shape (numpy order: rows, cols)."""
    gguf_name: str
    hf_name: str
    shape: tuple[int, ...]
    layer: int | None             # block index, None for global tensors
    role: str                     # e.g. "attn_q", "ffn_down", "token_embd"
    permute_heads: int = 0        # >0: apply llama.cpp's Q/K row permutation with this many heads

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))


def expected_tensors(hp: HParams) -> list[TensorSpec]:
    """The HF tensors the config implies, in the order they are written."""
    e, f, hd = hp.n_embd, hp.n_ff, hp.head_dim
    q_rows, kv_rows = hp.n_head * hd, hp.n_head_kv * hd
    permute = hp.arch == "llama"   # llama.cpp permutes Q/K for `llama` only, never for qwen2
    specs = [TensorSpec("token_embd.weight", "model.embed_tokens.weight", (hp.n_vocab, e), None, "token_embd")]
    for i in range(hp.n_layer):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        specs.append(TensorSpec(b + "attn_norm.weight", p + "input_layernorm.weight", (e,), i, "attn_norm"))
        for proj, role, rows, heads in (("q", "attn_q", q_rows, hp.n_head), ("k", "attn_k", kv_rows, hp.n_head_kv),
                                        ("v", "attn_v", kv_rows, 0)):
            ph = heads if permute else 0
            specs.append(TensorSpec(f"{b}{role}.weight", f"{p}self_attn.{proj}_proj.weight", (rows, e), i, role, ph))
            if hp.attn_bias:
                specs.append(TensorSpec(f"{b}{role}.bias", f"{p}self_attn.{proj}_proj.bias", (rows,), i, role, ph))
        specs.append(TensorSpec(b + "attn_output.weight", p + "self_attn.o_proj.weight", (e, q_rows), i, "attn_output"))
        specs.append(TensorSpec(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", (e,), i, "ffn_norm"))
        specs.append(TensorSpec(b + "ffn_gate.weight", p + "mlp.gate_proj.weight", (f, e), i, "ffn_gate"))
        specs.append(TensorSpec(b + "ffn_up.weight", p + "mlp.up_proj.weight", (f, e), i, "ffn_up"))
        specs.append(TensorSpec(b + "ffn_down.weight", p + "mlp.down_proj.weight", (e, f), i, "ffn_down"))
    specs.append(TensorSpec("output_norm.weight", "model.norm.weight", (e,), None, "output_norm"))
    if not hp.tied:
        specs.append(TensorSpec("output.weight", "lm_head.weight", (hp.n_vocab, e), None, "output"))
    return specs


# Present in some checkpoints, never needed: RoPE caches are recomputed by the runtime,
# and a tied model may still store its (identical) lm_head.
IGNORABLE_SUFFIXES = (".rotary_emb.inv_freq",)


def check_tensor_set(hp: HParams, specs: list[TensorSpec], present: dict[str, tuple[int, ...]]) -> None:
    """Refuse missing, unexpected or mis-shaped tensors, naming them."""
    expected = {s.hf_name: s for s in specs}
    missing = [n for n in expected if n not in present]
    if missing:
        raise ConvertError(f"checkpoint is missing {len(missing)} tensor(s) that config.json implies: "
                           f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    unexpected = [n for n in present if n not in expected and not n.endswith(IGNORABLE_SUFFIXES)
                  and not (hp.tied and n == "lm_head.weight")]
    if unexpected:
        raise ConvertError(f"checkpoint has {len(unexpected)} unexpected tensor(s) for {hp.hf_arch}: "
                           f"{', '.join(sorted(unexpected)[:5])}{' ...' if len(unexpected) > 5 else ''}")
    for s in specs:
        if tuple(present[s.hf_name]) != s.shape:
            raise ConvertError(f"tensor {s.hf_name} has shape {list(present[s.hf_name])} but config.json implies "
                               f"{list(s.shape)} (hidden_size={hp.n_embd}, intermediate_size={hp.n_ff}, "
                               f"heads={hp.n_head}, kv_heads={hp.n_head_kv}, head_dim={hp.head_dim}, "
                               f"vocab_size={hp.n_vocab})")


def permute_qk(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder each head's rows from HF's rotate-half layout (first half, second half) to
    llama.cpp's interleaved pairs, so GGML's RoPE on adjacent elements computes the same thing."""
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, 2, half, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of permute_qk."""
    rows = w.shape[0]
    half = rows // n_heads // 2
    return w.reshape(n_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
