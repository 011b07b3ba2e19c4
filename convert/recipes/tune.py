"""End-to-end tuning of a quantized model's continuous parameters, the codes fixed.

Once every linear weight has its format and codes, a QuantX file still holds free real-valued
parameters: each group's fp16 scale, the entries of the codebooks (int8), and the RMSNorm
weights (stored as F32). Rounding decided the codes layer by layer, each on its own output error;
tuning these on the whole model's output (KL divergence to the float model's next-token
distribution on the calibration tokens) lets later layers make up for the errors of earlier ones,
which no layer-local criterion sees (as EfficientQAT's end-to-end step and Norm-Tweaking do).
Nothing changes at inference: the file has the same tensors and bytes per weight.

Each parameter is tuned relative to its start (p = p0 * (1 + theta), theta from 0), so one
learning rate suits tensors of any magnitude; Adam, one calibration sequence per step.
The token embedding and output head are used as the file stores them (Q8_0) and stay fixed.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import gguf
import numpy as np
import torch
import torch.nn.functional as F

from .calibration import CalibrationSet, decoder_layers
from .candidates import Q8_0
from .memory import drop_tensor_pages
from .qx_quant import GROUP, QxQuant
from ..qxformats import qx_type
from .sensitivity import checkpointed_layers


@dataclass(frozen=True)
class TuneSettings:
    epochs: int = 1              # passes over the calibration sequences (0: no tuning)
    lr: float = 3e-3             # Adam, on the relative change of each parameter
    seqs: int = 32               # calibration sequences used (the first ones)
    seq_len: int = 512
    norms: bool = True           # tune the RMSNorm weights too
    tables: bool = True          # tune the codebooks' free entries too (C and T types), as Recipe.tune_tables
    # Precision of the steps' matrix products: "fp32", or "bf16" (autocast; parameters, Adam and
    # the KL stay fp32), or "auto": bf16 where the CPU multiplies bf16 natively (bf16_native()).
    precision: str = "fp32"


@dataclass
class TuneReport:
    steps: int
    # Mean KL to the float model over the first and the last quarter of the steps (each step's
    # KL is measured before its update): the fall shows what the tuning did, with one pass too.
    kl_start: float
    kl_end: float
    seconds: float
    scales_tuned: int            # how many group scales changed
    norms_tuned: int
    precision: str = "fp32"      # of the steps' matrix products: "fp32" or "bf16"
    tables_tuned: int = 0        # how many codebook entries changed (tensor codebooks once)

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


class _RelativeParam(torch.nn.Module):
    """p = p0 * (1 + theta): theta is the trained parameter."""

    def __init__(self, p0: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("p0", p0.detach().clone())
        self.theta = torch.nn.Parameter(torch.zeros_like(p0))

    def value(self) -> torch.Tensor:
        return self.p0 * (1.0 + self.theta)


class _TunedTable(torch.nn.Module):
    """A codebook's free entries, tuned like the scales (t = t0 * (1 + theta)). The entries a
    fitted codebook pins (-127, the groups' extremes, and 0: qxformats.fit_codebook) stay put;
    a table shared by every row (a tensor codebook) is tuned once, for all of them."""

    def __init__(self, tables: torch.Tensor) -> None:
        super().__init__()
        self.shared = bool((tables == tables[:1]).all())
        t0 = tables[:1] if self.shared else tables
        self.rows = tables.shape[0]
        self.table = _RelativeParam(t0)
        self.register_buffer("free", ((t0 != 0) & (t0 != -127)).float())

    def value(self) -> torch.Tensor:
        t = self.table.p0 * (1.0 + self.table.theta * self.free)
        return t.expand(self.rows, -1)


def _scale_groups_(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x[r, j] *= scale[r, j // GROUP], in place (x [rows, n] contiguous, scale [rows, ceil(n / GROUP)]):
    the whole groups through a broadcast over a grouped view, so no [rows, n] copy of the scales."""
    rows, n = x.shape
    full = n // GROUP
    x[:, :full * GROUP].view(rows, full, GROUP).mul_(scale[:, :full].unsqueeze(-1))
    if full * GROUP != n:  # a short last group
        x[:, full * GROUP:].mul_(scale[:, full:full + 1])
    return x


def _group_sums(x: torch.Tensor, groups: int) -> torch.Tensor:
    """sum over each group of GROUP columns of x [rows, n]: [rows, groups]."""
    rows, n = x.shape
    full = n // GROUP
    head = x[:, :full * GROUP].reshape(rows, full, GROUP).sum(-1)
    if full == groups:
        return head
    return torch.cat([head, x[:, full * GROUP:].sum(-1, keepdim=True)], 1)


class GroupScaledLookup(torch.autograd.Function):
    """w[r, j] = scale[r, j // GROUP] * table[r, codes[r, j]], with a backward of its own.

    Autograd's own (repeat_interleave, gather, multiply) keeps the looked-up values and the
    expanded scales, two [rows, n] floats per weight, for the backward pass, and reaches the
    table through a scatter into [rows, K]. Here the backward recomputes the values from the
    uint8 codes and reduces the groups by a reshape; the gradients are the same sums. The
    scales are never expanded to [rows, n]: each step builds every weight twice (the checkpointed
    forward and its recompute), and the copies were a fifth of the lookup's time."""

    @staticmethod
    def forward(ctx, scale: torch.Tensor, table: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scale, table, codes)
        return _scale_groups_(torch.gather(table, 1, codes.long()), scale)

    @staticmethod
    def backward(ctx, grad_w: torch.Tensor):
        scale, table, codes = ctx.saved_tensors
        groups = scale.shape[1]
        idx = codes.long()
        grad_w = grad_w.contiguous()
        grad_scale = grad_table = None
        if ctx.needs_input_grad[0]:
            grad_scale = _group_sums(torch.gather(table, 1, idx).mul_(grad_w), groups)
        if ctx.needs_input_grad[1]:
            gs = _scale_groups_(grad_w.clone(), scale)
            grad_table = torch.zeros(table.shape, dtype=gs.dtype).scatter_add_(1, idx, gs)
        return grad_scale, grad_table, None


class QuantizedLinear(torch.nn.Module):
    """A linear layer whose weight is scale[g] * table[code], the codes frozen, the group scales
    trained, and (tune_tables) the free entries of a codebook too; the U types' grid is the
    format's own and never changes."""

    def __init__(self, qx: QxQuant, bias: torch.Tensor | None, tune_tables: bool = False) -> None:
        super().__init__()
        self.qtype = qx.qtype
        # uint8 codes, not the float values they stand for: a quarter of the memory, and
        # the lookup costs little next to the matrix product. Codes and tables are never
        # written, so they are the encoding's own tensors, not copies.
        self.register_buffer("codes", qx.codes)
        self.register_buffer("tables", qx.tables)
        self.scale = _RelativeParam(qx.scales)
        self.table = _TunedTable(qx.tables) if tune_tables and qx_type(qx.qtype).row_codebook else None
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().clone(), requires_grad=False)

    def tables_now(self) -> torch.Tensor:
        return self.tables if self.table is None else self.table.value()

    def weight_now(self) -> torch.Tensor:
        return GroupScaledLookup.apply(self.scale.value(), self.tables_now(), self.codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_now(), self.bias)

    def parameters_tuned(self) -> list[torch.nn.Parameter]:
        return [self.scale.theta] + ([] if self.table is None else [self.table.table.theta])

    def quantized(self) -> QxQuant:
        """The tuned encoding: the same codes, the scales rounded to fp16 and the tables to the
        int8 the file stores."""
        s = self.scale.value().detach().clamp(-65504, 65504).to(torch.float16).to(torch.float32)
        t = self.tables_now().detach().round().clamp(-127, 127).contiguous()
        return QxQuant(self.qtype, self.codes, s, t)


