"""Prompt-processing and generation speed of the QuantX runtime and of
llama.cpp (through llama-cpp-python, optional) on the same GGUF files, the
same threads and the same machine, in one run, with the ratio."""
from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np


@dataclass
class SpeedResult:
    engine: str
    model: str
    threads: int
    pp_tokens: int
    pp_tps: float
    tg_tokens: int
    tg_tps: float


def _prompt(n_vocab: int, n: int) -> list[int]:
    # Ordinary-text-like ids; the same for both engines.
    rng = np.random.default_rng(1234)
    return rng.integers(1000, min(n_vocab, 30000), size=n).tolist()


def _best_of(reps: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(reps))


def bench_quantx(path: Path, threads: int, pp: int, tg: int, reps: int, act: Optional[int] = None) -> SpeedResult:
    from ..model import Model

    m = Model(path, threads=threads, n_ctx=pp + tg + 8, n_batch=max(pp, 1), act=act)
    ids = _prompt(m.n_vocab, pp)
    m.eval(ids[:8], logits_from=7)  # warm up pages and caches

    def run_pp() -> float:
        m.reset()
        t0 = time.perf_counter()
        m.eval(ids, logits_from=pp - 1)
        return time.perf_counter() - t0

    def run_tg() -> float:
        m.reset()
        m.eval(ids[:1], logits_from=0)
        t0 = time.perf_counter()
        for i in range(tg):
            m.eval([ids[(i + 1) % pp]], logits_from=0)
        return time.perf_counter() - t0

    t_pp = _best_of(reps, run_pp)
    t_tg = _best_of(reps, run_tg)
    name = "quantx" + (f"-a{act}" if act else "")
    return SpeedResult(name, Path(path).name, threads, pp, pp / t_pp, tg, tg / t_tg)


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True


def bench_llama_cpp(path: Path, threads: int, pp: int, tg: int, reps: int) -> SpeedResult:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=pp + tg + 8, n_batch=max(pp, 1), n_ubatch=max(pp, 1),
                n_threads=threads, n_threads_batch=threads, verbose=False)
    ids = _prompt(llm.n_vocab(), pp)
    llm.eval(ids[:8])

    def run_pp() -> float:
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        return time.perf_counter() - t0

    def run_tg() -> float:
        llm.reset()
        llm.eval(ids[:1])
        t0 = time.perf_counter()
        for i in range(tg):
            llm.eval([ids[(i + 1) % pp]])
        return time.perf_counter() - t0

    t_pp = _best_of(reps, run_pp)
    t_tg = _best_of(reps, run_tg)
    if hasattr(llm, "close"):
        llm.close()
    del llm
    gc.collect()
    return SpeedResult("llama.cpp", Path(path).name, threads, pp, pp / t_pp, tg, tg / t_tg)


def run_speed(quantx_models: Sequence[Path], llama_models: Sequence[Path], threads: Sequence[int], pp: int = 128,
              tg: int = 64, reps: int = 3, log: Callable[[str], None] = print) -> list[SpeedResult]:
    results: list[SpeedResult] = []
    for t in threads:
        for p in quantx_models:
            r = bench_quantx(p, t, pp, tg, reps)
            log(f"{r.engine:10s} {r.model:44s} t={t}  pp{pp} {r.pp_tps:8.1f} t/s  tg{tg} {r.tg_tps:7.1f} t/s")
            results.append(r)
        if llama_models and llama_cpp_available():
            for p in llama_models:
                r = bench_llama_cpp(p, t, pp, tg, reps)
                log(f"{r.engine:10s} {r.model:44s} t={t}  pp{pp} {r.pp_tps:8.1f} t/s  tg{tg} {r.tg_tps:7.1f} t/s")
                results.append(r)
    return results


def ratio_table(results: Sequence[SpeedResult]) -> list[dict]:
    """quantx / llama.cpp for every (quantx model, llama.cpp model, threads) pair."""
    rows = []
    for q in results:
        if not q.engine.startswith("quantx"):
            continue
        for l in results:
            if l.engine == "llama.cpp" and l.threads == q.threads:
                rows.append({"threads": q.threads, "quantx": q.model, "llama.cpp": l.model,
                             "pp_ratio": q.pp_tps / l.pp_tps, "tg_ratio": q.tg_tps / l.tg_tps})
    return rows


def as_dicts(results: Sequence[SpeedResult]) -> list[dict]:
    return [asdict(r) for r in results]
