"""Shared by the QuantX matmul tests: the usable ISAs, BlockQ8 decoding, and the A8
tolerance check against numpy on the dequantized weights."""
from __future__ import annotations

import numpy as np

from quantx import _native as N
from quantx.convert import qxformats as Q

ISAS = [i for i in N.isa_names() if N.isa_supported(i)]


def decode_q8(raw: bytes, n: int) -> np.ndarray:
    """BlockQ8 bytes -> the float activations they represent (d * qs)."""
    blk = np.frombuffer(raw, dtype=np.dtype([("d", "<f4"), ("sum", "<i2", 2), ("qs", "i1", 32)]))
    return (blk["d"][:, None].astype(np.float64) * blk["qs"].astype(np.float64)).reshape(-1)[:n]


def quantized_case(qtype: str, n: int, rows: int, rng: np.random.Generator, zero_row: int,
                   outlier: tuple[int, int, float]) -> tuple[bytes, np.ndarray]:
    """Random weights with an all-zero first group in one row and one huge outlier, as the
    native packer stores them, and their exact float64 values."""
    w = (rng.standard_normal((rows, n)) * 0.05).astype(np.float32)
    w[zero_row, :128] = 0.0
    w[outlier[0], outlier[1]] = outlier[2]
    data = N.qx_quantize(qtype, w)
    return data, Q.dequantize_bytes(data, Q.qx_type(qtype), n, rows).astype(np.float64)


def assert_a8_row(y: np.ndarray, deq: np.ndarray, x: np.ndarray, isa: str, what: object) -> None:
    """One token's A8 product against numpy on the activations as the kernel quantized them;
    the bound is relative to the sum of |products|, as the int32/float accumulation allows."""
    xq = decode_q8(N.quantize_q8(x, isa), deq.shape[1])
    want = deq @ xq
    assert (np.abs(y - want) <= 2e-5 * (np.abs(deq) @ np.abs(xq)) + 1e-6).all(), what
