"""Prompt-processing and generation speed of the QuantX runtime and of
llama.cpp (through llama-cpp-python, optional) on the same model, the same
threads and the same machine, in one run, with the ratios.

Every engine/model pair is loaded once per thread count; the repetitions are
interleaved (rep 1 of every model, then rep 2, ...) and the best of each is
kept, so slow drift from other work on a shared machine hits all models alike.
Every repetition's times are kept too: the ratio of two engines' times in the same
repetition (measured seconds apart) is a paired sample, and the median over the
repetitions is a steadier ratio than the one of the two bests when a shared
machine's speed swings between repetitions.
"""
from __future__ import annotations

import ctypes
import gc
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

import numpy as np


@dataclass
class SpeedResult:
    engine: str
    model: str
    threads: int
    pp_tokens: int
    pp_tps: float
    tg_tokens: int
    tg_tps: float                 # of the best repetition
    pp_seconds: list[float] = field(default_factory=list)  # every repetition, in order
    tg_seconds: list[float] = field(default_factory=list)


def _prompt(n_vocab: int, n: int) -> list[int]:
    # Ordinary-text-like ids; the same for both engines.
    rng = np.random.default_rng(1234)
    return rng.integers(1000, min(n_vocab, 30000), size=n).tolist()


class _Runner(Protocol):
    engine: str
    model: str

    def time_pp(self) -> float: ...
    def time_tg(self) -> float: ...
    def close(self) -> None: ...


class _QuantxRunner:
    def __init__(self, path: Path, threads: int, pp: int, tg: int, act: Optional[int] = None) -> None:
        from ..model import Model

        self.engine = "quantx" + (f"-a{act}" if act else "")
        self.model = Path(path).name
        self.pp, self.tg = pp, tg
        self.m = Model(path, threads=threads, n_ctx=pp + tg + 8, n_batch=max(pp, 1), act=act)
        self.ids = _prompt(self.m.n_vocab, pp)
        self.m.eval(self.ids[:8], logits_from=7)  # warm up pages and caches

    def time_pp(self) -> float:
        self.m.reset()
        t0 = time.perf_counter()
        self.m.eval(self.ids, logits_from=self.pp - 1)
        return time.perf_counter() - t0

    def time_tg(self) -> float:
        self.m.reset()
        self.m.eval(self.ids[:1], logits_from=0)
        t0 = time.perf_counter()
        for i in range(self.tg):
            self.m.eval([self.ids[(i + 1) % self.pp]], logits_from=0)
        return time.perf_counter() - t0

    def close(self) -> None:
        del self.m


class _LlamaRunner:
    def __init__(self, path: Path, threads: int, pp: int, tg: int) -> None:
        from llama_cpp import Llama

        self.engine = "llama.cpp"
        self.model = Path(path).name
        self.pp, self.tg = pp, tg
        self.llm = Llama(model_path=str(path), n_ctx=pp + tg + 8, n_batch=max(pp, 1), n_ubatch=max(pp, 1),
                         n_threads=threads, n_threads_batch=threads, verbose=False)
        self.ids = _prompt(self.llm.n_vocab(), pp)
        self.llm.eval(self.ids[:8])

    def time_pp(self) -> float:
        self.llm.reset()
        t0 = time.perf_counter()
        self.llm.eval(self.ids)
        return time.perf_counter() - t0

    def time_tg(self) -> float:
        self.llm.reset()
        self.llm.eval(self.ids[:1])
        t0 = time.perf_counter()
        for i in range(self.tg):
            self.llm.eval([self.ids[(i + 1) % self.pp]])
        return time.perf_counter() - t0

    def close(self) -> None:
        if hasattr(self.llm, "close"):
            self.llm.close()
        del self.llm


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True


def _measure(runners: Sequence[_Runner], threads: int, pp: int, tg: int, reps: int) -> list[SpeedResult]:
    pp_s: list[list[float]] = [[] for _ in runners]
    tg_s: list[list[float]] = [[] for _ in runners]
    for _ in range(reps):
        for i, r in enumerate(runners):
            pp_s[i].append(r.time_pp())
            tg_s[i].append(r.time_tg())
    return [SpeedResult(r.engine, r.model, threads, pp, pp / min(pp_s[i]), tg, tg / min(tg_s[i]), pp_s[i], tg_s[i])
            for i, r in enumerate(runners)]


