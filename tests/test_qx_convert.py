"""The converter's QuantX outtypes (convert/qxformats.outtypes, found by
convert/outtypes.py): a converted file parses with gguf-py, every weight it
planned as QuantX is an I8 tensor with matching quantx.* metadata, and its
bytes are exactly quantize_tensor() of the same tensor in the F32 conversion."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from quantx.convert import qxformats as Q  # noqa: E402
from quantx.convert.outtypes import available_outtypes  # noqa: E402


def test_outtypes_are_registered() -> None:
    table = available_outtypes()
    for name in ("qx3_u", "qx3_c", "qx4_u", "qx4_c"):
        assert table[name]().name == name


@pytest.mark.parametrize("outtype", ["qx3_u", "qx4_c"])
def test_convert_tiny_llama(outtype: str, tiny_llama_dir: Path, converted) -> None:
    qx_path = converted(tiny_llama_dir, outtype)
    f32_path = converted(tiny_llama_dir, "f32")
    r, ref = gguf.GGUFReader(str(qx_path)), gguf.GGUFReader(str(f32_path))
    qx = Q.read_quantx_tensors(r)
    ref_tensors = {t.name: t for t in ref.tensors}
    assert qx, "no QuantX tensors written"
    assert r.fields[Q.KEY_ACTIVATION].contents() == 8
    for t in r.tensors:
        if len(t.shape) < 2 or t.name == "token_embd.weight":
            assert t.name not in qx
            continue
        info = qx[t.name]
        assert info.qtype.name == outtype.upper()
        w = np.asarray(ref_tensors[t.name].data, dtype=np.float32).reshape(info.shape)
        packed, _ = Q.quantize_tensor(w, outtype)
        np.testing.assert_array_equal(info.data, packed)
        d = Q.dequantize_bytes(info.data, outtype, info.shape[-1], info.data.shape[0]).reshape(info.shape)
        rel = float(np.sqrt(((d - w) ** 2).sum() / (w**2).sum()))
        assert rel < (0.3 if outtype.startswith("qx3") else 0.15), (t.name, rel)


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["qx3_u", "qx3_c"])
def test_real_smollm2_rtn_file_reads_and_generates(outtype: str, smollm2_hf_dir: Path, converted) -> None:
    """Every linear weight of the real model in one 3-bit QuantX type by plain round-to-nearest:
    gguf-py reads every tensor (the QuantX ones validated against their quantx.* metadata), the
    runtime reports the type of each, and greedy generation answers a factual prompt."""
    import quantx

    path = converted(smollm2_hf_dir, outtype)
    reader = gguf.GGUFReader(str(path))
    for t in reader.tensors:
        assert np.asarray(t.data).nbytes == t.n_bytes, t.name
    qx = Q.read_quantx_tensors(reader)
    assert len(qx) == 30 * 7 and {i.qtype.name for i in qx.values()} == {outtype.upper()}
    m = quantx.Model(path, n_ctx=256)
    types = m.tensor_types()
    assert {types[name] for name in qx} == {outtype.upper()}
    assert types["token_embd.weight"] == "Q8_0"
    text = "".join(m.generate("The capital of France is", max_tokens=8, temperature=0))
    assert "Paris" in text, text
