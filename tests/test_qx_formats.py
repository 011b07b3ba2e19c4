"""QuantX formats: numpy reference (convert/qxformats.py) vs the native side.

Byte-exact packing parity, dequantization parity, the mirrored constants,
fp16 rounding, and the GGUF container mapping read back by gguf-py.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quantx import _native as N
from quantx.convert import qxformats as Q

TYPES = list(Q.QX_TYPES)
LENGTHS = [32, 96, 576, 640, 896, 1536, 4096, 11008]


def edge_weights(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """Gaussian rows plus the spec's edge cases per group: all zero, constant,
    one huge outlier, tiny values (fp16-subnormal scales)."""
    w = (rng.standard_normal((rows, n)) * 0.02).astype(np.float32)
    ng = Q.n_groups(n)
    for r in range(rows):
        for g in range(ng):
            sl = slice(g * Q.GROUP_SIZE, min(n, (g + 1) * Q.GROUP_SIZE))
            kind = (r + g) % 6
            if kind == 1:
                w[r, sl] = 0.0
            elif kind == 2:
                w[r, sl] = -0.0375
            elif kind == 3:
                w[r, sl.start + 7] = 55.0
            elif kind == 4:
                w[r, sl] *= 1e-5
    return w


def test_constants_mirror_native() -> None:
    c = N.qx_constants()
    assert c["format_version"] == Q.FORMAT_VERSION
    assert c["group_size"] == Q.GROUP_SIZE
    assert c["sub_block"] == Q.SUB_BLOCK
    assert c["id_base"] == Q.QX_ID_BASE
    assert sorted(c["types"]) == sorted(Q.QX_TYPES)
    for name, t in Q.QX_TYPES.items():
        nt = c["types"][name]
        assert nt["id"] == t.type_id
        assert nt["bits"] == t.bits and nt["table_size"] == t.table_size == 1 << t.bits
        assert nt["row_codebook"] == t.row_codebook
        assert nt["sub_bytes"] == t.sub_bytes == Q.SUB_BLOCK * t.bits // 8
        assert tuple(nt["uniform_table"]) == t.uniform_table
        assert tuple(nt["default_codebook"]) == t.default_codebook
        assert nt["traits_name"] == name and nt["traits_block_size"] == Q.SUB_BLOCK
        for n in LENGTHS + [32 * 37]:
            assert N.qx_row_size(name, n) == Q.row_size(t, n)


@pytest.mark.parametrize("qtype", TYPES)
@pytest.mark.parametrize("n", LENGTHS)
def test_pack_and_dequantize_byte_exact(qtype: str, n: int) -> None:
    rng = np.random.default_rng(n * 7 + TYPES.index(qtype))
    rows = 3 if n > 4096 else 12
    w = edge_weights(rng, rows, n)
    packed = Q.pack(Q.quantize(w, qtype))
    native = N.qx_quantize(qtype, w)
    assert packed.tobytes() == native
    deq_np = Q.dequantize_bytes(native, qtype, n, rows)
    deq_native = N.qx_dequantize(qtype, native, n, rows)
    np.testing.assert_array_equal(deq_np, deq_native)
    # unpack is the inverse of pack
    q = Q.unpack(native, qtype, n, rows)
    assert Q.pack(q).tobytes() == native
    # all-zero groups dequantize to exactly zero; groups' extremes are represented
    zero_groups = [(r, g) for r in range(rows) for g in range(Q.n_groups(n)) if (r + g) % 6 == 1]
    for r, g in zero_groups:
        assert not deq_np[r, g * Q.GROUP_SIZE:(g + 1) * Q.GROUP_SIZE].any()


@pytest.mark.parametrize("qtype", ["QX3_C", "QX4_C"])
def test_given_codebook_and_scales_byte_exact(qtype: str) -> None:
    rng = np.random.default_rng(5)
    w = edge_weights(rng, 6, 640)
    cb = Q.fit_codebook(w, qtype, iters=5)
    assert Q.pack(Q.quantize(w, qtype, codebook=cb)).tobytes() == N.qx_quantize(qtype, w, codebook=cb)
    sc = rng.uniform(-0.02, 0.02, size=(6, Q.n_groups(640))).astype(np.float32)
    assert Q.pack(Q.quantize(w, qtype, codebook=cb, scales=sc)).tobytes() == N.qx_quantize(qtype, w, cb, sc)
    # the default codebook (no codebook given) is the same constant on both sides
    assert Q.pack(Q.quantize(w, qtype)).tobytes() == N.qx_quantize(qtype, w)


def test_given_scales_uniform_byte_exact() -> None:
    rng = np.random.default_rng(6)
    w = edge_weights(rng, 4, 896)
    sc = rng.uniform(-0.02, 0.02, size=(4, Q.n_groups(896))).astype(np.float32)
    for qtype in ("QX3_U", "QX4_U"):
        assert Q.pack(Q.quantize(w, qtype, scales=sc)).tobytes() == N.qx_quantize(qtype, w, scales=sc)


def test_fp16_rounding_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(200000) * np.exp2(rng.uniform(-30, 17, 200000))).astype(np.float32)
    x = np.concatenate([x, np.array([65504, 65519.99, 2.0**-24, 2.0**-25, 3 * 2.0**-26, -0.0], np.float32)])
    x = x[np.abs(x) < 65520]
    np.testing.assert_array_equal(N.qx_float_to_half_bits(x), x.astype(np.float16).view(np.uint16))
    h = np.arange(0, 0x7C00, dtype=np.uint16)
    np.testing.assert_array_equal(N.qx_half_bits_to_float(h), h.view(np.float16).astype(np.float32))


@pytest.mark.parametrize("qtype", TYPES)
def test_native_a16_dot_matches_numpy(qtype: str) -> None:
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((16, 576)) * 0.05).astype(np.float32)
    x = rng.standard_normal(576).astype(np.float32)
    data = N.qx_quantize(qtype, w)
    want = Q.dequantize_bytes(data, qtype, 576, 16).astype(np.float64) @ x
    np.testing.assert_allclose(N.qx_dot_a16_ref(qtype, data, 576, 16, x), want, rtol=1e-5, atol=1e-5)


def test_quantization_error_and_bits() -> None:
    rng = np.random.default_rng(4)
    w = rng.standard_normal((64, 4096)).astype(np.float32)

    def rel(qtype: str, cb: np.ndarray | None = None) -> float:
        d = Q.dequantize(Q.quantize(w, qtype, codebook=cb))
        return float(np.sqrt(((d - w) ** 2).mean() / (w**2).mean()))

    # 3-bit RTN on Gaussian rows: ~0.2 relative RMS error; 4-bit about half of it.
    assert rel("QX3_U") < 0.23 and rel("QX4_U") < 0.12
    assert rel("QX3_U") > 2 * rel("QX4_U") * 0.9
    # The Lloyd-fitted codebook beats the default codebook it starts from.
    assert rel("QX3_C", Q.fit_codebook(w, "QX3_C", iters=6)) < rel("QX3_C")
    assert Q.bits_per_weight("QX3_U", 4096) == pytest.approx(3.125)
    assert Q.bits_per_weight("QX3_C", 4096) == pytest.approx(3.140625)
    assert Q.bits_per_weight("QX3_U", 576) == pytest.approx(8 * 226 / 576)


def test_bad_inputs_rejected() -> None:
    w = np.zeros((2, 100), np.float32)
    with pytest.raises(ValueError):
        Q.quantize(w, "QX3_U")
    with pytest.raises(ValueError):
        N.qx_quantize("QX3_U", w)
    with pytest.raises(ValueError):
        N.qx_quantize("QX9_Z", np.zeros((2, 64), np.float32))
    bad = np.zeros((1, 64), np.float32)
    bad[0, 3] = np.nan
    with pytest.raises(ValueError):
        Q.quantize(bad, "QX3_C")
    with pytest.raises(ValueError):
        N.qx_quantize("QX3_C", bad)
    with pytest.raises(ValueError):
        N.qx_dequantize("QX3_U", b"\0" * 10, 64, 1)


def test_gguf_container_round_trip(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    rng = np.random.default_rng(8)
    w = (rng.standard_normal((192, 576)) * 0.05).astype(np.float32)
    w3 = (rng.standard_normal((2, 3, 640)) * 0.05).astype(np.float32)
    path = tmp_path / "qx.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    packed, meta = Q.quantize_tensor(w, "QX3_U")
    assert meta == {"type": "QX3_U", "shape": [576, 192], "group_size": 128}
    Q.write_quantx_tensor(writer, "blk.0.attn_q.weight", packed, "QX3_U", w.shape)
    packed3, _ = Q.quantize_tensor(w3, "QX4_C")
    Q.write_quantx_tensor(writer, "blk.0.ffn_up.weight", packed3, "QX4_C", w3.shape)
    writer.add_tensor("output_norm.weight", np.ones(576, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    reader = gguf.GGUFReader(str(path))
    by_name = {t.name: t for t in reader.tensors}
    t = by_name["blk.0.attn_q.weight"]
    assert t.tensor_type == gguf.GGMLQuantizationType.I8
    assert [int(v) for v in t.shape] == [Q.row_size("QX3_U", 576), 192]
    got = Q.read_quantx_tensors(reader)
    assert set(got) == {"blk.0.attn_q.weight", "blk.0.ffn_up.weight"}
    np.testing.assert_array_equal(got["blk.0.attn_q.weight"].data, packed)
    np.testing.assert_array_equal(
        Q.dequantize_bytes(got["blk.0.attn_q.weight"].data, "QX3_U", 576, 192),
        Q.dequantize(Q.quantize(w, "QX3_U")))
    assert got["blk.0.ffn_up.weight"].shape == (2, 3, 640)
    dump = subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_dump", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    assert "quantx.tensor.blk.0.attn_q.weight.type" in dump.stdout and "I8" in dump.stdout


def test_real_smollm2_weights_byte_exact(smollm2_q41: Path) -> None:
    """Real rows (SmolLM2 Q4_1 weights, dequantized by gguf-py): numpy and
    native quantizers agree byte for byte on 576- and 1536-wide rows, and the
    4-bit types are more accurate than the 3-bit ones."""
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(smollm2_q41))
    by_name = {t.name: t for t in reader.tensors}
    for name in ("blk.0.attn_q.weight", "blk.0.ffn_down.weight"):
        t = by_name[name]
        w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1, int(t.shape[0]))[:64].astype(np.float32)
        errs = {}
        for qtype in TYPES:
            q = Q.quantize(w, qtype, codebook=Q.fit_codebook(w, qtype, iters=4) if "_C" in qtype else None)
            packed = Q.pack(q)
            cb = q.tables if q.qtype.row_codebook else None
            assert packed.tobytes() == N.qx_quantize(qtype, w, codebook=cb), (name, qtype)
            d = Q.dequantize(q)
            errs[qtype] = float(np.sqrt(((d - w) ** 2).sum() / (w**2).sum()))
        assert errs["QX4_U"] < errs["QX3_U"] and errs["QX4_C"] < errs["QX3_C"], errs
        # a fitted per-row codebook beats the uniform grid on real weights
        assert errs["QX3_C"] < errs["QX3_U"] and errs["QX4_C"] < errs["QX4_U"], errs


def _copy_gguf_with(src: Path, dst: Path, edit) -> None:
    """Rewrite a GGUF through gguf-py with `edit(key, value) -> value | None` (None drops the key)
    applied to the metadata; extra keys may be added by edit("", None) returning a dict."""
    gguf = pytest.importorskip("gguf")
    r = gguf.GGUFReader(str(src))
    w = gguf.GGUFWriter(str(dst), str(r.fields["general.architecture"].contents()))
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        val = edit(name, f.contents())
        if val is None:
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, val, vtype, sub_type=sub)
    for key, (val, vtype, sub) in (edit("", None) or {}).items():
        w.add_key_value(key, val, vtype, sub_type=sub)
    for t in r.tensors:
        w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_tensor_codebook_files_load_and_hostile_codebooks_are_refused(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """A QX3_U tensor relabelled QX3_T with the U grid as its codebook computes exactly the same
    (the loader puts the codebook in front of each row); bad codebook metadata is a clear error."""
    gguf = pytest.importorskip("gguf")
    quantx = pytest.importorskip("quantx")
    from quantx.convert import convert

    src = tmp_path / "u.gguf"
    convert(tiny_llama_dir, src, "qx3_u", quiet=True)
    target = "quantx.tensor.blk.0.ffn_down.weight."
    A = gguf.GGUFValueType.ARRAY

    def variant(name: str, codebook, elem=gguf.GGUFValueType.INT32) -> Path:
        def edit(key, val):
            if key == "":
                return {} if codebook is None else {target + "codebook": (list(codebook), A, elem)}
            return "QX3_T" if key == target + "type" else val
        out = tmp_path / f"{name}.gguf"
        _copy_gguf_with(src, out, edit)
        return out

    ids = [5, 17, 300, 2, 99, 1000, 7]
    want = np.asarray(quantx.Model(src).eval(ids))
    good = variant("good", range(-4, 4), gguf.GGUFValueType.INT8)
    m = quantx.Model(good)
    assert m.tensor_types()["blk.0.ffn_down.weight"] == "QX3_T"
    np.testing.assert_allclose(np.asarray(m.eval(ids)), want, rtol=0, atol=1e-5 * np.abs(want).max())
    info = Q.read_quantx_tensors(gguf.GGUFReader(str(good)))["blk.0.ffn_down.weight"]
    ref = Q.read_quantx_tensors(gguf.GGUFReader(str(src)))["blk.0.ffn_down.weight"]
    n, rows = info.shape[-1], info.shape[0]
    np.testing.assert_array_equal(Q.dequantize_bytes(info.data, info.qtype, n, rows),
                                  Q.dequantize_bytes(ref.data, ref.qtype, n, rows))
    for name, cb, needle in [("missing", None, "codebook"), ("short", range(-4, 3), "7 entries, expected 8"),
                             ("range", [-4, -3, -2, -1, 0, 1, 2, 200], "out of range")]:
        with pytest.raises(quantx.QuantxError, match=needle):
            quantx.Model(variant(name, cb))