def _entries_changed(ql: QuantizedLinear, tuned: QxQuant) -> int:
    """Codebook entries the file stores differently after the tuning (a tensor codebook once)."""
    if ql.table is None:
        return 0
    changed = tuned.tables != ql.tables
    return int((changed[:1] if ql.table.shared else changed).sum())


def bf16_native(cpuinfo: str | None = None) -> bool:
    """Whether this CPU has bf16 dot-product instructions (x86 AVX512_BF16 / AMX-BF16, Arm
    BF16), from the kernel's CPU flags (cpuinfo: /proc/cpuinfo's text, read when not given).
    Only then is bf16 autocast faster than fp32 (on 2 x86 cores with AVX512_BF16, a SmolLM2-135M
    tuning step took 2.9 s against 4.7 s); elsewhere oneDNN emulates it."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return bool(set(value.split()) & {"avx512_bf16", "amx_bf16", "bf16"})
    return False


def step_dtype(precision: str) -> torch.dtype:
    """The autocast dtype of the tuning steps for a TuneSettings.precision."""
    if precision == "auto":
        return torch.bfloat16 if bf16_native() else torch.float32
    if precision in ("fp32", "bf16"):
        return torch.bfloat16 if precision == "bf16" else torch.float32
    raise ValueError(f"tuning precision {precision!r}: expected auto, fp32 or bf16")


def _q8_0(w: torch.Tensor) -> torch.Tensor:
    """w as the file stores it in Q8_0 (rows of a multiple of 32)."""
    q = gguf.quants.quantize(w.detach().numpy().astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    return torch.from_numpy(gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).copy()).view_as(w)


def _norms(model) -> dict[str, torch.nn.Module]:
    out = {}
    for i, layer in enumerate(decoder_layers(model)):
        out[f"model.layers.{i}.input_layernorm.weight"] = layer.input_layernorm
        out[f"model.layers.{i}.post_attention_layernorm.weight"] = layer.post_attention_layernorm
    out["model.norm.weight"] = model.model.norm
    return out


def _swap_embedding(student) -> None:
    emb = student.model.embed_tokens.weight
    if emb.shape[1] % 32 == 0:
        emb.data.copy_(_q8_0(emb.data))
    head = student.lm_head.weight
    if head.data_ptr() != emb.data_ptr() and head.shape[1] % 32 == 0:
        head.data.copy_(_q8_0(head.data))


def build_student(model, chosen: dict, tune_tables: bool = False) -> tuple[torch.nn.Module, dict[str, QuantizedLinear]]:
    """A copy of the (scaled, float) model computing what the file will: every chosen QuantX
    weight a QuantizedLinear, Q8_0 weights and the embedding dequantized from Q8_0.

    The float weights that become QuantizedLinears are shared with `model`, not copied: the
    student drops them at once, and copying them only to free them (SmolLM2-135M: 0.42 of its
    0.54 GB) is allocation for nothing."""
    replaced = {}
    for hf, cand in chosen.items():
        if cand.fmt != Q8_0:
            w = model.get_parameter(hf)
            replaced[id(w)] = w
    student = copy.deepcopy(model, memo=dict(replaced))
    for p in student.parameters():
        if id(p) not in replaced:  # model's own, left as they are
            p.requires_grad_(False)
    _swap_embedding(student)
    linears: dict[str, QuantizedLinear] = {}
    for hf, cand in chosen.items():
        module_name = hf[: -len(".weight")]
        parent_name, _, child = module_name.rpartition(".")
        parent = student.get_submodule(parent_name)
        old = getattr(parent, child)
        qx = cand.quantx()
        if qx is None:  # Q8_0
            old.weight.data.copy_(cand.dequantize().to(old.weight.dtype))
            continue
        ql = QuantizedLinear(qx, old.bias, tune_tables)
        setattr(parent, child, ql)
        linears[hf] = ql
    return student, linears


class _TunedNorm(torch.nn.Module):
    """Wraps an RMSNorm so its weight is p0 * (1 + theta)."""

    def __init__(self, norm: torch.nn.Module) -> None:
        super().__init__()
        self.eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", 1e-6))
        self.weight = _RelativeParam(norm.weight.data.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight.value() * h.to(dtype)


def _install_norms(student) -> dict[str, _TunedNorm]:
    out = {}
    for hf, norm in _norms(student).items():
        module_name = hf[: -len(".weight")]
        parent_name, _, child = module_name.rpartition(".")
        parent = student.get_submodule(parent_name)
        tn = _TunedNorm(norm)
        setattr(parent, child, tn)
        out[hf] = tn
    return out


def kl_to_teacher(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over positions of KL(teacher || student) of the next-token distributions."""
    t = torch.log_softmax(teacher_logits.float(), -1)
    s = torch.log_softmax(student_logits.float(), -1)
    return (t.exp() * (t - s)).sum(-1).mean()


