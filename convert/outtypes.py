"""Output types: per tensor, which GGML type to store and the bytes to store.

An Outtype sees every tensor twice: `choose` (before any data is read, so the
GGUF header can be written first) and `encode` (with the float32 data).
QuantX recipes plug in as further Outtype implementations (convert/qxformats.py
may expose `outtypes() -> dict[str, Callable[[], Outtype]]`), chosen by name
or passed to convert() as an instance.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import gguf
import numpy as np
from gguf.quants import quant_shape_to_byte_shape, quantize

from .architectures import TensorSpec
from .errors import ConvertError

Q = gguf.GGMLQuantizationType


@runtime_checkable
class Outtype(Protocol):
    name: str
    file_type: gguf.LlamaFileType

    def choose(self, spec: TensorSpec) -> Q:
        """The GGML type this tensor will be stored as."""
        ...

    def encode(self, spec: TensorSpec, data: np.ndarray, qtype: Q) -> np.ndarray:
        """`data` (float32, numpy shape spec.shape, already in GGUF row order) stored as
        `qtype`: a float32/float16 array of that shape or uint8 bytes of the block layout."""
        ...


def stored_nbytes(shape: tuple[int, ...], qtype: Q) -> int:
    if qtype == Q.F32:
        return int(np.prod(shape)) * 4
    if qtype == Q.F16:
        return int(np.prod(shape)) * 2
    return int(np.prod(quant_shape_to_byte_shape(shape, qtype)))


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

    def encode(self, spec: TensorSpec, data: np.ndarray, qtype: Q) -> np.ndarray:
        return encode_standard(data, qtype)


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
    try:
        from . import qxformats  # owned by the QuantX-format work; optional
    except ImportError:
        return table
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
