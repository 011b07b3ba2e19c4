"""The plug-in point for QuantX recipes: an Outtype decides each tensor's storage, adds the
metadata that storage needs, and encodes; convert() checks what it gets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
import pytest

pytest.importorskip("quantx._native")
from quantx.convert import ConvertError, Storage, convert  # noqa: E402
from quantx.convert.architectures import TensorSpec  # noqa: E402

Q = gguf.GGMLQuantizationType


@dataclass
class SignBitsOuttype:
    """A toy recipe: FFN weights as int8 signs (-1/0/1) described by per-tensor keys, rest F32."""
    name: str = "toy-sign"
    file_type: gguf.LlamaFileType = gguf.LlamaFileType.ALL_F32
    wrong_size: bool = False

    def plan(self, spec: TensorSpec) -> Storage:
        if spec.role.startswith("ffn_") and len(spec.shape) == 2:
            return Storage(Q.I8, spec.shape, spec.n_elements)
        return Storage.standard(spec.shape, Q.F32)

    def add_metadata(self, writer: gguf.GGUFWriter, plans: list[tuple[TensorSpec, Storage]]) -> None:
        for spec, st in plans:
            if st.ggml_type == Q.I8:
                writer.add_string(f"toy.tensor.{spec.gguf_name}.format", "sign")

    def encode(self, spec: TensorSpec, data: np.ndarray, storage: Storage) -> np.ndarray:
        if storage.ggml_type == Q.I8:
            out = np.sign(data).astype(np.int8)
            return out[:-1] if self.wrong_size else out
        return data.astype(np.float32)


def test_custom_outtype_plugs_in(tiny_llama_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    rep = convert(tiny_llama_dir, tmp_path / "o.gguf", SignBitsOuttype(), quiet=True)
    assert rep.outtype == "toy-sign" and rep.tensor_types == {"I8": 6, "F32": 15}
    r = gguf.GGUFReader(tmp_path / "o.gguf")
    t = {x.name: x for x in r.tensors}["blk.1.ffn_down.weight"]
    assert t.tensor_type == Q.I8
    hf = load_file(tiny_llama_dir / "model.safetensors")["model.layers.1.mlp.down_proj.weight"]
    np.testing.assert_array_equal(np.asarray(t.data).reshape(hf.shape), np.sign(hf).astype(np.int8))
    assert r.fields["toy.tensor.blk.1.ffn_down.weight.format"].contents() == "sign"


def test_outtype_with_wrong_byte_count_is_refused(tiny_llama_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConvertError, match="encoded blk.0.ffn_gate.weight as .* bytes, expected"):
        convert(tiny_llama_dir, tmp_path / "o.gguf", SignBitsOuttype(wrong_size=True), quiet=True)
    assert list(tmp_path.iterdir()) == []
