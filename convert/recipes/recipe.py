"""QuantX recipes: how every linear weight of the decoder blocks gets its format.

A recipe streams the decoder layers over calibration data (one layer's activations at a
time), and for each layer:
  1. searches activation-aware scales (AWQ) and folds them into the previous RMSNorm or
     linear, so inference cost is unchanged;
  2. encodes every linear weight in each candidate format (GPTQ rounding onto the uniform
     grid or onto a codebook fitted by activation-weighted k-means; 4-bit and Q8_0 when the
     budget allows) and scores each candidate (candidates.py: output error, attention-map
     distortion for Q/K, critical outliers).
Then one backward pass gives each weight's end-to-end sensitivity (sensitivity.py: the
output-gradient Fisher), which turns every candidate's output error into an estimated loss
increase; codebook candidates that bend the attention maps more than the uniform grid (Q/K)
or miss heavy outliers are vetoed; and one candidate per weight is chosen, minimising the
total estimated damage within the bit budget (allocate.py).
"""
from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .allocate import Option, allocate
from .awq import ACT_BLOCK, AttentionShape, awq_scale_layer
from .calibration import LINEAR_NAMES, CalibrationSet, decoder_layers, stream_layers
from .candidates import Q8_0, Candidate, encode_candidate, format_bits, score_attention, score_candidates
from .memory import release_freed_memory
from .qx_quant import rtn_uniform_dequantized
from .sensitivity import fisher_damage, fisher_pass
from .tune import TuneReport, TuneSettings, tune_result

THREE_BIT = ("QX3_U", "QX3_T")
UPGRADES = ("QX4_U", "QX4_T", Q8_0)
CHEAP_UPGRADES = ("QX4_T", Q8_0)
# A codebook candidate is not eligible when the weights its levels miss hold this many times
# the uniform grid's share of the weighted energy (and more than OUTLIER_FLOOR of it).
OUTLIER_RATIO = 1.5
OUTLIER_FLOOR = 1e-3
# 3.15 / 3.1355: the default budget's room above all-QX3_U on SmolLM2-like shapes.
DEFAULT_SLACK = 1.0046