def run_speed(quantx_models: Sequence[Path], llama_models: Sequence[Path], threads: Sequence[int], pp: int = 128,
              tg: int = 64, reps: int = 3, log: Callable[[str], None] = print) -> list[SpeedResult]:
    results: list[SpeedResult] = []
    use_llama = bool(llama_models) and llama_cpp_available()
    for t in threads:
        runners: list[_Runner] = [_QuantxRunner(p, t, pp, tg) for p in quantx_models]
        if use_llama:
            runners += [_LlamaRunner(p, t, pp, tg) for p in llama_models]
        try:
            res = _measure(runners, t, pp, tg, reps)
        finally:
            for r in runners:
                r.close()
            gc.collect()
        for r in res:
            log(f"{r.engine:10s} {r.model:36s} t={t}  pp{pp} {r.pp_tps:8.1f} t/s  tg{tg} {r.tg_tps:7.1f} t/s")
        results += res
    return results


def paired_ratios(quantx_seconds: Sequence[float], llama_seconds: Sequence[float]) -> list[float]:
    """Speed ratio quantx / llama.cpp in each repetition (the same token count, so the inverse
    ratio of the times)."""
    return [l / q for q, l in zip(quantx_seconds, llama_seconds) if q > 0]


def ratio_table(results: Sequence[SpeedResult]) -> list[dict]:
    """quantx / llama.cpp for every (quantx model, llama.cpp model, threads) pair: the ratio of
    the best repetitions, and the median, lowest and highest of the per-repetition ratios."""
    rows = []
    for q in results:
        if not q.engine.startswith("quantx"):
            continue
        for l in results:
            if l.engine == "llama.cpp" and l.threads == q.threads:
                row = {"threads": q.threads, "quantx": q.model, "llama.cpp": l.model,
                       "pp_ratio": q.pp_tps / l.pp_tps, "tg_ratio": q.tg_tps / l.tg_tps}
                for m, qs, ls in (("pp", q.pp_seconds, l.pp_seconds), ("tg", q.tg_seconds, l.tg_seconds)):
                    per_rep = paired_ratios(qs, ls)
                    if per_rep:
                        row[f"{m}_ratio_median"] = float(np.median(per_rep))
                        row[f"{m}_ratio_range"] = [min(per_rep), max(per_rep)]
                rows.append(row)
    return rows


def format_ratio(row: dict, metric: str) -> str:
    """'1.57x' or, with per-repetition ratios, '1.57x (per rep median 1.55x, 1.42-1.81x)'."""
    text = f"{row[f'{metric}_ratio']:.2f}x"
    if f"{metric}_ratio_median" in row:
        lo, hi = row[f"{metric}_ratio_range"]
        text += f" (per rep median {row[f'{metric}_ratio_median']:.2f}x, {lo:.2f}-{hi:.2f}x)"
    return text


def as_dicts(results: Sequence[SpeedResult]) -> list[dict]:
    return [asdict(r) for r in results]


# --- the comparison on the real SmolLM2 ------------------------------------------------

QUANTX_SUITE = ("qx3_u", "qx3_c")
# llama.cpp file types (llama_ftype names) measured against them. Without an
# importance matrix llama.cpp refuses real IQ3_XXS tensors ("this quantization
# requires an importance matrix", also with its `pure` option), and its
# IQ3_XXS mix then gives SmolLM2's 576-wide rows IQ4_NL and ffn_down Q3_K/Q4_K:
# the "IQ3_XXS" file measured here holds no IQ3_XXS tensor (printed per run).
LLAMA_SUITE = ("Q3_K_S", "IQ3_XXS", "Q4_0")


@dataclass
class Target:
    metric: str        # "tg" or "pp"
    quantx: str        # suite label, e.g. "qx3_u"
    llama: str         # llama.cpp label, e.g. "Q3_K_S"
    min_ratio: float


TARGETS = [Target("tg", q, "Q3_K_S", 1.0) for q in QUANTX_SUITE] + \
          [Target("tg", q, "IQ3_XXS", 1.3) for q in QUANTX_SUITE] + \
          [Target("pp", q, "Q3_K_S", 0.8) for q in QUANTX_SUITE]


