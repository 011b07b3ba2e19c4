"""Calibration data and layer-streamed activation statistics.

The statistics are gathered one decoder layer at a time: embed all samples, then for each
decoder layer run it over all samples (in batches) with hooks on its linear layers, then
hand the layer to the caller (who may quantize it) and compute the layer's outputs, which
become the next layer's inputs. Only one layer's hidden states and statistics are held.

Whether the next layer sees the outputs of the quantized or of the float layer is the
caller's choice (`propagate`): GPTQ propagates through already-quantized layers so later
layers compensate earlier errors; AWQ propagates float outputs (its scaling is exact in
float, and the paper applies quantization after the search).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from .self_generation import write_sequences

# Linear layers of a llama/qwen2 decoder layer, keyed by the one that owns the captured input;
# the others read the same tensor.
INPUT_OWNERS: dict[str, tuple[str, ...]] = {
    "self_attn.q_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "self_attn.o_proj": ("self_attn.o_proj",),
    "mlp.gate_proj": ("mlp.gate_proj", "mlp.up_proj"),
    "mlp.down_proj": ("mlp.down_proj",),
}
LINEAR_NAMES: tuple[str, ...] = tuple(n for group in INPUT_OWNERS.values() for n in group)


@dataclass
class CalibrationSet:
    input_ids: torch.Tensor  # int64 [samples, seq_len]
    source: str  # file path, or "self-generated"
    sha256: str  # of the source file's bytes, or of the generated token ids
    seed: int

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.numel())

    def metadata(self) -> dict[str, str | int]:
        """Provenance for the `quantx.calibration.*` keys of a QuantX file."""
        return {
            "quantx.calibration.source": self.source,
            "quantx.calibration.tokens": self.n_tokens,
            "quantx.calibration.samples": int(self.input_ids.shape[0]),
            "quantx.calibration.seq_len": int(self.input_ids.shape[1]),
            "quantx.calibration.sha256": self.sha256,
            "quantx.calibration.seed": self.seed,
        }


def calibration_from_text(tokenizer, path: str | Path, n_samples: int = 128, seq_len: int = 512,
                          seed: int = 0) -> CalibrationSet:
    """Random seq_len-token crops (GPTQ-style) of the tokenized text file."""
    data = Path(path).read_bytes()
    ids = torch.tensor(tokenizer(data.decode("utf-8"), add_special_tokens=False)["input_ids"], dtype=torch.long)
    if ids.numel() <= seq_len:
        raise ValueError(f"calibration text {path} has {ids.numel()} tokens, need more than {seq_len}")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, ids.numel() - seq_len, (n_samples,), generator=gen)
    samples = torch.stack([ids[s:s + seq_len] for s in starts.tolist()])
    return CalibrationSet(input_ids=samples, source=str(path), sha256=hashlib.sha256(data).hexdigest(), seed=seed)


@torch.no_grad()
def calibration_from_model(model, n_samples: int = 128, seq_len: int = 512, seed: int = 0,
                           greedy_prefix: int = 3, batch_size: int = 32,
                           progress: Callable[[int, int], None] | None = None) -> CalibrationSet:
    """Data-free calibration: text the model writes itself (LLM-QAT).

    Each sample starts from a uniformly random vocabulary token, continues greedily for a
    few tokens (so the start is plausible), then samples from the model's distribution
    (self_generation.py). batch_size sequences are written together, and their key/value
    buffers are the largest memory of the step (SmolLM2-135M: 0.75 GB for 32 x 512 tokens, twice
    that for 64, which would be the conversion's peak), so wider batches, though faster per token,
    are not the default. On 2 CPU cores 128 sequences of 512 tokens of SmolLM2-135M take 3 min 20 s
    (transformers' generate() took 5 min 18 s; calibration_cache.py keeps them).
    progress(tokens_done, tokens_total).
    """
    if n_samples < 1 or seq_len < 2 or batch_size < 1 or not 0 <= greedy_prefix < seq_len:
        raise ValueError(f"self-generated calibration: need samples >= 1, seq_len >= 2, batch >= 1 and "
                         f"0 <= greedy_prefix < seq_len (got {n_samples}, {seq_len}, {batch_size}, {greedy_prefix})")
    gen = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    out = []
    for done in range(0, n_samples, batch_size):
        n = min(batch_size, n_samples - done)
        first = torch.randint(0, vocab, (n, 1), generator=gen)
        report = None if progress is None else (
            lambda written, _done=done, _n=n: progress(_done * seq_len + _n * written, n_samples * seq_len))
        out.append(write_sequences(model, first, seq_len, greedy_prefix, gen, report))
    return self_generated_set(torch.cat(out), seed)


def self_generated_set(samples: torch.Tensor, seed: int) -> CalibrationSet:
    """The CalibrationSet (and provenance) of model-written token ids [samples, seq_len]."""
    digest = hashlib.sha256(samples.numpy().tobytes()).hexdigest()
    return CalibrationSet(input_ids=samples, source="self-generated", sha256=digest, seed=seed)


@dataclass
class InputStats:
    """Statistics of the input x of one linear layer over all calibration tokens."""

    n: int = 0
    sum_sq: torch.Tensor | None = None  # float64 [in]
    sum_abs: torch.Tensor | None = None  # float64 [in]
    xtx: torch.Tensor | None = None  # float64 [in, in], None when not requested
    samples: list[torch.Tensor] = field(default_factory=list)  # first few samples' inputs, [seq, in] each

    def add(self, x: torch.Tensor, with_hessian: bool, keep: int) -> None:
        """x: [batch, seq, in] inputs of the linear layer."""
        for s in x:
            if len(self.samples) >= keep:
                break
            self.samples.append(s.detach().float().clone())
        flat = x.detach().reshape(-1, x.shape[-1]).float()
        sq = (flat * flat).sum(0).double()
        ab = flat.abs().sum(0).double()
        self.sum_sq = sq if self.sum_sq is None else self.sum_sq + sq
        self.sum_abs = ab if self.sum_abs is None else self.sum_abs + ab
        if with_hessian:
            h = (flat.T @ flat).double()
            self.xtx = h if self.xtx is None else self.xtx + h
        self.n += flat.shape[0]

    @property
    def sq_mean(self) -> torch.Tensor:
        """E[x_j^2] per input channel."""
        return (self.sum_sq / self.n).float()

    @property
    def abs_mean(self) -> torch.Tensor:
        """E|x_j| per input channel."""
        return (self.sum_abs / self.n).float()

    @property
    def hessian(self) -> torch.Tensor:
        """X^T X / n (the GPTQ Hessian up to a constant)."""
        if self.xtx is None:
            raise ValueError("Hessian was not collected (with_hessian=False)")
        return (self.xtx / self.n).float()

    def sample_matrix(self) -> torch.Tensor:
        """The kept samples' inputs as one [tokens, in] matrix."""
        return torch.cat(self.samples, 0)


@dataclass
class LayerCalibration:
    index: int
    layer: torch.nn.Module
    stats: dict[str, InputStats]  # by linear name (LINEAR_NAMES); shared inputs share one object
    seq_len: int


def decoder_layers(model) -> torch.nn.ModuleList:
    return model.model.layers


def causal_mask(seq_len: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    m = torch.full((seq_len, seq_len), torch.finfo(dtype).min, dtype=dtype).triu_(1)
    return m.view(1, 1, seq_len, seq_len)


def _layer_forward(layer, h: torch.Tensor, rotary, mask: torch.Tensor) -> torch.Tensor:
    pos = torch.arange(h.shape[1]).unsqueeze(0).expand(h.shape[0], -1)
    cos_sin = rotary(h, pos)
    out = layer(h, attention_mask=mask, position_ids=pos, position_embeddings=cos_sin)
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def stream_layers(model, calib: CalibrationSet, batch_size: int = 8, with_hessian: bool = True,
                  keep_samples: int = 8, propagate: Literal["quantized", "float"] = "quantized",
                  on_last_outputs: Callable[[torch.Tensor], None] | None = None,
                  ) -> Iterator[LayerCalibration]:
    """Yield each decoder layer with the statistics of its linear layers' inputs.

    propagate="quantized": the next layer's inputs are computed after the caller has
    modified (quantized) the yielded layer. "float": they are computed before the yield,
    from the layer as it was.
    on_last_outputs: called once, after the last layer, with that layer's outputs on every
    sample [samples, seq_len, d] (before the model's final norm).
    """
    ids = calib.input_ids
    n, seq = ids.shape
    hidden = torch.cat([model.model.embed_tokens(ids[b:b + batch_size]).float() for b in range(0, n, batch_size)])
    mask = causal_mask(seq)
    rotary = model.model.rotary_emb
    for index, layer in enumerate(decoder_layers(model)):
        stats = {owner: InputStats() for owner in INPUT_OWNERS}
        hooks = []
        for owner in INPUT_OWNERS:
            module = layer.get_submodule(owner)
            hooks.append(module.register_forward_pre_hook(
                lambda _m, args, _s=stats[owner]: _s.add(args[0], with_hessian, keep_samples)))
        outputs = torch.empty_like(hidden)
        try:
            for b in range(0, n, batch_size):
                outputs[b:b + batch_size] = _layer_forward(layer, hidden[b:b + batch_size], rotary, mask)
        finally:
            for hk in hooks:
                hk.remove()
        by_name = {name: stats[owner] for owner, names in INPUT_OWNERS.items() for name in names}
        yield LayerCalibration(index=index, layer=layer, stats=by_name, seq_len=seq)
        if propagate == "quantized":
            for b in range(0, n, batch_size):
                outputs[b:b + batch_size] = _layer_forward(layer, hidden[b:b + batch_size], rotary, mask)
        hidden = outputs
    if on_last_outputs is not None:
        on_last_outputs(hidden)


@torch.no_grad()
def full_forward_stats(model, calib: CalibrationSet, with_hessian: bool = True) -> list[dict[str, InputStats]]:
    """Reference statistics from an ordinary full-model forward with hooks (for checking the streaming)."""
    per_layer: list[dict[str, InputStats]] = []
    hooks = []
    for layer in decoder_layers(model):
        stats = {owner: InputStats() for owner in INPUT_OWNERS}
        per_layer.append(stats)
        for owner in INPUT_OWNERS:
            hooks.append(layer.get_submodule(owner).register_forward_pre_hook(
                lambda _m, args, _s=stats[owner]: _s.add(args[0], with_hessian, 0)))
    try:
        model(calib.input_ids)
    finally:
        for hk in hooks:
            hk.remove()
    return [{name: stats[owner] for owner, names in INPUT_OWNERS.items() for name in names} for stats in per_layer]
