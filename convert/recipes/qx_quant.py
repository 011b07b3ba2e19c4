"""QuantX-format candidates in torch: searched group scales and GPTQ rounding onto a value table.

A QuantX row is w[i] ~= d_g * T[c_i]: one signed fp16 scale d_g per group of 128 weights (the
last group of a row may be short) and codes into an int8 value table T (the fixed grid of the
U types, or the row's own codebook for the C types). Everything here produces exactly that
structure, so the result packs into the file format without another rounding step
(`QxQuant.packed` goes through convert/qxformats.py, the format's reference packer).

Scale search: per group, the candidates are the RTN scale (the group's largest-magnitude
weight on the table's long end) and shrunk versions of it, with the extreme also tried on the
table's other end; the one with the least activation-weighted error sum_j imp_j (w_j - w^_j)^2
wins (imp_j = E[x_j^2], the diagonal of the layer's output error).

GPTQ: the columns are rounded one at a time and each column's error is spread over the
columns not yet rounded through the inverse Hessian (Frantar et al.). A group's scales are
searched when its first column is reached, from the error-updated weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import qxformats as qxf
from .gptq import inverse_hessian_upper_cholesky

GROUP = qxf.GROUP_SIZE


@dataclass
class QxQuant:
    """One weight matrix in a QuantX format: codes, group scales and the value table per row."""

    qtype: str  # the runtime format (a tensor-codebook candidate is QX3_C rows sharing one table)
    codes: torch.Tensor   # uint8 [rows, n]
    scales: torch.Tensor  # float32 [rows, groups], fp16-representable
    tables: torch.Tensor  # float32 [rows, K], int8-valued

    def dequantize(self) -> torch.Tensor:
        n = self.codes.shape[1]
        d = self.scales.repeat_interleave(GROUP, dim=1)[:, :n]
        return d * torch.gather(self.tables, 1, self.codes.long())

    def packed(self) -> np.ndarray:
        """uint8 [rows, row_bytes]: the file's bytes for this matrix."""
        t = qxf.qx_type(self.qtype)
        rows = qxf.QuantizedRows(t, self.codes.numpy().astype(np.uint8), self.scales.numpy().astype(np.float16),
                                 self.tables.numpy().astype(np.int8))
        return qxf.pack(rows)

    @property
    def bits_per_weight(self) -> float:
        return qxf.bits_per_weight(self.qtype, self.codes.shape[1])


def _fp16(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-65504, 65504).to(torch.float16).to(torch.float32)


class TableRounder:
    """Nearest table entry for values in table units, for tables [rows, K] sorted ascending (both
    formats' tables are); smallest k on ties, as the format's RTN. Built once per matrix because
    GPTQ rounds one column at a time and the scale search every candidate scale."""

    # Twice a midpoint of two int8 entries is an integer in [-254, 254].
    _LUT_LO, _LUT_HI = -254, 255

    def __init__(self, tables: torch.Tensor) -> None:
        self.tables = tables
        self.lo = tables[:, :1]
        self.k = tables.shape[1]
        self.uniform = bool((tables - self.lo == torch.arange(self.k)).all())  # consecutive integers
        # The code is the number of midpoints below y. For int8-valued tables, mid < y exactly when
        # 2*mid < ceil(2y) (2*mid an integer), so a per-row table over the few possible ceil(2y)
        # gives the code with one gather, where a search costs ~17 ns a value: the scale search
        # rounds every weight 20 times per candidate format.
        self._tables_np = tables.numpy()
        self._lo_np = self._tables_np[:, 0]
        self._rows_np = np.arange(tables.shape[0])
        self.lut = None
        self.mids = ((tables[:, 1:] + tables[:, :-1]) / 2).contiguous()
        if not self.uniform and bool((tables == tables.round()).all()) and float(tables.abs().max()) <= 127:
            v = torch.arange(self._LUT_LO, self._LUT_HI + 1, dtype=tables.dtype)
            shared = bool((tables == tables[:1]).all())  # a tensor codebook: one table for every row
            t = tables[:1] if shared else tables
            twice = (t[:, 1:] + t[:, :-1]).unsqueeze(1)  # [rows, 1, K-1]
            lut = (twice < v.view(1, -1, 1)).sum(-1)  # [rows, 510]: codes for ceil(2y) = v
            self.lut = lut.expand(tables.shape[0], -1) if shared else lut
            self._lut_np = self.lut.numpy()

    def codes(self, y: torch.Tensor) -> torch.Tensor:
        """y [rows, ...] in table units -> int64 codes of y's shape."""
        if self.uniform:
            return (torch.ceil(y - 0.5) - self.lo.view(-1, *[1] * (y.dim() - 1))).clamp_(0, self.k - 1).long()
        flat = y.reshape(y.shape[0], -1)
        if self.lut is not None:
            v = torch.ceil(flat * 2).clamp_(self._LUT_LO, self._LUT_HI).sub_(self._LUT_LO).long()
            return torch.gather(self.lut, 1, v).view(y.shape)
        return torch.searchsorted(self.mids, flat.contiguous()).view(y.shape)

    def codes_np(self, y: np.ndarray) -> np.ndarray:
        """codes() of one column y [rows] (float32 numpy): GPTQ's per-column rounding, where
        torch's per-call overhead outweighs the work."""
        if self.uniform:
            return np.clip(np.ceil(y - np.float32(0.5)) - self._lo_np, 0, self.k - 1).astype(np.int64)
        if self.lut is not None:
            v = np.clip(np.ceil(y * np.float32(2)), self._LUT_LO, self._LUT_HI).astype(np.int64) - self._LUT_LO
            return self._lut_np[self._rows_np, v]
        return torch.searchsorted(self.mids, torch.from_numpy(y).unsqueeze(1).contiguous())[:, 0].numpy()

    def lookup_np(self, codes: np.ndarray) -> np.ndarray:
        """Table values of one column's codes [rows] (numpy)."""
        return self._tables_np[self._rows_np, codes]

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Table values for codes [rows, ...]."""
        return torch.gather(self.tables, 1, codes.reshape(codes.shape[0], -1)).view(codes.shape)

    def round(self, w: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes, dequantized values) of w [rows, ...] with scales d broadcastable to w."""
        nz = d != 0
        if bool(nz.all()):
            c = self.codes(w / d)
        else:  # a zero scale ties every entry: the first, as the format's RTN
            c = torch.where(nz, self.codes(w / torch.where(nz, d, torch.ones_like(d))), 0)
        return c, d * self.lookup(c)


