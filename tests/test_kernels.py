"""Kernel layer against gguf-py and numpy.

Dequantization must equal gguf.quants.dequantize exactly (it is the same
format definition); matmul through every ISA this CPU supports must match a
numpy float64 reference within the stated tolerances; the native test
executable (scalar-vs-SIMD on edge data) must pass.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
import gguf.quants

from quantx import _native

REPO = Path(__file__).resolve().parent.parent
TYPES = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q6_K]
QUANTIZABLE = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1]  # gguf-py quantizes these
ISAS = [name for name in _native.isa_names() if _native.isa_supported(name)]

# BlockQ8: float32 d, int16 half-sums[2], int8 qs[32] (40 bytes, no padding).
Q8_DTYPE = np.dtype([("d", "<f4"), ("sum", "<i2", (2,)), ("qs", "i1", (32,))])


def random_blocks(qtype: T, n_blocks: int, rng: np.random.Generator) -> bytes:
    """Valid blocks of a K format: random codes and scales, finite fp16 fields."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    if qtype == T.Q4_K:
        raw[:, 0:2] = rng.uniform(1e-3, 2e-2, n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
        raw[:, 2:4] = rng.uniform(1e-3, 2e-2, n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    elif qtype == T.Q6_K:
        raw[:, 208:210] = rng.uniform(1e-3, 2e-2, n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    else:
        raise ValueError(qtype)
    return raw.tobytes()


def make_weights(qtype: T, rows: int, n: int, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """(bytes, float64 dequantized matrix [rows, n]) with the dequantization by gguf-py."""
    if qtype in QUANTIZABLE:
        w = rng.standard_normal((rows, n)).astype(np.float32)
        data = gguf.quants.quantize(w, qtype)
    else:
        block_size, _ = GGML_QUANT_SIZES[qtype]
        data = np.frombuffer(random_blocks(qtype, rows * n // block_size, rng), dtype=np.uint8)
        data = data.reshape(rows, -1)
    deq = gguf.quants.dequantize(np.asarray(data).reshape(rows, -1), qtype)
    return np.asarray(data).tobytes(), deq.reshape(rows, n).astype(np.float64)


@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_type_info_matches_gguf(qtype: T) -> None:
    info = _native.type_info(int(qtype))
    assert info["name"] == qtype.name
    assert (info["block_size"], info["type_size"]) == GGML_QUANT_SIZES[qtype]
    assert info["default_act"] == (16 if qtype in (T.F32, T.F16, T.BF16) else 8)


def test_unsupported_type_raises() -> None:
    with pytest.raises(ValueError, match="unsupported tensor type id"):
        _native.type_info(int(T.Q5_K))


@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_dequantize_equals_gguf(qtype: T) -> None:
    rng = np.random.default_rng(int(qtype))
    rows, n = 3, 512
    data, want = make_weights(qtype, rows, n, rng)
    got = _native.dequantize(int(qtype), data, n, rows)
    np.testing.assert_array_equal(got.reshape(rows, n), want.astype(np.float32))


def test_dequantize_rejects_wrong_size() -> None:
    with pytest.raises(ValueError, match="expected"):
        _native.dequantize(int(T.Q4_1), b"\0" * 19, 32)


def decode_q8(q: bytes) -> np.ndarray:
    blocks = np.frombuffer(q, dtype=Q8_DTYPE)
    return (blocks["d"][:, None] * blocks["qs"].astype(np.float32)).reshape(-1)


@pytest.mark.parametrize("isa", ISAS)
def test_quantize_q8(isa: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(576).astype(np.float32)
    x[40] = 0.0
    x[64:96] = 0.0  # an all-zero block
    blocks = np.frombuffer(_native.quantize_q8(x, isa), dtype=Q8_DTYPE)
    xb = x.reshape(-1, 32)
    d = np.abs(xb).max(axis=1) / np.float32(127)
    np.testing.assert_array_equal(blocks["d"], d)
    inv = np.where(d == 0, 0, 1 / np.where(d == 0, 1, d)).astype(np.float32)
    np.testing.assert_array_equal(blocks["qs"], np.rint(xb * inv[:, None]).astype(np.int8))
    np.testing.assert_array_equal(blocks["sum"][:, 0], blocks["qs"][:, :16].sum(axis=1))
    np.testing.assert_array_equal(blocks["sum"][:, 1], blocks["qs"][:, 16:].sum(axis=1))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("qtype", TYPES, ids=lambda t: t.name)
def test_matmul_against_numpy(qtype: T, isa: str) -> None:
    rng = np.random.default_rng(100 + int(qtype))
    n = 512 if GGML_QUANT_SIZES[qtype][0] == 256 else 576
    rows = 19
    data, w = make_weights(qtype, rows, n, rng)
    for nt in (1, 7):
        x = rng.standard_normal((nt, n)).astype(np.float32)
        mag = np.abs(w) @ np.abs(x.astype(np.float64)).T  # [rows, nt]
        # A16: float activations; only float32 rounding separates us from numpy.
        y16 = _native.matmul(int(qtype), data, n, rows, x, 16, isa)
        want = (w @ x.astype(np.float64).T).T
        assert np.all(np.abs(y16 - want) <= 1e-5 * mag.T), f"A16 {qtype.name} {isa} nt={nt}"
        # A8: activations quantized to 8 bits per block of 32. Against the
        # quantized activations the result is exact up to float rounding...
        y8 = _native.matmul(int(qtype), data, n, rows, x, 8, isa)
        xq = np.stack([decode_q8(_native.quantize_q8(row, "scalar")) for row in x]).astype(np.float64)
        want8 = (w @ xq.T).T
        assert np.all(np.abs(y8 - want8) <= 1e-5 * mag.T), f"A8 {qtype.name} {isa} nt={nt}"
        # ...and against float activations it is off by at most sum|w| * d/2 per block.
        d = np.abs(x.reshape(nt, -1, 32)).max(axis=2) / 127.0
        bound = np.abs(w) @ np.repeat(d / 2, 32, axis=1).T
        assert np.all(np.abs(y8 - want) <= bound.T * 1.0001 + 1e-5 * mag.T), f"A8 vs float {qtype.name} {isa}"


def test_matmul_rejects_unsupported_isa() -> None:
    unsupported = [name for name in _native.isa_names() if not _native.isa_supported(name)]
    if not unsupported:
        pytest.skip("every ISA is supported here")
    x = np.zeros((1, 32), np.float32)
    with pytest.raises(ValueError, match="not supported"):
        _native.matmul(int(T.F32), b"\0" * 128, 32, 1, x, 16, unsupported[0])


def native_test_exe() -> Path | None:
    env = os.environ.get("QUANTX_KERNEL_TEST_EXE")
    cand = Path(env) if env else REPO / "build" / "dev-cmake" / "test_kernels"
    return cand if cand.is_file() else None


def test_native_kernel_suite() -> None:
    exe = native_test_exe()
    if exe is None:
        pytest.skip("native test executable not built (tools/devbuild.sh builds build/dev-cmake/test_kernels)")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    last = proc.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert m, proc.stdout[-2000:]
    assert proc.returncode == 0 and m.group(2) == "0" and int(m.group(1)) > 0, proc.stdout[-4000:]


def best_isa_with_env(value: str) -> str:
    import sys

    env = dict(os.environ, QUANTX_ISA=value)
    out = subprocess.run(
        [sys.executable, "-c", "from quantx import _native; print(_native.best_isa())"],
        env=env, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def test_quantx_isa_env_only_lowers() -> None:
    hardware_best = _native.best_isa()
    assert best_isa_with_env("scalar") == "scalar"
    for name in ISAS:
        assert best_isa_with_env(name) == name
    # Asking for an ISA the machine lacks leaves the choice at the hardware's best.
    for name in _native.isa_names():
        if name not in ISAS and not os.environ.get("QUANTX_ISA"):
            assert best_isa_with_env(name) == hardware_best
