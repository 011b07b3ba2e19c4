"""Property tests (hypothesis) for the QuantX formats over random shapes (row
lengths any multiple of 32, so last groups of every length), all four types,
random codebooks and scales: pack/unpack round trips, numpy reference vs
native byte-exact quantization and exact dequantization, and the RTN error
bound that follows from the format's definition."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantx import _native as N
from quantx.convert import qxformats as Q

TYPES = sorted(Q.QX_TYPES)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.tuples(st.integers(1, 6), st.integers(1, 48).map(lambda k: 32 * k))


@st.composite
def quantized_rows(draw: st.DrawFn) -> Q.QuantizedRows:
    """Arbitrary valid unpacked rows: any codes, any finite fp16 scales, any int8 codebook."""
    t = Q.QX_TYPES[draw(st.sampled_from(TYPES))]
    rows, n = draw(shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    codes = rng.integers(0, t.table_size, size=(rows, n), dtype=np.uint8)
    bits = rng.integers(0, 1 << 16, size=(rows, Q.n_groups(n)), dtype=np.uint16)
    bits[(bits & 0x7C00) == 0x7C00] &= 0x83FF  # inf/nan -> finite, subnormals and -0 stay
    scales = bits.view(np.float16)
    if t.row_codebook:
        tables = rng.integers(-127, 128, size=(rows, t.table_size), dtype=np.int16).astype(np.int8)
    else:
        tables = np.broadcast_to(t.table(), (rows, t.table_size)).copy()
    return Q.QuantizedRows(t, codes, scales, tables)


@SETTINGS
@given(quantized_rows())
def test_pack_unpack_round_trip(q: Q.QuantizedRows) -> None:
    rows, n = q.codes.shape
    packed = Q.pack(q)
    assert packed.shape == (rows, N.qx_row_size(q.qtype.name, n))
    back = Q.unpack(packed.tobytes(), q.qtype, n, rows)
    np.testing.assert_array_equal(back.codes, q.codes)
    np.testing.assert_array_equal(back.scales.view(np.uint16), q.scales.view(np.uint16))
    np.testing.assert_array_equal(back.tables, q.tables)
    # The native decoder reads the same bytes to the same floats, bit for bit.
    native = N.qx_dequantize(q.qtype.name, packed.tobytes(), n, rows)
    np.testing.assert_array_equal(native, Q.dequantize(q))


@st.composite
def weights(draw: st.DrawFn) -> np.ndarray:
    rows, n = draw(shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    magnitude = draw(st.sampled_from([1e-6, 1e-3, 0.02, 1.0, 300.0]))
    kind = draw(st.sampled_from(["gauss", "uniform", "heavy", "sparse"]))
    if kind == "gauss":
        w = rng.standard_normal((rows, n))
    elif kind == "uniform":
        w = rng.uniform(-1, 1, (rows, n))
    elif kind == "heavy":
        w = rng.standard_t(2, (rows, n))
    else:
        w = rng.standard_normal((rows, n)) * (rng.random((rows, n)) < 0.05)
    # + 0.0 turns -0.0 into +0.0: see test_all_zero_group_led_by_negative_zero for why.
    w = (w * magnitude).astype(np.float32) + np.float32(0.0)
    if draw(st.booleans()):  # an exactly-zero group and an outlier
        w[0, : min(n, Q.GROUP_SIZE)] = 0.0
        w[-1, n // 2] = 50.0 * magnitude
    return w


def rtn_error_bound(w: np.ndarray, q: Q.QuantizedRows) -> np.ndarray:
    """Per-weight bound of |w - dequant| for round-to-nearest with the group scale
    d = xm / T[k*] (xm the group's largest-magnitude weight, T[k*] the table's):
    w/d lies in [-M, M] with M = |T[k*]|, so the nearest entry is at most h away,
    h = the larger of half the widest gap between sorted entries and the stretch
    of [-M, M] the table does not reach. The fp16 rounding of d widens the range
    by |xm| * 2^-11 (normal scales) or 2^-25 * M (subnormal ones)."""
    rows, n = w.shape
    bound = np.empty((rows, n), dtype=np.float64)
    for r in range(rows):
        tab = np.sort(q.tables[r].astype(np.float64))
        m = np.abs(tab).max()
        h = max(np.diff(tab).max(initial=0.0) / 2, tab[0] + m, m - tab[-1])
        d = np.abs(np.repeat(q.scales[r].astype(np.float64), Q.GROUP_SIZE)[:n])
        g = np.abs(np.pad(w[r], (0, Q.n_groups(n) * Q.GROUP_SIZE - n)).reshape(-1, Q.GROUP_SIZE)).max(axis=1)
        xm = np.repeat(g.astype(np.float64), Q.GROUP_SIZE)[:n]
        bound[r] = d * h + xm * 2.0**-10 + m * 2.0**-24 + 1e-6 * xm
    return bound


@SETTINGS
@given(weights(), st.sampled_from(TYPES), st.sampled_from(["default", "fitted", "random"]))
def test_quantize_dequantize_error_bound_and_native_parity(w: np.ndarray, qtype: str, codebook: str) -> None:
    t = Q.QX_TYPES[qtype]
    rows, n = w.shape
    cb = None
    if t.row_codebook and codebook == "fitted":
        cb = Q.fit_codebook(w, t, iters=3)
    elif t.row_codebook and codebook == "random":
        rng = np.random.default_rng(rows * 1000 + n)
        cb = np.sort(rng.integers(-127, 128, size=(rows, t.table_size)), axis=1).astype(np.int8)
        cb[:, 0] = -127  # a nonzero entry, so every group has a scale
    q = Q.quantize(w, t, codebook=cb)
    packed = Q.pack(q).tobytes()
    # numpy reference and native quantizer agree byte for byte, and so do the decoders.
    assert packed == N.qx_quantize(qtype, w, cb)
    deq = N.qx_dequantize(qtype, packed, n, rows)
    np.testing.assert_array_equal(deq, Q.dequantize(q))
    err = np.abs(w.astype(np.float64) - deq.astype(np.float64))
    bound = rtn_error_bound(w, q)
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert (err <= bound).all(), f"error {err[worst]} > bound {bound[worst]} at {worst}"
    # Each group's largest-magnitude weight is represented up to the fp16 rounding of its scale.
    g = np.pad(w, ((0, 0), (0, Q.n_groups(n) * Q.GROUP_SIZE - n))).reshape(rows, -1, Q.GROUP_SIZE)
    i = np.abs(g).argmax(axis=2)
    cols = np.minimum(np.arange(g.shape[1])[None, :] * Q.GROUP_SIZE + i, n - 1)
    xm = np.take_along_axis(w, cols, axis=1).astype(np.float64)
    got = np.take_along_axis(deq, cols, axis=1).astype(np.float64)
    assert (np.abs(got - xm) <= np.abs(xm) * 2.0**-10 + 127 * 2.0**-24).all()
    # All-zero groups decode to exact zeros.
    zero = ~g.any(axis=2)
    dg = np.pad(deq, ((0, 0), (0, Q.n_groups(n) * Q.GROUP_SIZE - n))).reshape(rows, -1, Q.GROUP_SIZE)
    assert not dg[zero].any()


@pytest.mark.xfail(strict=True, reason="known: for an all-zero group whose first value is -0.0 the numpy reference "
                   "takes -0.0 as the signed max (scale +0.0) while the native quantizer starts from +0.0 "
                   "(scale -0.0); the decoded weights are zeros either way, only the scale's sign bit differs")
@pytest.mark.parametrize("qtype", TYPES)
def test_all_zero_group_led_by_negative_zero(qtype: str) -> None:
    w = np.zeros((1, 32), dtype=np.float32)
    w[0, 0] = -0.0
    assert Q.pack(Q.quantize(w, qtype)).tobytes() == N.qx_quantize(qtype, w)
