"""Candidate encodings of one linear weight and the criteria that compare them.

For every linear weight of a decoder layer (after the layer's activation-aware scales are
folded in), each format the recipe allows is tried (GPTQ-rounded onto the format's grid or
fitted codebook, or plain searched round-to-nearest), and every candidate is scored by:

  out_err   relative output error tr(D H D^T) / tr(W H W^T) on the calibration inputs
            (H = X^T X / tokens, D = W - W^): what the layer's output loses;
  attn_kl   for Q and K: mean KL between the float and the quantized attention maps
            (softmax(QK^T / sqrt d)) on calibration sequences, the other projection float;
            a codebook that wins on out_err can still bend the attention maps more;
  (and per output row, the squared output error (D H D^T)_rr that sensitivity.py weights by
  the loss's gradients to estimate the candidate's end-to-end damage);
  outliers  the activation-weighted share of the weight energy held by "critical" weights,
            those farther than half a level spacing from the value they were given (weights
            a codebook's levels miss).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gguf
import numpy as np
import torch

from .. import qxformats as qxf
from .awq import AttentionShape
from .criteria import attention_map_distortion
from .qx_quant import GROUP, QxQuant, gptq_qx, rtn_qx
from .sensitivity import row_output_error

Q8_0 = "Q8_0"


@dataclass
class Candidate:
    fmt: str                          # a QuantX file type (QX3_U, QX3_T, QX3_C, QX4_*) or "Q8_0"
    bits: float                       # the tensor's size in this format, every byte counted
    qx: QxQuant | None = None         # QuantX formats, while in memory
    q8: np.ndarray | None = None      # Q8_0 blocks (gguf-py's byte layout), while in memory
    shape: tuple[int, int] = (0, 0)
    criteria: dict[str, float] = field(default_factory=dict)
    row_error: torch.Tensor | None = None  # (D H D^T)_rr per output row, for the Fisher-weighted damage
    spilled: Path | None = None       # where the payload went (its packed bytes) once spilled
    codebook: np.ndarray | None = None  # tensor-codebook formats: the shared table, once known

    def spill(self, path: Path) -> None:
        """Move the payload to disk as its packed bytes. A model's candidates in every format
        outweigh the model itself, and all are needed only until the choice; after it, only the
        chosen ones are read back, one tensor at a time, as the file is written. A tensor
        codebook stays in memory: the file's metadata needs it before the tensor data."""
        data = self.qx.packed() if self.qx is not None else np.asarray(self.q8, dtype=np.uint8)
        if self.fmt in qxf.TENSOR_CODEBOOK_TYPES:
            self.codebook = qxf.split_tensor_codebook(data, self.fmt)[1]
        np.save(path, data, allow_pickle=False)
        self.spilled, self.qx, self.q8 = path, None, None

    def tensor_codebook(self) -> np.ndarray | None:
        """The codebook shared by all rows (tensor-codebook formats), else None."""
        if self.fmt not in qxf.TENSOR_CODEBOOK_TYPES:
            return None
        if self.codebook is None:
            self.codebook = self.file_rows()[1]
        return self.codebook

    def _payload(self) -> tuple[QxQuant | None, np.ndarray | None]:
        if self.spilled is None:
            return self.qx, self.q8
        data = np.load(self.spilled, allow_pickle=False)
        if self.fmt == Q8_0:
            return None, data
        t = qxf.compute_type(self.fmt)
        q = qxf.unpack(data, t, self.shape[1], self.shape[0])
        return QxQuant(t.name, torch.from_numpy(q.codes), torch.from_numpy(q.scales.astype(np.float32)),
                       torch.from_numpy(q.tables.astype(np.float32))), None

    def quantx(self) -> QxQuant | None:
        """The codes, scales and tables (None for Q8_0), from memory or read back from disk."""
        return self._payload()[0]

    def dequantize(self) -> torch.Tensor:
        qx, q8 = self._payload()
        if qx is not None:
            return qx.dequantize()
        assert q8 is not None
        return torch.from_numpy(gguf.quants.dequantize(q8, gguf.GGMLQuantizationType.Q8_0).copy())

    def file_rows(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(stored rows uint8 [rows, bytes], the tensor codebook or None) as written to the file."""
        if self.spilled is not None:
            packed = np.load(self.spilled, allow_pickle=False)
        elif self.qx is None:
            assert self.q8 is not None
            packed = np.asarray(self.q8, dtype=np.uint8)
        else:
            packed = self.qx.packed()
        if self.fmt in qxf.TENSOR_CODEBOOK_TYPES:
            return qxf.split_tensor_codebook(packed, self.fmt)
        return packed, None

    def group_levels(self) -> torch.Tensor:
        """|level spacing| per (row, group): the scale times the table's mean spacing."""
        qx = self.quantx()
        if qx is None:
            rows, n = self.shape
            return torch.zeros(rows, -(-n // GROUP))
        t = qx.tables
        spacing = (t.max(1).values - t.min(1).values) / (t.shape[1] - 1)
        return qx.scales.abs() * spacing.unsqueeze(1)


def format_bits(fmt: str, rows: int, n: int) -> float:
    """The tensor's size in the file, every byte counted (a tensor codebook once)."""
    if fmt == Q8_0:
        return rows * n * 8.5
    shared = qxf.compute_type(fmt).table_size if fmt in qxf.TENSOR_CODEBOOK_TYPES else 0
    return 8.0 * (rows * qxf.file_row_size(fmt, n) + shared)


def encode_candidate(w: torch.Tensor, hessian: torch.Tensor, fmt: str, use_gptq: bool, damp: float) -> Candidate:
    rows, n = w.shape
    bits = format_bits(fmt, rows, n)
    if fmt == Q8_0:
        q8 = gguf.quants.quantize(w.numpy().astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
        return Candidate(fmt, bits, q8=q8, shape=(rows, n))
    qx = gptq_qx(w, hessian, fmt, damp=damp) if use_gptq else rtn_qx(w, fmt, torch.diag(hessian))
    return Candidate(fmt, bits, qx=qx, shape=(rows, n))


def critical_outlier_share(w: torch.Tensor, cand: Candidate, importance: torch.Tensor, tau: float = 0.5) -> float:
    rows, n = w.shape
    deq = cand.dequantize()
    dist = (w - deq).abs()
    spacing = cand.group_levels().repeat_interleave(GROUP, dim=1)[:, :n]
    critical = dist > tau * spacing
    imp = importance.float().unsqueeze(0)
    lost = float((imp * dist * dist * critical).sum())
    return lost / max(float((imp * w * w).sum()), 1e-30)


@torch.no_grad()
def score_candidates(name: str, w: torch.Tensor, hessian: torch.Tensor, cands: list[Candidate]) -> None:
    imp = torch.diag(hessian)
    energy = float(((w @ hessian) * w).sum().clamp_min(1e-30))  # tr(W H W^T), shared by every candidate
    for c in cands:
        deq = c.dequantize()
        c.row_error = row_output_error(w, deq, hessian)
        c.criteria["out_err"] = float(c.row_error.sum()) / energy  # tr(D H D^T) / tr(W H W^T)
        c.criteria["outliers"] = critical_outlier_share(w, c, imp)


@torch.no_grad()
def score_attention(x_samples: list[torch.Tensor], wq: torch.Tensor, wk: torch.Tensor, q_cands: list[Candidate],
                    k_cands: list[Candidate], shape: AttentionShape, rope: tuple[torch.Tensor, torch.Tensor],
                    bq: torch.Tensor | None = None, bk: torch.Tensor | None = None) -> None:
    """attn_kl of every Q candidate (K float) and every K candidate (Q float), averaged over samples."""
    def mean_kl(wq_hat: torch.Tensor, wk_hat: torch.Tensor) -> float:
        cos, sin = rope
        vals = [attention_map_distortion(x, wq, wk, wq_hat, wk_hat, shape, (cos[:x.shape[0]], sin[:x.shape[0]]),
                                         bq, bk) for x in x_samples]
        return float(np.mean(vals))

    for c in q_cands:
        c.criteria["attn_kl"] = mean_kl(c.dequantize(), wk)
    for c in k_cands:
        c.criteria["attn_kl"] = mean_kl(wq, c.dequantize())
