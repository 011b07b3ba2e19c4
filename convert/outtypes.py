"""Output types: per tensor, how it is stored (GGML type, shape, size) and its bytes.

An Outtype sees every tensor twice: `plan` (before any data is read, so the
GGUF header, metadata and tensor directory can be written first; `add_metadata`
then adds whatever keys the chosen storage needs) and `encode` (with the
float32 data, one tensor at a time). QuantX recipes plug in as further Outtype
implementations: convert/qxformats.py may expose
`outtypes() -> dict[str, Callable[[], Outtype]]` (found by name, e.g. by the
CLI), or an instance can be passed to convert() directly.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import gguf
import numpy as np
from gguf.quants import quant_shape_to_byte_shape, quantize

from .architectures import TensorSpec
from .errors import ConvertError

Q = gguf.GGMLQuantizationType


def stored_nbytes(shape: tuple[int, ...], qtype: Q) -> int:
    if qtype == Q.F32:
        return int(np.prod(shape)) * 4
    if qtype == Q.F16:
        return int(np.prod(shape)) * 2
    if qtype == Q.I8:
        return int(np.prod(shape))
    return int(np.prod(quant_shape_to_byte_shape(shape, qtype)))


@dataclass(frozen=True)
class Storage:
    """How one tensor is stored: its GGML type, the shape recorded in the file (numpy order;
    for block types the logical shape) and its size in bytes."""
    ggml_type: Q
    shape: tuple[int, ...]
    nbytes: int

    @staticmethod
    def standard(shape: tuple[int, ...], qtype: Q) -> Storage:
        return Storage(qtype, tuple(shape), stored_nbytes(tuple(shape), qtype))


@runtime_checkable
class Outtype(Protocol):
    name: str
    file_type: gguf.LlamaFileType

    def plan(self, spec: TensorSpec) -> Storage:
        """How this tensor will be stored (decided before any weights are read)."""
        ...

    def add_metadata(self, writer: gguf.GGUFWriter, plans: list[tuple[TensorSpec, Storage]]) -> None:
        """Extra GGUF keys the planned storage needs (e.g. per-tensor format descriptions)."""
        ...

    def encode(self, spec: TensorSpec, data: np.ndarray, storage: Storage) -> np.ndarray:
        """`data` (float32, numpy shape spec.shape, already in GGUF row order) as stored:
        an array of exactly storage.nbytes bytes (float32/float16/int8 values or uint8 blocks)."""
        ...


def encode_standard(data: np.ndarray, qtype: Q) -> np.ndarray:
    """F32/F16 as plain arrays; anything gguf-py can quantize (BF16, Q8_0, ...) via gguf.quants."""
    if qtype == Q.F32:
        return np.ascontiguousarray(data, dtype=np.float32)
    if qtype == Q.F16:
        return np.ascontiguousarray(data.astype(np.float16))
    return quantize(np.ascontiguousarray(data, dtype=np.float32), qtype)


@dataclass(frozen=True)
class FloatOrQ8Outtype:
    """llama.cpp's plain outtypes: 1-D tensors (norms, biases, rope factors) stay F32; the
    rest takes `weight_type`. Q8_0 needs rows divisible by its block size, else F16."""
    name: str
    file_type: gguf.LlamaFileType
    weight_type: Q

    def choose(self, spec: TensorSpec) -> Q:
        if len(spec.shape) <= 1:
            return Q.F32
        if self.weight_type in gguf.GGML_QUANT_SIZES and self.weight_type not in (Q.F32, Q.F16, Q.BF16):
            block = gguf.GGML_QUANT_SIZES[self.weight_type][0]
            if spec.shape[-1] % block:
                return Q.F16
        return self.weight_type

    def plan(self, spec: TensorSpec) -> Storage:
        return Storage.standard(spec.shape, self.choose(spec))

    def add_metadata(self, writer: gguf.GGUFWriter, plans: list[tuple[TensorSpec, Storage]]) -> None:
        pass

    def encode(self, spec: TensorSpec, data: np.ndarray, storage: Storage) -> np.ndarray:
        return encode_standard(data, storage.ggml_type)


def builtin_outtypes() -> dict[str, Callable[[], Outtype]]:
    return {
        "f32": lambda: FloatOrQ8Outtype("f32", gguf.LlamaFileType.ALL_F32, Q.F32),
        "f16": lambda: FloatOrQ8Outtype("f16", gguf.LlamaFileType.MOSTLY_F16, Q.F16),
        "bf16": lambda: FloatOrQ8Outtype("bf16", gguf.LlamaFileType.MOSTLY_BF16, Q.BF16),
        "q8_0": lambda: FloatOrQ8Outtype("q8_0", gguf.LlamaFileType.MOSTLY_Q8_0, Q.Q8_0),
    }


def available_outtypes() -> dict[str, Callable[[], Outtype]]:
    """Built-ins plus whatever convert/qxformats.py offers (when present)."""
    table = dict(builtin_outtypes())
    if importlib.util.find_spec(f"{__package__}.qxformats") is None:
        return table
    qxformats = importlib.import_module(f"{__package__}.qxformats")
    extra = getattr(qxformats, "outtypes", None)
    if callable(extra):
        table.update(extra())
    return table


def resolve_outtype(outtype: str | Outtype) -> Outtype:
    if not isinstance(outtype, str):
        if not isinstance(outtype, Outtype):
            raise ConvertError(f"outtype {outtype!r} is neither a name nor an Outtype")
        return outtype
    table = available_outtypes()
    if outtype not in table:
        raise ConvertError(f"unknown outtype {outtype!r}; available: {', '.join(table)}")
    return table[outtype]()