@dataclass(frozen=True)
class Recipe:
    name: str
    formats: tuple[str, ...] = THREE_BIT  # the 3-bit choices
    bpw: float | None = 3.15              # budget over the quantized linear weights; None: no budget
    # A default budget (not asked for by the user) below what the cheapest formats need on this
    # model's shapes (tiny models: short groups cost more) is raised to that, plus the same slack.
    strict_budget: bool = False
    awq: bool = True
    gptq: bool = True
    damp: float = 0.01                    # GPTQ damping, relative to mean diag(H)
    act: int = 8                          # the file's activation path: 8 (W3A8) or 16 (W3A16)
    awq_grid: int = 20
    attn_samples: int = 2                 # calibration sequences for the attention-map criterion
    # Calibration sequences and tokens per sequence for the Fisher pass. On SmolLM2, 32 x 512
    # tokens instead of 8 x 256 took the --bpw 4.23 KLD from 0.149 to 0.140 (a better allocation;
    # one backward pass per sequence keeps the memory flat; each sequence costs ~2.6 s on 2 cores).
    sensitivity_seqs: int = 32
    sensitivity_len: int = 512
    # Which inputs a layer is calibrated on: the float model's ("float"), or those of the earlier
    # layers already quantized ("quantized", GPTQ's sequential way: a layer's rounding then
    # compensates the errors upstream). The final choice comes after all layers (it needs the
    # Fisher pass), so a quantized layer is provisionally its least-error eligible 3-bit candidate.
    # Measured on SmolLM2-135M (data-free calibration, WikiText-2, 40 windows): "quantized" is
    # worse, KLD 0.447 vs 0.432 for the default and 0.111 vs 0.105 at --bpw 4.23, so "float" stays.
    propagate: str = "float"
    # End-to-end tuning of the chosen encodings' group scales and the RMSNorm weights (codes
    # fixed) against the float model's next-token distributions (tune.py): passes over the
    # calibration sequences (0: none) and Adam's rate on each parameter's relative change.
    # Measured on SmolLM2-135M (data-free calibration, WikiText-2, 40 windows, PPL / KLD): one
    # pass at 3e-3 gave 28.00 / 0.360, as good as two at 1e-3 (28.01 / 0.360) in half the time;
    # one at 2e-3 28.09 / 0.360; two at 5e-4 28.56 / 0.371; a KL softened at temperature 2 28.89 / 0.373.
    # On 128 sequences, a cosine decay of the rate to 0 over the pass traded perplexity for KLD
    # (25.64 / 0.342 -> 25.93 / 0.333 at 3e-3; 26.07 / 0.354 at 6e-3), so the rate stays constant.
    tune_epochs: int = 1
    tune_lr: float = 3e-3
    # Calibration sequences the tuning passes over (None: all). The tuning fits its sequences
    # much better than unseen text (SmolLM2, KL to the float model after tuning on 32: 0.232 on
    # those, 0.294 on 8 other model-written ones), so more calibration gives a better model: on
    # 128 sequences instead of 32, PPL 27.96 -> 26.80 and KLD 0.3585 -> 0.3491 (same encoding,
    # WikiText-2, 40 windows, float activations), for 4x the tuning time.
    tune_seqs: int | None = None
    # Precision of the tuning steps' matrix products (tune.TuneSettings.precision). "auto": bf16
    # where the CPU multiplies bf16 natively (AVX512_BF16, AMX, Arm BF16), fp32 elsewhere (emulated
    # bf16 is slower). bf16 tunes as well and 1.5x faster: default recipe, 128 model-written
    # sequences, WikiText-2 40 windows, PPL / KLD / same top-1 25.07 / 0.334 / 70.7% in bf16 against
    # 25.11 / 0.335 / 70.7% in fp32, the tuning 249 s against 381 s on 2 cores with AVX512_BF16
    # (earlier, on other text: 25.67 / 0.342 against 25.64 / 0.342). The file then depends on the
    # CPU's instructions; so does the data-free calibration text, whose sampling follows the
    # CPU's float rounding, so one model and options gave one file per machine already.
    tune_precision: str = "auto"
    # Tune the codebooks' free entries (C and T types) with the scales (tune.py: -127 and 0 stay,
    # the result rounded to the file's int8). Measured on SmolLM2-135M (data-free calibration,
    # WikiText-2, 40 windows, PPL / KLD / same top-1): default recipe on 128 sequences 25.64 / 0.342 /
    # 71.0% without, 25.45 / 0.344 / 70.7% with; on 32 sequences 28.00 / 0.360 without, 27.90 / 0.359
    # with. The perplexity falls both times for a KLD within 0.002, so it is on.
    tune_tables: bool = True

    def __post_init__(self) -> None:
        # Checked here, not when the stage that uses the value starts: a library caller's typo
        # should not surface after minutes of encoding.
        if self.propagate not in ("float", "quantized"):
            raise ValueError(f"propagate must be 'float' or 'quantized', not {self.propagate!r}")
        if self.tune_precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"tune_precision must be 'fp32', 'bf16' or 'auto', not {self.tune_precision!r}")
        if self.act not in (8, 16):
            raise ValueError(f"act must be 8 or 16, not {self.act!r}")
        if self.bpw is not None and not self.bpw > 0:
            raise ValueError(f"bpw must be positive, not {self.bpw!r}")
        if self.tune_epochs < 0:
            raise ValueError(f"tune_epochs must be 0 or more, not {self.tune_epochs!r}")

    def all_formats(self) -> tuple[str, ...]:
        """The 3-bit formats, plus what a budget can buy for the most sensitive weights: QX4_T and
        Q8_0 always (even the 3.15 default leaves room for a few small weights), QX4_U too when
        the budget is well above 3 bits."""
        if self.bpw is None:
            return self.formats
        return self.formats + (UPGRADES if self.bpw > 3.3 else CHEAP_UPGRADES)


RECIPES: dict[str, Recipe] = {
    "default": Recipe("default"),
    "uniform": Recipe("uniform", formats=("QX3_U",), bpw=None),
    "codebook": Recipe("codebook", formats=("QX3_T",), bpw=None),
    "row-codebook": Recipe("row-codebook", formats=("QX3_C",), bpw=None),
}