def nearest_codes(w: torch.Tensor, d: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """argmin_k |w - d * T[k]| for w [rows, m], scales d broadcastable to w, tables [rows, K] sorted."""
    return TableRounder(tables).round(w, d)[0]


def _scale_candidates(wg: torch.Tensor, tables: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """[rows, groups, C] candidate scales for groups wg [rows, groups, G]."""
    idx = wg.abs().argmax(-1, keepdim=True)
    xm = torch.gather(wg, -1, idx)[..., 0]  # signed largest-magnitude weight
    lo = tables.min(1).values.clamp(max=-1).unsqueeze(1)  # the table's ends (nonzero)
    hi = tables.max(1).values.clamp(min=1).unsqueeze(1)
    d_lo = xm / lo  # extreme on the table's negative end
    d_hi = xm / hi  # ... or on its positive end
    return torch.cat([d_lo.unsqueeze(-1) * ratios, d_hi.unsqueeze(-1) * ratios], -1)


def search_group_scales(w: torch.Tensor, tables: torch.Tensor, importance: torch.Tensor | None = None,
                        ratios: torch.Tensor | None = None, rounder: TableRounder | None = None) -> torch.Tensor:
    """Best fp16 scale per (row, group) of w [rows, n] for the row tables [rows, K]: float32 [rows, groups].
    rounder: TableRounder(tables), when the caller has one."""
    rows, n = w.shape
    ratios = torch.linspace(1.0, 0.55, 10) if ratios is None else ratios
    imp = torch.ones(n) if importance is None else importance.float()
    pad = -n % GROUP
    wp = torch.cat([w, torch.zeros(rows, pad)], 1) if pad else w
    ip = torch.cat([imp, torch.zeros(pad)]) if pad else imp
    groups = wp.shape[1] // GROUP
    ig = ip.view(1, groups, GROUP)
    cands = _fp16(_scale_candidates(wp.view(rows, groups, GROUP), tables, ratios))  # [rows, groups, C]
    best_err = torch.full((rows, groups), float("inf"))
    best = torch.zeros(rows, groups)
    rounder = TableRounder(tables) if rounder is None else rounder
    wg3 = wp.view(rows, groups, GROUP)
    for c in range(cands.shape[-1]):
        d = cands[..., c]
        _, deq = rounder.round(wg3, d.unsqueeze(-1))
        err = (((wg3 - deq) ** 2) * ig).sum(-1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, d, best)
    return best


def round_to_table(w: torch.Tensor, qtype: str, tables: torch.Tensor, scales: torch.Tensor) -> QxQuant:
    """Round-to-nearest codes for given scales and tables."""
    codes = nearest_codes(w, scales.repeat_interleave(GROUP, dim=1)[:, :w.shape[1]], tables)
    return QxQuant(qxf.compute_type(qtype).name, codes.to(torch.uint8), scales, tables)


def format_tables(qtype: str, rows: int, weight: np.ndarray | None = None, importance: np.ndarray | None = None,
                  lloyd_iters: int = 12) -> torch.Tensor:
    """The value table of every row: the fixed grid (U), or a codebook fitted by weighted
    k-means with the format's pinned entries (`qxformats.fit_codebook`): one per row (C) or one
    for the whole tensor (T, repeated on every row)."""
    t = qxf.compute_type(qtype)
    if not t.row_codebook:
        return torch.from_numpy(np.tile(t.table().astype(np.float32), (rows, 1)))
    if weight is None:
        return torch.from_numpy(qxf.default_codebook(t, rows).astype(np.float32))
    if qtype.upper() in qxf.TENSOR_CODEBOOK_TYPES:
        cb = qxf.fit_codebook(weight, t, lloyd_iters, importance, rows_per_codebook=rows)
        return torch.from_numpy(np.repeat(cb, rows, axis=0).astype(np.float32))
    chunk = 256
    cb = np.concatenate([qxf.fit_codebook(weight[r:r + chunk], t, lloyd_iters, importance)
                         for r in range(0, rows, chunk)])
    return torch.from_numpy(cb.astype(np.float32))


def rtn_qx(w: torch.Tensor, qtype: str, importance: torch.Tensor | None = None, search: bool = True,
           tables: torch.Tensor | None = None) -> QxQuant:
    """Round-to-nearest in a QuantX format, with searched (or plain RTN) group scales."""
    w = w.detach().float()
    if tables is None:
        imp_np = None if importance is None else importance.float().numpy()
        tables = format_tables(qtype, w.shape[0], w.numpy(), imp_np)
    if search:
        scales = search_group_scales(w, tables, importance)
    else:
        scales = search_group_scales(w, tables, importance, ratios=torch.ones(1))
    return round_to_table(w, qxf.compute_type(qtype).name, tables, scales)


def rtn_uniform_dequantized(w: torch.Tensor, qtype: str = "QX3_U") -> torch.Tensor:
    """The format's plain RTN for a uniform type (each group's largest-magnitude weight onto
    the grid's long end), dequantized: the cheap quantizer the AWQ scale search calls many times."""
    t = qxf.qx_type(qtype)
    if t.row_codebook:
        raise ValueError(f"{t.name} is not a uniform type")
    lo, hi = int(min(t.uniform_table)), int(max(t.uniform_table))
    rows, n = w.shape
    pad = -n % GROUP
    wp = torch.cat([w.float(), torch.zeros(rows, pad)], 1) if pad else w.float()
    g = wp.view(rows, -1, GROUP)
    xm = torch.gather(g, -1, g.abs().argmax(-1, keepdim=True))
    d = _fp16(xm / lo)
    safe = torch.where(d != 0, d, torch.ones_like(d))
    q = torch.ceil(g / safe - 0.5).clamp_(lo, hi)
    return (q * d).view(rows, -1)[:, :n]


@torch.no_grad()
def gptq_qx(weight: torch.Tensor, hessian: torch.Tensor, qtype: str, tables: torch.Tensor | None = None,
            damp: float = 0.01, search: bool = True) -> QxQuant:
    """GPTQ onto a QuantX format. hessian: X^T X / tokens of the layer's inputs [n, n].
    tables: the rows' value tables (default: the U grid, or codebooks fitted to the weight
    weighted by diag(H) for C types)."""
    w = weight.detach().float().clone()
    rows, n = w.shape
    h = hessian.detach().float().clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    importance = torch.diag(h).clone()
    if tables is None:
        tables = format_tables(qtype, rows, w.numpy(), importance.numpy())
    hinv = inverse_hessian_upper_cholesky(h, damp)
    groups = -(-n // GROUP)
    scales = torch.zeros(rows, groups)
    codes = torch.zeros(rows, n, dtype=torch.long)
    ratios = None if search else torch.ones(1)
    rounder = TableRounder(tables)
    for g in range(groups):
        i1, i2 = g * GROUP, min((g + 1) * GROUP, n)
        w1 = w[:, i1:i2].clone()
        scales[:, g] = search_group_scales(w1, tables, importance[i1:i2], ratios, rounder)[:, 0]
        codes[:, i1:i2], err1 = _gptq_group_columns(w1, scales[:, g], hinv[i1:i2, i1:i2], rounder)
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return QxQuant(qxf.compute_type(qtype).name, codes.to(torch.uint8), scales, tables)


def _gptq_group_columns(w1: torch.Tensor, d: torch.Tensor, hinv1: torch.Tensor,
                        rounder: TableRounder) -> tuple[torch.Tensor, torch.Tensor]:
    """GPTQ's inner loop over one group's columns w1 [rows, m] with the group's scales d [rows]:
    round a column, spread its error over the group's later columns. Returns (codes [rows, m],
    the scaled errors [rows, m] that the caller spreads over the later groups).

    In numpy on the transposed group (each column contiguous): these are ~10 small operations per
    column, where torch's per-operation dispatch cost more than the arithmetic. Every operation is
    the same IEEE float32 one the torch form did, so the codes are the same."""
    wt = w1.numpy().T.copy()  # [m, rows]
    h = hinv1.numpy()
    dn = d.numpy()
    zero = dn == 0
    any_zero = bool(zero.any())
    safe = np.where(zero, np.float32(1), dn)  # a zero scale rounds to the first entry, as the format's RTN
    m, rows = wt.shape
    codes_t = np.empty((m, rows), dtype=np.int64)
    err_t = np.empty((m, rows), dtype=np.float32)
    for i in range(m):
        col = wt[i]
        c = rounder.codes_np(col / safe)
        if any_zero:
            c[zero] = 0
        e = (col - dn * rounder.lookup_np(c)) / h[i, i]
        wt[i:] -= h[i, i:, None] * e[None, :]
        codes_t[i], err_t[i] = c, e
    return torch.from_numpy(codes_t.T.copy()), torch.from_numpy(err_t.T.copy())