def kl_step(head: torch.nn.Module, student, seq: torch.Tensor, t_hidden: torch.Tensor, chunk: int = 128,
            dtype: torch.dtype = torch.float32) -> float:
    """One tuning step's forward and backward pass: the mean over positions of KL(teacher ||
    student) on seq [1, L] (the value returned, the gradients left in the student's parameters).
    t_hidden: the teacher's last hidden states on seq [1, L, d]; head: its output head.

    The vocabulary-wide logits are the largest tensors of the step (SmolLM2: 511 x 49152 floats,
    100 MB each for the teacher, the student and every softmax intermediate), so they exist
    `chunk` positions at a time: the student runs to its last hidden states, the KL of each
    chunk is back-propagated to those, and their gradients then through the decoder (the same
    gradient as the whole sequence at once). dtype: the matrix products' precision (autocast);
    the logits and the KL are fp32 either way."""
    low = dtype != torch.float32
    with torch.enable_grad():
        with torch.autocast("cpu", dtype=dtype, enabled=low):
            hidden = student.model(seq, use_cache=False).last_hidden_state.float()
        h = hidden.detach().requires_grad_(True)
        positions = seq.shape[1] - 1  # the last position predicts nothing
        total = 0.0
        for start in range(0, positions, chunk):
            end = min(start + chunk, positions)
            with torch.no_grad():
                t_logits = head(t_hidden[:, start:end])
            s_logits = student.lm_head(h[:, start:end])
            loss = kl_to_teacher(t_logits[0], s_logits[0]) * ((end - start) / positions)
            loss.backward()
            total += float(loss.detach())
        hidden.backward(h.grad)
    return total