def recipe_by_name(name: str, **overrides) -> Recipe:
    """A preset with overrides (None values ignored); an explicit bpw is a strict budget."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; available: {', '.join(RECIPES)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "bpw" in given:
        given.setdefault("strict_budget", True)
    return replace(RECIPES[name], **given)


@dataclass
class TensorChoice:
    hf_name: str
    layer: int
    linear: str
    shape: tuple[int, int]
    chosen: str
    bits_per_weight: float
    sensitivity: float  # the estimated loss increase (Fisher damage) of the cheapest candidate
    candidates: dict[str, dict[str, float]]  # format -> criteria (+ bits_per_weight, damage, eligible)


@dataclass
class RecipeResult:
    recipe: Recipe
    chosen: dict[str, Candidate]              # HF weight name -> chosen encoding
    tensors: list[TensorChoice]
    float_overrides: dict[str, np.ndarray]    # HF name -> float tensors the scaling changed (norms)
    calibration: dict[str, str | int]
    awq_alphas: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    store: tempfile.TemporaryDirectory | None = None  # holds the spilled candidates; removed with the result
    tuning: TuneReport | None = None          # the end-to-end tuning, when the recipe ran it
    teacher_hidden: torch.Tensor | None = None  # the float model's last hidden states (CandidateSet's)

    @property
    def bpw_linear(self) -> float:
        bits = sum(c.bits for c in self.chosen.values())
        weights = sum(c.shape[0] * c.shape[1] for c in self.chosen.values())
        return bits / weights

    def format_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.chosen.values():
            out[c.fmt] = out.get(c.fmt, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"recipe": asdict(self.recipe), "bpw_linear": self.bpw_linear, "formats": self.format_counts(),
                "calibration": self.calibration, "awq_alphas": self.awq_alphas, "seconds": self.seconds,
                "tuning": None if self.tuning is None else asdict(self.tuning),
                "tensors": [asdict(t) for t in self.tensors]}


def _hf_name(layer: int, linear: str) -> str:
    return f"model.layers.{layer}.{linear}.weight"


def _same_bits_uniform(c: Candidate, cands: list[Candidate]) -> Candidate | None:
    """The uniform candidate with as many bits per code as c (QX3_C, QX3_T -> QX3_U)."""
    return next((u for u in cands if u.fmt == c.fmt[:-1] + "U"), None)


def _eligible(linear: str, c: Candidate, cands: list[Candidate]) -> bool:
    """A codebook candidate is vetoed when, against the uniform grid of the same bits, it bends
    the attention maps more (Q/K), or the weights its levels miss carry much more energy."""
    if not c.fmt.endswith(("_C", "_T")):
        return True
    u = _same_bits_uniform(c, cands)
    if u is None:
        return True
    if linear in ("self_attn.q_proj", "self_attn.k_proj") and c.criteria.get("attn_kl", 0.0) > u.criteria.get("attn_kl", 0.0):
        return False
    o, ref = c.criteria["outliers"], u.criteria["outliers"]
    return not (o > OUTLIER_FLOOR and o > OUTLIER_RATIO * ref)


def _rope(model, seq: int) -> tuple[torch.Tensor, torch.Tensor]:
    h = torch.zeros(1, seq, 1)
    cos, sin = model.model.rotary_emb(h, torch.arange(seq).unsqueeze(0))
    return cos[0].float(), sin[0].float()


@dataclass
class CandidateSet:
    """Every linear weight's candidates and their estimated damage, before any choice: one
    set can be chosen from by several recipes that share its formats (the quality bench)."""
    candidates: dict[tuple[int, str], list[Candidate]]
    damage: dict[tuple[int, str], dict[str, float]]
    float_overrides: dict[str, np.ndarray]
    calibration: dict[str, str | int]
    awq_alphas: list[dict[str, float]]
    seconds: float
    store: tempfile.TemporaryDirectory | None = None  # the candidates' payloads on disk
    # The scaled float model's last hidden states on the tuning's sequences, for the tuning: from
    # the calibration stream (or, when it propagates quantized outputs, the sensitivity pass's
    # sequences). [seqs, len, d] floats: 151 MB for SmolLM2-135M on 128 x 512 tokens.
    teacher_hidden: torch.Tensor | None = None


@torch.no_grad()
def quantize_model(model, calib: CalibrationSet, recipe: Recipe,
                   progress: Callable[[str, int, int], None] | None = None,
                   release_float: bool = False) -> RecipeResult:
    """Run the recipe on a float HF llama/qwen2 model (modified in place: scales folded, weights
    left float) and return the chosen encoding of every linear weight of the decoder blocks,
    tuned end to end when the recipe says so. progress(stage, done, total) is called as work
    completes. release_float: the caller needs no more of the model than its embedding, head and
    norms, so the tuning may free the float linear weights it replaces (tune_model)."""
    result = choose(encode_candidates(model, calib, recipe, progress), recipe)
    tune_chosen(model, result, calib, progress, release_float)
    return result


def tune_chosen(model, result: RecipeResult, calib: CalibrationSet,
                progress: Callable[[str, int, int], None] | None = None, release_float: bool = False) -> None:
    """Step 4, when result.recipe.tune_epochs > 0: tune the chosen encodings' scales and the norms
    of the scaled float `model` end to end (tune.py); result takes the tuned values."""
    r = result.recipe
    if r.tune_epochs > 0:
        seqs = calib.input_ids.shape[0] if r.tune_seqs is None else r.tune_seqs
        settings = TuneSettings(epochs=r.tune_epochs, lr=r.tune_lr, seqs=seqs, seq_len=r.sensitivity_len,
                                precision=r.tune_precision, tables=r.tune_tables)
        tune_result(model, result, calib, settings, progress, release_float)


@torch.no_grad()
def encode_candidates(model, calib: CalibrationSet, recipe: Recipe,
                      progress: Callable[[str, int, int], None] | None = None,
                      formats: tuple[str, ...] | None = None) -> CandidateSet:
    """Steps 1-2 of the recipe and the sensitivity pass, for `formats` (default: the recipe's).
    Each layer's candidates go to a temporary directory once scored, so memory holds one
    layer's candidates, not the model's."""
    t0 = time.perf_counter()
    store = tempfile.TemporaryDirectory(prefix="quantx-candidates-")
    shape = AttentionShape.of(model.config)
    formats = formats or recipe.all_formats()
    _check_budget_reachable(model, recipe)
    rope = _rope(model, calib.input_ids.shape[1])
    cands: dict[tuple[int, str], list[Candidate]] = {}
    alphas: list[dict[str, float]] = []
    n_layers = len(decoder_layers(model))
    floats: dict[str, torch.Tensor] = {}  # the provisionally quantized layer's float weights
    # With float propagation the stream's last outputs are the float model's on every calibration
    # sequence: the tuning's teacher, which then costs no forward pass of its own (SmolLM2-135M,
    # 128 x 512 tokens: 120 s of a 26-minute conversion).
    last: list[torch.Tensor] = []
    keep_last = recipe.tune_epochs > 0 and recipe.propagate == "float"
    if progress:  # the stage starts now, not when its first layer is done (which a bar would add to the last stage)
        progress("quantizing layers", 0, n_layers)
    for lc in stream_layers(model, calib, with_hessian=True, keep_samples=recipe.attn_samples,
                            propagate=recipe.propagate, on_last_outputs=last.append if keep_last else None):
        _restore_weights(model, floats)  # the previous layer's outputs are computed by now
        if recipe.awq:
            rep, inputs = awq_scale_layer(lc, shape, rtn_uniform_dequantized, recipe.awq_grid, use_hessian=True,
                                          act_block=ACT_BLOCK if recipe.act == 8 else None)
            scales, alphas = rep.input_scales, alphas + [rep.alphas]
        else:
            inputs = {n: lc.stats[n].sample_matrix() for n in LINEAR_NAMES}
            scales = {n: torch.ones(inputs[n].shape[1]) for n in LINEAR_NAMES}
        jobs = []
        for name in LINEAR_NAMES:
            s = scales[name]
            hessian = lc.stats[name].hessian / (s.unsqueeze(1) * s.unsqueeze(0))
            w = lc.layer.get_submodule(name).weight.data.float()
            jobs += [(name, w, hessian, f) for f in formats]
        encoded = _encode_parallel(jobs, recipe)
        for name in LINEAR_NAMES:
            cs = [encoded[(name, f)] for f in formats]
            w, hessian = next((j[1], j[2]) for j in jobs if j[0] == name)
            score_candidates(name, w, hessian, cs)
            cands[(lc.index, name)] = cs
        attn = lc.layer.self_attn
        x = inputs["self_attn.q_proj"]
        samples = [x[i * lc.seq_len:(i + 1) * lc.seq_len] for i in range(min(recipe.attn_samples, x.shape[0] // lc.seq_len))]
        score_attention(samples, attn.q_proj.weight.data.float(), attn.k_proj.weight.data.float(),
                        cands[(lc.index, "self_attn.q_proj")], cands[(lc.index, "self_attn.k_proj")], shape, rope,
                        attn.q_proj.bias, attn.k_proj.bias)
        if recipe.propagate == "quantized":
            floats = _install_provisional(lc, cands, recipe.formats)
        for name in LINEAR_NAMES:
            for c in cands[(lc.index, name)]:
                c.spill(Path(store.name) / f"{lc.index}.{name}.{c.fmt}.npy")
        del jobs, encoded, inputs
        release_freed_memory()
        if progress:
            progress("quantizing layers", lc.index + 1, n_layers)

    _restore_weights(model, floats)
    ids = calib.input_ids[:recipe.sensitivity_seqs, :recipe.sensitivity_len]
    report = None if progress is None else (lambda done, total: progress("sensitivity (Fisher)", done, total))
    if report:
        report(0, ids.shape[0])
    fp = fisher_pass(model, ids, keep_hidden=recipe.tune_epochs > 0 and not last, progress=report)
    teacher = _teacher_from_stream(model, last.pop(), recipe) if last else fp.hidden
    fisher = fp.fisher
    damage = {k: {c.fmt: fisher_damage(fisher[k], c.row_error) for c in cs} for k, cs in cands.items()}
    overrides = {}
    for i, layer in enumerate(decoder_layers(model)):
        for norm in ("input_layernorm", "post_attention_layernorm"):
            overrides[f"model.layers.{i}.{norm}.weight"] = layer.get_submodule(norm).weight.data.float().numpy().copy()
    return CandidateSet(cands, damage, overrides, calib.metadata(), alphas, time.perf_counter() - t0, store, teacher)


def _teacher_from_stream(model, last_outputs: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """The float model's last hidden states on the tuning's sequences, from the last decoder
    layer's streamed outputs (the scaled model's: the folded scales leave its outputs as they were)."""
    seqs = last_outputs.shape[0] if recipe.tune_seqs is None else recipe.tune_seqs
    return model.model.norm(last_outputs[:seqs, :recipe.sensitivity_len]).float()


def _install_provisional(lc, cands: dict[tuple[int, str], list[Candidate]],
                         formats: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Give the layer's linears their least-error eligible candidate among `formats` (for the
    next layer's inputs); returns the float weights to put back, by parameter name."""
    floats = {}
    for name in LINEAR_NAMES:
        cs = cands[(lc.index, name)]
        pool = [c for c in cs if c.fmt in formats and _eligible(name, c, cs)] or cs
        pick = min(pool, key=lambda c: c.criteria["out_err"])
        weight = lc.layer.get_submodule(name).weight
        floats[_hf_name(lc.index, name)] = weight.data.clone()
        weight.data.copy_(pick.dequantize().to(weight.dtype))
    return floats


