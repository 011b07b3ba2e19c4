"""Tiny random llama-family GGUF files written with gguf-py, for tests of the
runtime's input checks (each test breaks one thing on purpose)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import gguf
import numpy as np


def byte_vocab() -> tuple[list[str], list[int]]:
    """A GPT-2 style vocabulary of the 256 byte symbols plus BOS/EOS (no merges)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    tokens = [chr(table[b]) for b in range(256)] + ["<s>", "</s>"]
    types = [1] * 256 + [3, 3]
    return tokens, types


def write_tiny_llama(path: Path, *, arch: str = "llama", n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                     n_head_kv: int = 2, n_ff: int = 128, ctx: int = 64, seed: int = 0,
                     skip_keys: tuple[str, ...] = (), skip_tensors: tuple[str, ...] = (),
                     extra: Optional[Callable[[gguf.GGUFWriter], None]] = None,
                     tensor_override: Optional[dict[str, tuple[np.ndarray, Any]]] = None) -> Path:
    rng = np.random.default_rng(seed)
    tokens, types = byte_vocab()
    n_vocab = len(tokens)
    w = gguf.GGUFWriter(str(path), arch)
    kv: dict[str, Callable[[], None]] = {
        f"{arch}.block_count": lambda: w.add_block_count(n_layer),
        f"{arch}.context_length": lambda: w.add_context_length(ctx),
        f"{arch}.embedding_length": lambda: w.add_embedding_length(n_embd),
        f"{arch}.feed_forward_length": lambda: w.add_feed_forward_length(n_ff),
        f"{arch}.attention.head_count": lambda: w.add_head_count(n_head),
        f"{arch}.attention.head_count_kv": lambda: w.add_head_count_kv(n_head_kv),
        f"{arch}.attention.layer_norm_rms_epsilon": lambda: w.add_layer_norm_rms_eps(1e-5),
        f"{arch}.rope.freq_base": lambda: w.add_rope_freq_base(10000.0),
        "tokenizer.ggml.model": lambda: w.add_tokenizer_model("gpt2"),
        "tokenizer.ggml.pre": lambda: w.add_tokenizer_pre("default"),
        "tokenizer.ggml.tokens": lambda: w.add_token_list(tokens),
        "tokenizer.ggml.token_type": lambda: w.add_token_types(types),
        "tokenizer.ggml.merges": lambda: w.add_token_merges([]),
        "tokenizer.ggml.bos_token_id": lambda: w.add_bos_token_id(256),
        "tokenizer.ggml.eos_token_id": lambda: w.add_eos_token_id(257),
    }
    for key, add in kv.items():
        if key not in skip_keys:
            add()
    if extra:
        extra(w)
    hd = n_embd // n_head
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (n_vocab, n_embd), "output_norm.weight": (n_embd,)}
    for i in range(n_layer):
        p = f"blk.{i}."
        shapes.update({
            p + "attn_norm.weight": (n_embd,), p + "ffn_norm.weight": (n_embd,),
            p + "attn_q.weight": (n_head * hd, n_embd), p + "attn_k.weight": (n_head_kv * hd, n_embd),
            p + "attn_v.weight": (n_head_kv * hd, n_embd), p + "attn_output.weight": (n_embd, n_head * hd),
            p + "ffn_gate.weight": (n_ff, n_embd), p + "ffn_up.weight": (n_ff, n_embd),
            p + "ffn_down.weight": (n_embd, n_ff),
        })
        if arch == "qwen2":
            shapes.update({p + "attn_q.bias": (n_head * hd,), p + "attn_k.bias": (n_head_kv * hd,),
                           p + "attn_v.bias": (n_head_kv * hd,)})
    for name, shape in shapes.items():
        if name in skip_tensors:
            continue
        if tensor_override and name in tensor_override:
            data, raw_dtype = tensor_override[name]
            w.add_tensor(name, data, raw_dtype=raw_dtype)
            continue
        if len(shape) == 1:
            arr = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            arr = (rng.standard_normal(shape) / np.sqrt(shape[1])).astype(np.float32)
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