def suite_file(out_dir: Path, label: str) -> Path:
    return out_dir / f"smollm2-{label.lower()}.gguf"


def prepare_suite(hf_dir: Path, out_dir: Path, log: Callable[[str], None] = print) -> tuple[list[Path], list[Path]]:
    """The suite's GGUF files (made once, kept in out_dir): all linear weights in
    QX3_U / QX3_C by our converter; llama.cpp's types quantized by llama.cpp
    itself (llama_model_quantize) from an F16 file written by our converter.
    No importance matrix: llama.cpp can only compute one with its own CLI
    tools, not from Python; speed does not depend on it."""
    from ..convert import convert

    out_dir.mkdir(parents=True, exist_ok=True)
    qx = []
    for label in QUANTX_SUITE + ("f16",):
        p = suite_file(out_dir, label)
        if not p.exists():
            log(f"converting {hf_dir} -> {p.name}")
            convert(hf_dir, p, label, quiet=True)
        if label != "f16":
            qx.append(p)
    ll = []
    if llama_cpp_available():
        import llama_cpp

        for label in LLAMA_SUITE:
            p = suite_file(out_dir, label)
            if not p.exists():
                log(f"llama.cpp quantizing -> {p.name}")
                params = llama_cpp.llama_model_quantize_default_params()
                params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{label}")
                rc = llama_cpp.llama_model_quantize(str(suite_file(out_dir, "f16")).encode(), str(p).encode(),
                                                    ctypes.byref(params))
                if rc != 0:
                    raise RuntimeError(f"llama_model_quantize to {label} failed ({rc})")
            ll.append(p)
    return qx, ll


def tensor_type_counts(path: Path) -> dict[str, int]:
    """Storage types of the file's 2-D tensors (QuantX tensors are I8 on disk)."""
    from gguf import GGUFReader

    return dict(Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors if len(t.shape) > 1))


def _label(model: str) -> str:
    return model.removeprefix("smollm2-").removesuffix(".gguf").upper()


def check_targets(results: Sequence[SpeedResult]) -> list[dict]:
    by = {(_label(r.model), r.engine == "llama.cpp", r.threads): r for r in results}
    rows = []
    for t in TARGETS:
        for th in sorted({r.threads for r in results}):
            q, l = by.get((t.quantx.upper(), False, th)), by.get((t.llama, True, th))
            if q is None or l is None:
                continue
            ratio = (q.tg_tps / l.tg_tps) if t.metric == "tg" else (q.pp_tps / l.pp_tps)
            per_rep = paired_ratios(*((q.tg_seconds, l.tg_seconds) if t.metric == "tg" else (q.pp_seconds, l.pp_seconds)))
            rows.append({"metric": t.metric, "threads": th, "quantx": t.quantx.upper(), "llama.cpp": t.llama,
                         "ratio": ratio, "median": float(np.median(per_rep)) if per_rep else math.nan,
                         "target": t.min_ratio, "met": ratio >= t.min_ratio})
    return rows


def format_suite(results: Sequence[SpeedResult]) -> str:
    threads = sorted({r.threads for r in results})
    lines = ["engine     model        " + "".join(f"  pp t={t:<2d}   tg t={t:<2d} " for t in threads)]
    seen = []
    for r in results:
        key = (r.engine, r.model)
        if key not in seen:
            seen.append(key)
    for eng, model in seen:
        cells = ""
        for t in threads:
            m = [r for r in results if (r.engine, r.model, r.threads) == (eng, model, t)]
            cells += f"  {m[0].pp_tps:7.1f}   {m[0].tg_tps:7.1f} " if m else " " * 22
        lines.append(f"{eng:10s} {_label(model):12s}{cells}")
    lines.append("(tokens/s; pp = prompt processing, tg = generation)")
    lines.append("")
    lines.append("target                                 threads   ratio  median   goal   met")
    for c in check_targets(results):
        lines.append(f"{c['metric']} {c['quantx']:6s} / llama.cpp {c['llama.cpp']:13s} {c['threads']}      "
                     f"{c['ratio']:5.2f}x  {c['median']:5.2f}x  {c['target']:4.1f}x  {'yes' if c['met'] else 'NO'}")
    lines.append("(ratio: of the best repetitions; median: of the per-repetition ratios)")
    return "\n".join(lines)