def _restore_weights(model, floats: dict[str, torch.Tensor]) -> None:
    for hf, w in floats.items():
        model.get_parameter(hf).data.copy_(w)
    floats.clear()


def _encode_parallel(jobs: list[tuple[str, torch.Tensor, torch.Tensor, str]], recipe: Recipe) -> dict[tuple[str, str], Candidate]:
    """Encode (weight, format) jobs on a thread per core, each job single-threaded: GPTQ is a long
    chain of small column operations, for which intra-op threads cost more than they give."""
    threads = torch.get_num_threads()
    if threads <= 1 or len(jobs) <= 1:
        return {(n, f): encode_candidate(w, h, f, recipe.gptq, recipe.damp) for n, w, h, f in jobs}
    order = sorted(jobs, key=lambda j: -j[1].numel())  # largest first balances the threads
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = {(n, f): pool.submit(encode_candidate, w, h, f, recipe.gptq, recipe.damp) for n, w, h, f in order}
            return {k: fut.result() for k, fut in futures.items()}
    finally:
        torch.set_num_threads(threads)


def _check_budget_reachable(model, recipe: Recipe) -> None:
    """Refuse a strict budget the cheapest allowed format cannot meet, before any work."""
    if recipe.bpw is None or not recipe.strict_budget:
        return
    bits = weights = 0
    for layer in decoder_layers(model):
        for name in LINEAR_NAMES:
            rows, n = layer.get_submodule(name).weight.shape
            bits += min(format_bits(f, rows, n) for f in recipe.all_formats())
            weights += rows * n
    if bits > recipe.bpw * weights:
        raise ValueError(f"--bpw {recipe.bpw}: the cheapest formats already need {bits / weights:.4f} bits per weight "
                         f"on this model's shapes")