@torch.no_grad()
def last_hidden_states(model, ids: torch.Tensor, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """The model's last hidden states on ids [n, L], one sequence at a time: [n, L, d].
    progress(sequences done, n)."""
    out = []
    for seq in ids.split(1):
        out.append(model.model(seq, use_cache=False).last_hidden_state)
        if progress:
            progress(len(out), ids.shape[0])
    return torch.cat(out)


def _teacher_states(model, ids: torch.Tensor, kept: torch.Tensor | None,
                    progress: Callable[[str, int, int], None] | None = None) -> torch.Tensor:
    """The float model's last hidden states on ids [n, L]: the kept ones where they cover a
    sequence (the sensitivity pass keeps its first sequences'), computed for the others."""
    n, length = ids.shape
    have = 0 if kept is None or kept.shape[1] < length else min(kept.shape[0], n)
    parts = [kept[:have, :length]] if have else []
    if have < n:
        report = None if progress is None else (lambda done, total: progress("tuning: float model's outputs", done, total))
        parts.append(last_hidden_states(model, ids[have:], report))
    return torch.cat(parts)


def tune_result(model, result, calib: CalibrationSet, settings: TuneSettings,
                progress: Callable[[str, int, int], None] | None = None,
                release_float: bool = False) -> TuneReport:
    """Tune a RecipeResult's chosen encodings in place of the originals: each tuned weight gets a
    new Candidate (the untuned one, shared with the candidate set, is left as it was), the tuned
    norms join its float overrides, and the report goes to result.tuning. The float model's
    hidden states kept by the sensitivity pass (result.teacher_hidden) are used when they cover
    the tuning's sequences, and let go of afterwards (the result no longer needs them).
    release_float: as tune_model's."""
    tuned, norms, report = tune_model(model, result.chosen, calib, settings, progress,
                                      teacher_hidden=result.teacher_hidden, release_float=release_float)
    result.teacher_hidden = None
    for hf, q in tuned.items():
        old = result.chosen[hf]
        # the tensor codebook is read again from the tuned tables when the file needs it
        result.chosen[hf] = replace(old, qx=q, spilled=None, q8=None, codebook=None)
    result.float_overrides = {**result.float_overrides, **norms}
    result.tuning = report
    return report


def tune_model(model, chosen: dict, calib: CalibrationSet, settings: TuneSettings,
               progress: Callable[[str, int, int], None] | None = None,
               teacher_hidden: torch.Tensor | None = None, release_float: bool = False
               ) -> tuple[dict[str, QxQuant], dict[str, np.ndarray], TuneReport]:
    """Tune the chosen encodings' group scales (and the RMSNorm weights) of `model` (the scaled
    float HF model the encodings were made from; left unchanged). Returns the tuned encodings by
    HF weight name, the tuned norm weights by HF name, and a report.

    teacher_hidden: `model`'s last hidden states on the first calibration sequences [>= seqs,
    >= seq_len, d] (sensitivity.fisher_pass keeps them); computed here, once per sequence, when
    not given. The steps then run only the float model's output head.

    release_float: free `model`'s float weights that became tuned QuantizedLinears once the
    student is built (they are empty afterwards), for a caller that has no further use for them:
    the steps never read them, and they are private memory since the AWQ scales were folded in
    (SmolLM2-135M: 0.42 GB of the tuning's peak)."""
    t0 = time.perf_counter()
    ids = calib.input_ids[: settings.seqs, : settings.seq_len]
    model.eval()
    teacher_hidden = _teacher_states(model, ids, teacher_hidden, progress)
    student, linears = build_student(model, chosen, settings.tables)
    if release_float:
        for hf in linears:
            p = model.get_parameter(hf)
            drop_tensor_pages(p.data)  # the pages of a file mapping outlive the tensor otherwise
            p.data = torch.empty(0)
    norms = _install_norms(student) if settings.norms else {}
    params = [p for ql in linears.values() for p in ql.parameters_tuned()] + [tn.weight.theta for tn in norms.values()]
    opt = torch.optim.Adam(params, lr=settings.lr)
    dtype = step_dtype(settings.precision)
    steps = settings.epochs * ids.shape[0]
    losses: list[float] = []
    model.eval()
    student.eval()
    if progress:
        progress("tuning scales", 0, steps)
    with checkpointed_layers(student):
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            i = step % ids.shape[0]
            losses.append(kl_step(model.lm_head, student, ids[i].unsqueeze(0), teacher_hidden[i:i + 1, : ids.shape[1]],
                                  dtype=dtype))
            opt.step()
            if progress:
                progress("tuning scales", step + 1, steps)
    quarter = max(1, len(losses) // 4)
    tuned = {hf: ql.quantized() for hf, ql in linears.items()}
    # against the untuned scales the student started from (fp16 values, so p0 is exact)
    changed = sum(int((tuned[hf].scales != ql.scale.p0).sum()) for hf, ql in linears.items())
    tables_changed = sum(_entries_changed(ql, tuned[hf]) for hf, ql in linears.items())
    norm_values = {hf: tn.weight.value().detach().numpy().astype(np.float32) for hf, tn in norms.items()}
    report = TuneReport(steps, float(np.mean(losses[:quarter])) if losses else math.nan,
                        float(np.mean(losses[-quarter:])) if losses else math.nan,
                        time.perf_counter() - t0, changed, len(norm_values),
                        "bf16" if dtype == torch.bfloat16 else "fp32", tables_changed)
    return tuned, norm_values, report
