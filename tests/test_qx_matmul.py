"""QuantX types through the runtime's matmul_rows (type_traits -> QuantX
rows, kernel selection per ISA): every usable ISA, A16 and A8, against numpy
on the dequantized weights (A8: against the BlockQ8-quantized activations)."""
from __future__ import annotations

import numpy as np
import pytest

from quantx import _native as N
from quantx.convert import qxformats as Q

ISAS = [i for i in N.isa_names() if N.isa_supported(i)]


def decode_q8(raw: bytes, n: int) -> np.ndarray:
    """BlockQ8 bytes -> the float activations they represent (d * qs)."""
    blk = np.frombuffer(raw, dtype=np.dtype([("d", "<f4"), ("sum", "<i2", 2), ("qs", "i1", 32)]))
    return (blk["d"][:, None].astype(np.float64) * blk["qs"].astype(np.float64)).reshape(-1)[:n]


@pytest.mark.parametrize("qtype", list(Q.QX_TYPES))
@pytest.mark.parametrize("isa", ISAS)
def test_matmul_rows_matches_numpy(qtype: str, isa: str) -> None:
    rng = np.random.default_rng(11)
    t = Q.qx_type(qtype)
    for n in (96, 576, 1536):
        rows = 24
        w = (rng.standard_normal((rows, n)) * 0.05).astype(np.float32)
        w[3, :128] = 0.0
        w[5, 17] = 9.0
        data = N.qx_quantize(qtype, w)
        deq = Q.dequantize_bytes(data, t, n, rows).astype(np.float64)
        x = rng.standard_normal((2, n)).astype(np.float32)
        y16 = N.matmul(t.type_id, data, n, rows, x, 16, isa)
        x64 = x.astype(np.float64)
        assert y16.shape == (2, rows)
        assert (np.abs(y16 - x64 @ deq.T) <= 2e-5 * (np.abs(x64) @ np.abs(deq.T)) + 1e-6).all(), (qtype, isa, n)
        y8 = N.matmul(t.type_id, data, n, rows, x, 8, isa)
        for k in range(2):
            xq = decode_q8(N.quantize_q8(x[k], isa), n)
            want = deq @ xq
            assert (np.abs(y8[k] - want) <= 2e-5 * (np.abs(deq) @ np.abs(xq)) + 1e-6).all(), (qtype, isa, n)