def choose(cset: CandidateSet, recipe: Recipe) -> RecipeResult:
    """Step 3: one candidate per weight among the recipe's formats, by the criteria and the budget."""
    allowed = recipe.all_formats()
    cands = {k: [c for c in cs if c.fmt in allowed] for k, cs in cset.candidates.items()}
    missing = [f for f in allowed if not any(c.fmt == f for c in next(iter(cands.values())))]
    if missing:
        raise ValueError(f"recipe {recipe.name} needs candidates in {missing}, which were not encoded")
    choice = _choose(cands, cset.damage, recipe)
    chosen: dict[str, Candidate] = {}
    tensors: list[TensorChoice] = []
    for (layer, name), cs in cands.items():
        hf = _hf_name(layer, name)
        pick = next(c for c in cs if c.fmt == choice[(layer, name)])
        chosen[hf] = pick
        crit = {}
        for c in cs:
            d = dict(c.criteria)
            d["bits_per_weight"] = c.bits / (c.shape[0] * c.shape[1])
            d["eligible"] = float(_eligible(name, c, cs))
            d["damage"] = cset.damage[(layer, name)][c.fmt]
            crit[c.fmt] = d
        tensors.append(TensorChoice(hf, layer, name, pick.shape, pick.fmt, pick.bits / (pick.shape[0] * pick.shape[1]),
                                    cset.damage[(layer, name)][cs[0].fmt], crit))
    return RecipeResult(recipe, chosen, tensors, cset.float_overrides, cset.calibration, cset.awq_alphas, cset.seconds,
                        cset.store, teacher_hidden=cset.teacher_hidden)


