"""Prompt processing with QuantX weights: the several-token (gemm) path of
matmul_rows against numpy and against one-token calls, on every usable ISA,
and a whole QX3_U / QX3_C model whose batched prompt logits must match
token-by-token evaluation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantx import _native as N
from quantx.convert import qxformats as Q
from quantx.model import Model

from qx_helpers import ISAS, assert_a8_row, quantized_case


@pytest.mark.parametrize("qtype", list(Q.QX_TYPES))
@pytest.mark.parametrize("isa", ISAS)
def test_a8_batch_matches_numpy_and_single_tokens(qtype: str, isa: str) -> None:
    # 9 tokens: two 4-token gemm passes and one gemv token; 37 rows: a partial
    # row tile and an odd row count. Row lengths of SmolLM2 and odd ones.
    rng = np.random.default_rng(5)
    t = Q.qx_type(qtype)
    for n in (160, 576, 1536):
        rows, nt = 37, 9
        data, deq = quantized_case(qtype, n, rows, rng, zero_row=2, outlier=(4, 33, -7.0))
        x = rng.standard_normal((nt, n)).astype(np.float32)
        x[3, ::7] = 40.0  # saturating int8 activations
        x[6] = 0.0
        y = N.matmul(t.type_id, data, n, rows, x, 8, isa)
        assert y.shape == (nt, rows)
        for k in range(nt):
            assert_a8_row(y[k], deq, x[k], isa, (qtype, isa, n, k))
            one = N.matmul(t.type_id, data, n, rows, x[k:k + 1], 8, isa)[0]
            # The runtime's promise: a token's A8 result does not depend on its batch.
            assert np.array_equal(one, y[k]), (qtype, isa, n, k)


def prompt_vs_single(path: Path, ids: list[int], act: int) -> tuple[np.ndarray, np.ndarray]:
    m = Model(path, threads=2, n_batch=64, act=act)
    batched = m.eval(ids, logits_from=0)
    m.reset()
    single = np.stack([m.eval([i], logits_from=0)[0] for i in ids])
    assert batched.shape == single.shape == (len(ids), m.n_vocab)
    return batched, single


# 23 prompt tokens: five 4-token gemm passes and three one-token passes per matmul.
@pytest.mark.parametrize("outtype", ["qx3_u", "qx3_c"])
def test_batched_prompt_logits_match_token_by_token(outtype: str, tiny_llama_dir: Path, converted) -> None:
    path = converted(tiny_llama_dir, outtype)
    assert outtype.upper() in set(Model(path).tensor_types().values())
    ids = [int(i) for i in np.random.default_rng(3).integers(10, 400, size=23)]
    # A8 (the QuantX default): stated tolerance 0 -- the runtime computes every
    # (row, token) with the same operations whatever the batch.
    batched, single = prompt_vs_single(path, ids, 8)
    assert np.array_equal(batched, single), float(np.abs(batched - single).max())
    # A16: batches dequantize each row once and use float dots, so only float
    # rounding differs: 1e-4 of the largest logit.
    batched, single = prompt_vs_single(path, ids, 16)
    assert float(np.abs(batched - single).max()) <= 1e-4 * float(np.abs(single).max())
    assert (batched.argmax(1) == single.argmax(1)).all()


def test_real_smollm2_qx3_u_prompt_matches_token_by_token(smollm2_hf_dir: Path, converted) -> None:
    # The real row lengths (576, 1536) and vocabulary, all linear weights QX3_U.
    path = converted(smollm2_hf_dir, "qx3_u")
    ids = [int(i) for i in np.random.default_rng(4).integers(100, 20000, size=11)]
    batched, single = prompt_vs_single(path, ids, 8)
    assert np.array_equal(batched, single), float(np.abs(batched - single).max())


# Row tiles: on a CPU with the tiled VNNI kernels the loader re-lays A8 QuantX
# weights out as 8-row tiles; the results must not change by a single bit.
@pytest.mark.parametrize("outtype", ["qx3_u", "qx3_c", "qx4_u", "qx4_c"])
def test_row_tiles_compute_bit_identical_logits(outtype: str, tiny_llama_dir: Path, converted,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = converted(tiny_llama_dir, outtype)
    if not N.qx_tiled_kernels(Q.qx_type(outtype.upper()).type_id):
        pytest.skip(f"this CPU has no tiled kernels for {outtype.upper()} (AVX-512 VNNI, and VBMI for C types)")
    ids = [int(i) for i in np.random.default_rng(4).integers(10, 400, size=23)]

    def logits() -> np.ndarray:
        m = Model(path, threads=2, n_batch=16, act=8)
        prompt = m.eval(ids[:19], logits_from=0)        # gemm passes of 16 and 3 gemv tokens
        return np.concatenate([prompt] + [m.eval([i], logits_from=0) for i in ids[19:]])

    monkeypatch.setenv("QUANTX_TILES", "qx")  # the Q8_0 head's tiles sum in another order: rows for both
    tiled = logits()
    monkeypatch.setenv("QUANTX_TILES", "0")
    rows = logits()
    assert np.array_equal(tiled, rows), float(np.abs(tiled - rows).max())


# Tensor codebooks (QX3_T / QX4_T, what the recipes write) reach the runtime as
# C rows that all carry the tensor's table; on AVX-512 VNNI their tiles run
# through the shared-table kernels (vpshufb), which must not change a bit either.
def test_tensor_codebook_tiles_compute_bit_identical_logits(tmp_path: Path, tiny_llama_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    if not N.qx_tiled_kernels(Q.qx_type("QX3_C").type_id, shared_table=True):
        pytest.skip("this CPU has no shared-table tiled kernels (AVX-512 VNNI)")
    out = tmp_path / "cb.gguf"
    res = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--quiet",
                          "--recipe", "codebook", "--tune-epochs", "0", "--calib-samples", "2", "--calib-seq", "48",
                          "--no-calib-cache"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    types = Model(out, act=8).tensor_types()
    assert any(v in ("QX3_T", "QX4_T") for v in types.values()), types
    ids = [int(i) for i in np.random.default_rng(6).integers(10, 400, size=23)]

    def logits() -> np.ndarray:
        m = Model(out, threads=2, n_batch=16, act=8)
        prompt = m.eval(ids[:19], logits_from=0)
        return np.concatenate([prompt] + [m.eval([i], logits_from=0) for i in ids[19:]])

    monkeypatch.setenv("QUANTX_TILES", "qx")  # the Q8_0 head's tiles sum in another order: rows for both
    tiled = logits()
    monkeypatch.setenv("QUANTX_TILES", "0")
    rows = logits()
    assert np.array_equal(tiled, rows), float(np.abs(tiled - rows).max())


# The Q8_0 output head is tiled too where the CPU has the VNNI kernels (q8_0_tiles.h). On rows of
# 256 or more (SmolLM2's 576) its tiles add each row's blocks in another order than the row kernel,
# so the logits move by float rounding only (the head is the last product: nothing amplifies it).
# One batch giving the bits of token-by-token evaluation with the head tiled is
# test_real_smollm2_qx3_u_prompt_matches_token_by_token.
def test_q8_0_head_tiles_change_only_rounding(smollm2_hf_dir: Path, converted,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = converted(smollm2_hf_dir, "qx3_u")
    if not N.qx_tiled_kernels(Q.qx_type("QX3_U").type_id):
        pytest.skip("this CPU has no tiled kernels (AVX-512 VNNI)")
    assert Model(path).tensor_types()["token_embd.weight"] == "Q8_0"
    ids = [int(i) for i in np.random.default_rng(8).integers(100, 20000, size=11)]

    def logits() -> np.ndarray:
        m = Model(path, threads=2, n_batch=8, act=8)
        prompt = m.eval(ids[:9], logits_from=0)        # a gemm pass of 8 tokens and one gemv token
        return np.concatenate([prompt] + [m.eval([i], logits_from=0) for i in ids[9:]])

    tiled = logits()
    monkeypatch.setenv("QUANTX_TILES", "qx")
    rows = logits()
    assert not np.array_equal(tiled, rows), "the head was not tiled"
    assert float(np.abs(tiled - rows).max()) <= 2e-6 * float(np.abs(rows).max())  # measured: 3e-7
    assert (tiled.argmax(1) == rows.argmax(1)).all()
