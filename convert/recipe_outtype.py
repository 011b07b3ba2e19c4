"""The converter Outtype that writes a recipe's choices: each linear weight of the decoder
blocks in the format the recipe chose (QuantX byte tensors, or Q8_0), the norms the
activation-aware scaling changed, and everything else as the QuantX outtypes store it
(1-D tensors F32, token embedding and output head Q8_0)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np

from . import qxformats as qxf
from .architectures import TensorSpec, permute_qk
from .outtypes import Storage, encode_standard
from .recipes.candidates import Q8_0
from .recipes.recipe import RecipeResult

Qt = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class RecipeOuttype:
    name: str
    result: RecipeResult
    file_type: Any = gguf.LlamaFileType.GUESSED

    def plan(self, spec: TensorSpec) -> Storage:
        shape = tuple(int(s) for s in spec.shape)
        c = self.result.chosen.get(spec.hf_name)
        if c is not None:
            if c.shape != shape:
                raise ValueError(f"{spec.hf_name}: recipe shape {c.shape} != checkpoint shape {shape}")
            if c.fmt == Q8_0:
                return Storage.standard(shape, Qt.Q8_0)
            return qxf.quantx_storage(c.fmt, shape)
        if len(shape) <= 1:
            return Storage.standard(shape, Qt.F32)
        if shape[-1] % 32:
            return Storage.standard(shape, Qt.F16)
        return Storage.standard(shape, Qt.Q8_0)  # token embedding, untied output head

    def add_metadata(self, writer: gguf.GGUFWriter, plans: list[tuple[TensorSpec, Storage]]) -> None:
        qx_plans = [(s, st) for s, st in plans if getattr(st, "qx_name", "")]
        writer.add_uint32(qxf.KEY_FORMAT_VERSION, qxf.FORMAT_VERSION)
        writer.add_uint32(qxf.KEY_ACTIVATION, self.result.recipe.act)
        for spec, st in qx_plans:
            writer.add_string(qxf.tensor_key(spec.gguf_name, "type"), st.qx_name)
            writer.add_array(qxf.tensor_key(spec.gguf_name, "shape"), [int(s) for s in reversed(spec.shape)])
            writer.add_uint32(qxf.tensor_key(spec.gguf_name, "group_size"), qxf.GROUP_SIZE)
            if st.qx_name in qxf.TENSOR_CODEBOOK_TYPES:
                cb = self.result.chosen[spec.hf_name].tensor_codebook()
                writer.add_array(qxf.tensor_key(spec.gguf_name, "codebook"), [int(v) for v in cb])
        r = self.result
        writer.add_string("quantx.recipe.name", r.recipe.name)
        writer.add_float32("quantx.recipe.bpw_linear", float(r.bpw_linear))
        for key, value in r.calibration.items():
            if isinstance(value, int):
                writer.add_uint64(key, value)
            else:
                writer.add_string(key, str(value))

    def encode(self, spec: TensorSpec, data: np.ndarray, storage: Storage) -> np.ndarray:
        c = self.result.chosen.get(spec.hf_name)
        if c is None:
            override = self.result.float_overrides.get(spec.hf_name)
            return encode_standard(data if override is None else override, storage.ggml_type)
        rows, _ = c.file_rows()
        if spec.permute_heads:  # rows are self-contained: permuting packed rows permutes the weight's rows
            rows = permute_qk(rows, spec.permute_heads)
        return np.ascontiguousarray(rows).view(np.uint8 if c.fmt == Q8_0 else np.int8)
