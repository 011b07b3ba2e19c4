"""quantize(): a Hugging Face llama/qwen2 folder to a QuantX GGUF file by a recipe.

Checks the checkpoint with the converter's own rules first (so an unsupported model fails
before anything is loaded), loads it in float32 with transformers, builds the calibration
set (a text file, or text the model writes itself when none is given), runs the recipe
(recipes/recipe.py) and writes the file through the converter (pipeline.convert_with), which
makes the output atomic. The report has per-tensor choices and criteria, and both
bits-per-weight figures: over the quantized linear weights, and over the whole file.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConvertError
from .pipeline import ConvertOptions, ConvertReport, check_checkpoint, convert_with
from .recipe_outtype import RecipeOuttype
from .recipes.recipe import Recipe, RecipeResult, quantize_model
from .safe_output import check_target, publish, remove_stale_temps, temp_output


@dataclass
class CalibrationOptions:
    text: str | os.PathLike[str] | None = None  # None: data-free (self-generated text)
    # Sequences: every step of the recipe uses them, and the end-to-end tuning fits what it sees,
    # so more give a better model. On SmolLM2-135M (data-free, WikiText-2, 40 windows) 128 instead
    # of 32 took the default from PPL 28.00 / KLD 0.360 to 25.64 / 0.342, for 27 to 33 minutes of
    # conversion instead of 15 on 2 cores.
    samples: int = 128
    seq_len: int = 512
    seed: int = 0
    # Where self-generated text is kept for the next conversion of the same model
    # (recipes/calibration_cache.py); None: generate every time.
    cache_dir: str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"calibration needs at least 1 sequence, got {self.samples}")
        # the data-free text starts with a few greedy tokens; shorter sequences say nothing anyway
        if self.seq_len < 16:
            raise ValueError(f"calibration sequences need at least 16 tokens, got {self.seq_len}")


@dataclass
class QuantizeReport:
    convert: ConvertReport
    recipe: RecipeResult
    bpw_linear: float
    bpw_file: float
    seconds: float
    calibration_seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = self.recipe.to_dict()
        d.update({"bpw_linear": self.bpw_linear, "bpw_file": self.bpw_file, "seconds": self.seconds,
                  "calibration_seconds": self.calibration_seconds, "output": str(self.convert.out_path),
                  "output_bytes": self.convert.output_bytes, "n_params": self.convert.n_params,
                  "notes": self.notes})
        return d


def _load_model(hf_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # transformers' default attention (PyTorch's fused SDPA), as the quality bench loads it: eager
    # attention made the self-generated calibration ~1.7x slower and the Fisher pass keep every
    # layer's attention probabilities for the backward pass.
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    return model, tokenizer


def _check_finite(model) -> None:
    import torch

    for name, p in model.state_dict().items():
        bad = int((~torch.isfinite(p)).sum())
        if bad:
            raise ConvertError(f"tensor {name} has {bad} NaN/Inf value(s) (pass --allow-nonfinite to convert anyway)")


GENERATING = "calibration: generating text with the model (tokens)"
CACHED = "calibration: the model's text from the cache"


def build_calibration(model, tokenizer, opts: CalibrationOptions,
                      progress: Callable[[str, int, int], None] | None = None,
                      notes: list[str] | None = None):
    """The calibration set opts describe; notes collects what a user should hear about it."""
    from .recipes.calibration import calibration_from_model, calibration_from_text
    from .recipes.calibration_cache import GenerationSettings, cached_calibration_from_model

    if opts.text is not None:
        path = Path(opts.text)
        if not path.is_file():
            raise ConvertError(f"calibration file {path} does not exist")
        try:
            return calibration_from_text(tokenizer, path, opts.samples, opts.seq_len, opts.seed)
        except (UnicodeDecodeError, ValueError) as e:
            raise ConvertError(f"calibration file {path}: {e}") from None
    report = (lambda done, total: progress(GENERATING, done, total)) if progress else None
    if opts.cache_dir is None:
        return calibration_from_model(model, opts.samples, opts.seq_len, opts.seed, progress=report)
    got = cached_calibration_from_model(model, Path(opts.cache_dir), GenerationSettings(opts.samples, opts.seq_len,
                                                                                       opts.seed), report)
    if got.reused and progress:
        progress(CACHED, 1, 1)
    if notes is not None:
        if got.reused:
            notes.append(f"calibration: the model's text reused from {got.path}")
        elif got.store_error:
            notes.append(f"calibration: could not cache the model's text ({got.store_error})")
        else:
            notes.append(f"calibration: the model's text cached in {got.path} for the next conversion")
    return got.calibration


def quantize(hf_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], recipe: Recipe,
             calibration: CalibrationOptions | None = None, *, force: bool = False, quiet: bool = False,
             allow_nonfinite: bool = False, pre_tokenizer: str | None = None,
             report_path: str | os.PathLike[str] | None = None,
             plot_dir: str | os.PathLike[str] | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> QuantizeReport:
    """Quantize the model in hf_dir to out_path with `recipe`. Raises ConvertError naming the
    problem; nothing is left at out_path (or report_path) unless the whole run succeeds."""
    t0 = time.monotonic()
    d, target = Path(hf_dir), Path(out_path)
    remove_stale_temps(target)
    check_target(target, force)
    if recipe.act not in (8, 16):
        raise ConvertError(f"activation mode must be 8 or 16, not {recipe.act}")
    check_checkpoint(d, pre_tokenizer)  # refuses bad or unsupported checkpoints before the heavy work
    model, tokenizer = _load_model(d)
    if not allow_nonfinite:
        _check_finite(model)
    cal_opts = calibration or CalibrationOptions()
    if progress and cal_opts.text:
        progress("calibration: " + Path(cal_opts.text).name, 0, 1)
    tc = time.monotonic()
    notes: list[str] = []
    calib = build_calibration(model, tokenizer, cal_opts, progress, notes)
    cal_seconds = time.monotonic() - tc
    if progress and cal_opts.text:
        progress("calibration: " + Path(cal_opts.text).name, 1, 1)
    # The plot draws the float weights; without it they are not needed once the tuning starts.
    result = quantize_model(model, calib, recipe, progress, release_float=plot_dir is None)
    if plot_dir is not None:
        from .recipes.plot import plot_layers

        plot_layers(model, result, Path(plot_dir))
    del model
    rep = convert_with(d, target, ConvertOptions(RecipeOuttype(f"quantx-{recipe.name}", result), force=force,
                                                 allow_nonfinite=allow_nonfinite, quiet=quiet,
                                                 pre_tokenizer=pre_tokenizer))
    bpw_file = 8.0 * rep.output_bytes / rep.n_params
    out = QuantizeReport(rep, result, result.bpw_linear, bpw_file, time.monotonic() - t0, cal_seconds, notes)
    if report_path is not None:
        write_json_atomic(Path(report_path), out.to_dict(), force=True)
    return out


def write_json_atomic(path: Path, data: dict, force: bool = True) -> None:
    check_target(path, force)
    with temp_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path, force)
