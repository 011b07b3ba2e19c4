"""QuantX types through the runtime's matmul_rows (type_traits -> QuantX
rows, kernel selection per ISA): every usable ISA, A16 and A8, against numpy
on the dequantized weights (A8: against the BlockQ8-quantized activations)."""
from __future__ import annotations

import numpy as np
import pytest

from quantx import _native as N
from quantx.convert import qxformats as Q

from qx_helpers import ISAS, assert_a8_row, quantized_case


@pytest.mark.parametrize("qtype", list(Q.QX_TYPES))
@pytest.mark.parametrize("isa", ISAS)
def test_matmul_rows_matches_numpy(qtype: str, isa: str) -> None:
    rng = np.random.default_rng(11)
    t = Q.qx_type(qtype)
    for n in (96, 576, 1536):
        rows = 24
        data, deq = quantized_case(qtype, n, rows, rng, zero_row=3, outlier=(5, 17, 9.0))
        x = rng.standard_normal((2, n)).astype(np.float32)
        y16 = N.matmul(t.type_id, data, n, rows, x, 16, isa)
        x64 = x.astype(np.float64)
        assert y16.shape == (2, rows)
        assert (np.abs(y16 - x64 @ deq.T) <= 2e-5 * (np.abs(x64) @ np.abs(deq.T)) + 1e-6).all(), (qtype, isa, n)
        y8 = N.matmul(t.type_id, data, n, rows, x, 8, isa)
        for k in range(2):
            assert_a8_row(y8[k], deq, x[k], isa, (qtype, isa, n, k))
