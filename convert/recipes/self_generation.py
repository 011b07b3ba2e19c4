"""The model writes its own calibration text: batched decoding with preallocated KV caches.

transformers' generate() was most of the cost of data-free calibration on a CPU (SmolLM2-135M,
32 sequences of 512 tokens on 2 cores: 80 s), for two reasons that have nothing to do with the
model. Its dynamic cache grows by concatenation, so every step copies every layer's keys and
values (at 500 tokens, 60% of a step), and sampling draws an exponential variate for every
vocabulary entry of every row (torch.multinomial: a quarter of a step at the start). Here each
layer's keys and values are written in place into buffers sized for the whole sequence, and a
token is drawn by inverting the cumulative distribution with one uniform variate per row.

The decoder is run from the model's own modules (norms, projections, rotary embedding, MLP), so
its arithmetic is the model's; only attention is called directly. Covers the decoder layout of
the architectures the converter reads (llama, mistral, qwen2: pre-norm, grouped-query attention,
rotary positions), which tests check against transformers' own forward pass.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb


@dataclass
class KVBuffers:
    """Keys and values of every layer for `length` positions: [batch, kv_heads, length, head_dim]."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @classmethod
    def for_model(cls, model, batch: int, length: int) -> KVBuffers:
        cfg = model.config
        layers = model.model.layers
        kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        head_dim = layers[0].self_attn.head_dim
        shape = (batch, kv_heads, length, head_dim)
        dtype = model.model.embed_tokens.weight.dtype
        return cls([torch.empty(shape, dtype=dtype) for _ in layers], [torch.empty(shape, dtype=dtype) for _ in layers])


@torch.no_grad()
def decode_step(model, tokens: torch.Tensor, pos: int, kv: KVBuffers) -> torch.Tensor:
    """Logits [batch, vocab] of the token after tokens [batch, 1] at position pos, every earlier
    position already in kv; writes this position's keys and values into kv."""
    inner = model.model
    batch = tokens.shape[0]
    h = inner.embed_tokens(tokens)
    cos, sin = inner.rotary_emb(h, torch.full((batch, 1), pos, dtype=torch.long))
    for i, layer in enumerate(inner.layers):
        attn = layer.self_attn
        head_dim = attn.head_dim
        x = layer.input_layernorm(h)
        q = attn.q_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
        k = attn.k_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
        v = attn.v_proj(x).view(batch, 1, -1, head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        kv.keys[i][:, :, pos] = k[:, :, 0]
        kv.values[i][:, :, pos] = v[:, :, 0]
        kv_heads = k.shape[1]
        # One query position: the query heads that share a key/value head (transformers' repeat_kv
        # order) become that head's rows of queries, so no repeated copy of the cache is made and
        # no mask is needed (every cached position is visible).
        grouped = q.reshape(batch, kv_heads, -1, head_dim)
        scale = getattr(attn, "scaling", head_dim ** -0.5)
        o = F.scaled_dot_product_attention(grouped, kv.keys[i][:, :, :pos + 1], kv.values[i][:, :, :pos + 1],
                                           scale=scale)
        h = h + attn.o_proj(o.reshape(batch, 1, -1))
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return model.lm_head(inner.norm(h))[:, 0]


def sample_from_logits(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One token per row [batch, 1] drawn from softmax(logits) (temperature 1, no truncation) by
    inverting the cumulative distribution, in float64 so that no token of nonzero probability
    is lost to rounding. A token whose logit is -inf is never drawn."""
    probs = torch.softmax(logits.double(), -1)
    cdf = probs.cumsum(-1)
    u = torch.rand(logits.shape[0], 1, generator=gen, dtype=torch.float64)
    # right=True: the first index whose cumulative mass exceeds u * total, so a token of zero
    # mass (its cumulative value equal to its predecessor's) is never the answer
    idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    return idx.clamp_max(logits.shape[1] - 1)


def _never_drawn(model) -> list[int]:
    """End-of-sequence ids: calibration sequences run their full length (generate()'s min_new_tokens)."""
    eos = getattr(model.config, "eos_token_id", None)
    ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    return [i for i in ids if 0 <= i < model.config.vocab_size]


@torch.no_grad()
def write_sequences(model, first: torch.Tensor, seq_len: int, greedy_prefix: int, gen: torch.Generator,
                    on_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """Continue each first token [batch, 1] to seq_len tokens: greedily for greedy_prefix tokens
    (so the start is plausible), then sampled. on_step(tokens written per row so far)."""
    window = getattr(model.config, "sliding_window", None)
    if window is not None and seq_len > window and getattr(model.config, "use_sliding_window", True):
        # this decoder lets every position see the whole sequence, as the model does only up to its window
        raise ValueError(f"self-generated calibration: sequences of {seq_len} tokens are longer than the model's "
                         f"sliding attention window ({window}); use --calib-seq {window} or less, or --calib FILE")
    batch = first.shape[0]
    kv = KVBuffers.for_model(model, batch, seq_len)
    out = torch.empty(batch, seq_len, dtype=torch.long)
    out[:, :1] = first
    banned = _never_drawn(model)
    for pos in range(seq_len - 1):
        logits = decode_step(model, out[:, pos:pos + 1], pos, kv)
        if banned:
            logits[:, banned] = float("-inf")
        if pos < greedy_prefix:
            out[:, pos + 1:pos + 2] = logits.argmax(-1, keepdim=True)
        else:
            out[:, pos + 1:pos + 2] = sample_from_logits(logits, gen)
        if on_step is not None:
            on_step(pos + 2)
    return out