def _choose(cands: dict[tuple[int, str], list[Candidate]], damage: dict[tuple[int, str], dict[str, float]],
            recipe: Recipe) -> dict[tuple[int, str], str]:
    eligible = {k: [c for c in cs if _eligible(k[1], c, cs)] for k, cs in cands.items()}
    if recipe.bpw is None:  # no budget: the least damaging eligible candidate
        return {k: min(cs, key=lambda c: damage[k][c.fmt]).fmt for k, cs in eligible.items()}
    options = {f"{k[0]}/{k[1]}": [Option(c.fmt, c.bits, damage[k][c.fmt]) for c in cs] for k, cs in eligible.items()}
    weights = sum(cs[0].shape[0] * cs[0].shape[1] for cs in cands.values())
    budget = recipe.bpw * weights
    cheapest = sum(min(o.bits for o in opts) for opts in options.values())
    if cheapest > budget and not recipe.strict_budget:
        budget = cheapest * DEFAULT_SLACK
    alloc = allocate(options, budget)
    return {k: alloc.choice[f"{k[0]}/{k[1]}"] for k in cands}


def apply_to_model(model, result: RecipeResult) -> None:
    """Put the chosen encodings' values into the (already scaled) model: a fake-quantized twin
    of the file, for evaluation in PyTorch."""
    for hf, c in result.chosen.items():
        model.get_parameter(hf).data.copy_(c.dequantize())


