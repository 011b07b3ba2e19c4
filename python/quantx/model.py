"""`quantx.Model`: the runtime from Python."""
from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from . import _native
from .chat import apply_chat_template


class Model:
    """A GGUF model (llama or qwen2 architecture) loaded by the native runtime.

    The file is memory-mapped, never copied. ``eval`` continues the KV cache;
    ``reset`` clears it. ``threads=None`` uses every hardware thread;
    ``act`` (8 or 16) overrides the activation path the file asks for.
    ``kv_type`` is the KV cache's element type: ``"f16"`` (the default, as
    llama.cpp's: half the cache's memory and attention's reads) or ``"f32"``.
    """

    def __init__(self, path: str | Path, threads: Optional[int] = None, act: Optional[int] = None,
                 n_ctx: Optional[int] = None, n_batch: int = 256, kv_type: str = "f16") -> None:
        self.path = Path(path)
        if act not in (None, 8, 16):
            raise ValueError(f"act must be 8 or 16, not {act!r}")
        if kv_type not in ("f16", "f32"):
            raise ValueError(f"kv_type must be 'f16' or 'f32', not {kv_type!r}")
        self._m = _native.Model(str(self.path), threads=threads or 0, act=act or 0, n_ctx=n_ctx or 0,
                                n_batch=n_batch, kv_type=kv_type)
        self._metadata: Optional[dict[str, Any]] = None

    # --- facts about the model -------------------------------------------------
    @property
    def n_vocab(self) -> int:
        return self._m.n_vocab

    @property
    def n_ctx(self) -> int:
        return self._m.n_ctx

    @property
    def n_past(self) -> int:
        return self._m.n_past

    @property
    def threads(self) -> int:
        return self._m.threads

    @property
    def kv_type(self) -> str:
        """The KV cache's element type, "f16" or "f32"."""
        return self._m.kv_type

    @property
    def bos_id(self) -> int:
        """BOS token id, -1 if the vocabulary has none."""
        return self._m.bos_id

    @property
    def metadata(self) -> dict[str, Any]:
        """The GGUF key-values of the file."""
        if self._metadata is None:
            self._metadata = dict(_native.GgufFile(str(self.path)).metadata)
        return self._metadata

    def tensor_types(self) -> dict[str, str]:
        """Tensor name -> format name (e.g. 'Q4_1', 'QX3_C')."""
        return dict(self._m.tensor_types())

    # --- tokens ------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        return self._m.tokenize(text, add_special, parse_special)

    def detokenize(self, ids: Sequence[int], render_special: bool = False) -> str:
        return self._m.detokenize(list(ids), render_special).decode("utf-8", errors="replace")

    def is_eog(self, token: int) -> bool:
        return self._m.is_eog(token)

    # --- compute -----------------------------------------------------------------
    def eval(self, ids: Sequence[int] | np.ndarray, logits_from: int = 0) -> np.ndarray:
        """Feed ids after the cached context; float32 logits, one row per id from logits_from."""
        return self._m.eval(np.asarray(ids, dtype=np.int32), logits_from)

    def reset(self) -> None:
        self._m.reset()

    def chat_prompt(self, user_message: str) -> str:
        """The prompt the file's chat template makes of one user message."""
        template = self.metadata.get("tokenizer.chat_template")
        if not template:
            raise _native.QuantxError("this model has no chat template (tokenizer.chat_template)")
        bos = self.detokenize([self._m.bos_id], render_special=True) if self._m.bos_id >= 0 else ""
        eos = self.detokenize([self._m.eos_id], render_special=True) if self._m.eos_id >= 0 else ""
        return apply_chat_template(template, [{"role": "user", "content": user_message}], bos, eos)

    def generate(self, prompt: str, max_tokens: int = 128, temperature: float = 0.8, top_k: int = 40,
                 top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.0,
                 seed: Optional[int] = None, add_special: bool = True) -> Iterator[str]:
        """Yield the continuation of prompt as text pieces (the cache starts afresh).

        temperature <= 0 is greedy decoding. Stops at an end-of-generation
        token, after max_tokens, or when the context is full.
        """
        ids = self.tokenize(prompt, add_special=add_special)
        if not ids:
            raise _native.QuantxError("the prompt is empty and the model adds no BOS token")
        if len(ids) >= self.n_ctx:
            raise _native.QuantxError(
                f"prompt of {len(ids)} tokens does not fit the context of {self.n_ctx} tokens")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 63))
        sampler = _native.Sampler(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                                  repeat_penalty=repeat_penalty, seed=seed)
        self.reset()
        history = list(ids)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        token = self._m.eval_and_sample(ids, sampler, history)
        for i in range(max_tokens):
            if self._m.is_eog(token):
                break
            history.append(token)
            piece = decoder.decode(self._m.token_bytes(token))
            if piece:
                yield piece
            if i + 1 == max_tokens or self.n_past >= self.n_ctx:
                break
            token = self._m.eval_and_sample([token], sampler, history)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def perplexity(self, text: str, ctx: int = 512, chunks: Optional[int] = None):
        """Perplexity with llama-perplexity's protocol; see quantx.perplexity."""
        from .perplexity import perplexity

        return perplexity(self, text, ctx=ctx, chunks=chunks)
