"""convert(): a Hugging Face llama/qwen2 folder to a GGUF v3 file, tensor by tensor.

Pass 1 plans every tensor from the safetensors headers (names, shapes) and
writes the GGUF header, metadata and tensor directory; pass 2 streams the
weights one at a time (read, check, permute, encode, write), so peak memory
is about one tensor, not the model.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np
from tqdm import tqdm

from .architectures import HParams, TensorSpec, check_tensor_set, expected_tensors, permute_qk, read_hparams
from .checkpoint import Checkpoint, TensorReader, open_checkpoint
from .errors import ConvertError
from .outtypes import Outtype, Storage, resolve_outtype
from .rope import ROPE_FREQS_NAME, llama3_rope_factors, write_rope_scaling
from .safe_output import check_target, publish, remove_stale_temps, signals_raise, temp_output
from .vocab import Vocab, load_vocab

Q = gguf.GGMLQuantizationType


@dataclass
class ConvertOptions:
    outtype: str | Outtype = "f16"
    force: bool = False              # overwrite an existing output file
    allow_nonfinite: bool = False    # write NaN/Inf weights instead of refusing
    quiet: bool = False              # no progress bar
    pre_tokenizer: str | None = None  # override the detected tokenizer.ggml.pre


@dataclass
class ConvertReport:
    out_path: Path
    hf_arch: str
    arch: str
    outtype: str
    n_tensors: int
    n_params: int
    tensor_types: dict[str, int]
    tokenizer_model: str
    pre_tokenizer: str
    n_vocab: int
    input_bytes: int
    output_bytes: int
    seconds: float
    removed_stale: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Planned:
    spec: TensorSpec
    storage: Storage

# numpy dtypes GGUFWriter maps to these GGML types by itself; other types are passed as raw
_PLAIN_DTYPES = {Q.F32: np.float32, Q.F16: np.float16, Q.I8: np.int8}


def _write_hparams(w: gguf.GGUFWriter, hp: HParams, n_tokens: int) -> None:
    w.add_context_length(hp.n_ctx)
    w.add_embedding_length(hp.n_embd)
    w.add_block_count(hp.n_layer)
    w.add_feed_forward_length(hp.n_ff)
    w.add_head_count(hp.n_head)
    w.add_head_count_kv(hp.n_head_kv)
    w.add_layer_norm_rms_eps(hp.rms_eps)
    w.add_rope_freq_base(hp.rope_theta)
    w.add_rope_dimension_count(hp.head_dim)
    if hp.head_dim != hp.n_embd // hp.n_head:
        w.add_key_length(hp.head_dim)
        w.add_value_length(hp.head_dim)
    w.add_vocab_size(n_tokens)
    write_rope_scaling(w, hp.rope_scaling)


def _write_general(w: gguf.GGUFWriter, d: Path, n_params: int, outtype: Outtype) -> None:
    w.add_type(gguf.GGUFType.MODEL)
    meta = gguf.Metadata.load(None, d, None, n_params)
    if meta.name is None:
        meta.name = d.name
    if meta.size_label is None:
        meta.size_label = gguf.size_label(n_params, 0, 0, 0)
    meta.set_gguf_meta_model(w)
    w.add_file_type(int(outtype.file_type))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _plan(hp: HParams, ckpt: Checkpoint, outtype: Outtype) -> list[_Planned]:
    specs = expected_tensors(hp)
    check_tensor_set(hp, specs, {n: s.shape for n, s in ckpt.tensors.items()})
    factors = llama3_rope_factors(hp.rope_scaling, hp.rope_theta, hp.head_dim)
    if factors is not None:
        specs.insert(1, TensorSpec(ROPE_FREQS_NAME, "", factors.shape, None, "rope_freqs"))
    return [_Planned(s, outtype.plan(s)) for s in specs]


def _load(reader: TensorReader, spec: TensorSpec, hp: HParams, allow_nonfinite: bool) -> np.ndarray:
    if spec.role == "rope_freqs":
        f = llama3_rope_factors(hp.rope_scaling, hp.rope_theta, hp.head_dim)
        assert f is not None
        return f
    data = reader.read_f32(spec.hf_name)
    if not allow_nonfinite:
        bad = ~np.isfinite(data)
        if bad.any():
            raise ConvertError(f"tensor {spec.hf_name} has {int(bad.sum())} NaN/Inf value(s) "
                               "(pass --allow-nonfinite to convert anyway)")
    if spec.permute_heads:
        data = permute_qk(data, spec.permute_heads)
    return data


def check_checkpoint(hf_dir: Path, pre_tokenizer: str | None = None) -> tuple[HParams, Checkpoint, Vocab]:
    """Everything about a checkpoint that can be refused before any weight is read: files,
    architecture, hyperparameters, the tensor set (names and shapes) and the tokenizer."""
    ckpt = open_checkpoint(hf_dir)
    hp = read_hparams(ckpt.config)
    check_tensor_set(hp, expected_tensors(hp), {n: s.shape for n, s in ckpt.tensors.items()})
    vocab = load_vocab(hf_dir, hp.n_vocab, pre_tokenizer)
    return hp, ckpt, vocab


def convert(hf_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], outtype: str | Outtype = "f16", *,
            force: bool = False, allow_nonfinite: bool = False, quiet: bool = False,
            pre_tokenizer: str | None = None) -> ConvertReport:
    """Convert a Hugging Face LlamaForCausalLM/Qwen2ForCausalLM folder to GGUF at out_path.

    Raises ConvertError (a quantx.QuantxError) with a message naming the problem; on any
    failure or SIGINT/SIGTERM no output and no temp file are left behind."""
    return convert_with(hf_dir, out_path, ConvertOptions(outtype, force, allow_nonfinite, quiet, pre_tokenizer))


def convert_with(hf_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], opts: ConvertOptions) -> ConvertReport:
    t0 = time.monotonic()
    d, target = Path(hf_dir), Path(out_path)
    removed = remove_stale_temps(target)
    check_target(target, opts.force)
    ot = resolve_outtype(opts.outtype)
    hp, ckpt, vocab = check_checkpoint(d, opts.pre_tokenizer)
    planned = _plan(hp, ckpt, ot)
    n_params = sum(p.spec.n_elements for p in planned if p.spec.role != "rope_freqs")

    w = gguf.GGUFWriter(None, hp.arch)
    _write_general(w, d, n_params, ot)
    _write_hparams(w, hp, len(vocab.tokens))
    vocab.add_to(w)
    ot.add_metadata(w, [(p.spec, p.storage) for p in planned])
    for p in planned:
        st = p.storage
        plain = _PLAIN_DTYPES.get(st.ggml_type)
        w.add_tensor_info(p.spec.gguf_name, st.shape, np.dtype(plain or np.float32), st.nbytes,
                          raw_dtype=None if plain else st.ggml_type)

    with signals_raise(), temp_output(target) as tmp:
        try:
            w.write_header_to_file(path=tmp)
            w.write_kv_data_to_file()
            w.write_ti_data_to_file()
            with TensorReader(ckpt) as reader:
                for p in tqdm(planned, desc=f"converting to {ot.name}", unit="tensor", disable=opts.quiet):
                    data = _load(reader, p.spec, hp, opts.allow_nonfinite)
                    enc = ot.encode(p.spec, data, p.storage)
                    if enc.nbytes != p.storage.nbytes:
                        raise ConvertError(f"outtype {ot.name} encoded {p.spec.gguf_name} as {enc.nbytes} bytes, "
                                           f"expected {p.storage.nbytes} for {p.storage.ggml_type.name}")
                    w.write_tensor_data(np.ascontiguousarray(enc))
            assert w.fout is not None
            for f in w.fout:
                f.flush()
                os.fsync(f.fileno())
        finally:
            w.close()
        publish(tmp, target, opts.force)

    return ConvertReport(
        out_path=target, hf_arch=hp.hf_arch, arch=hp.arch, outtype=ot.name, n_tensors=len(planned),
        n_params=n_params, tensor_types=dict(Counter(p.storage.ggml_type.name for p in planned)),
        tokenizer_model=vocab.model, pre_tokenizer=vocab.pre, n_vocab=len(vocab.tokens),
        input_bytes=ckpt.nbytes, output_bytes=target.stat().st_size, seconds=time.monotonic() - t0,
        removed_stale=removed)
