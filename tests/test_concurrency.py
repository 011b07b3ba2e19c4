"""Several quantx.Model instances used from several Python threads at once give
bit-identical results to running them one at a time, one model's state never
leaks into another's, and compute releases the GIL so other threads progress."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import quantx
from quantx import _native
from tiny_gguf import write_tiny_llama

PROMPTS = ["The quick brown fox", "Once upon a time, in a land", "1 2 3 4 5 6", "Hello"]


def run_session(m: quantx.Model, prompt: str, n_gen: int) -> tuple[list[int], np.ndarray]:
    """Prompt logits, then greedy steps through the KV cache: (generated ids, all logits rows)."""
    m.reset()
    ids = m.tokenize(prompt)
    rows = [m.eval(ids)]
    out: list[int] = []
    for _ in range(n_gen):
        tok = int(np.argmax(rows[-1][-1]))
        out.append(tok)
        rows.append(m.eval([tok]))
    return out, np.concatenate(rows)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("conc")
    # Different weights and shapes, so a leak of one model's state into another shows.
    return [write_tiny_llama(d / "a.gguf", seed=1), write_tiny_llama(d / "b.gguf", seed=2, n_layer=3),
            write_tiny_llama(d / "c.gguf", seed=3, arch="qwen2"), write_tiny_llama(d / "d.gguf", seed=4)]


@pytest.mark.parametrize("threads_per_model", [1, 2])
def test_models_in_parallel_threads_match_sequential_runs(tiny_models: list[Path], threads_per_model: int) -> None:
    jobs = [(p, PROMPTS[i % len(PROMPTS)]) for i, p in enumerate(tiny_models)]
    models = [quantx.Model(p, threads=threads_per_model) for p, _ in jobs]
    expected = [run_session(m, prompt, 12) for m, (_, prompt) in zip(models, jobs)]

    def worker(i: int) -> list[tuple[list[int], np.ndarray]]:
        # Each thread runs its session several times on its own model.
        return [run_session(models[i], jobs[i][1], 12) for _ in range(3)]

    for _ in range(2):
        with ThreadPoolExecutor(len(models)) as ex:
            results = list(ex.map(worker, range(len(models))))
        for (ids, logits), runs in zip(expected, results):
            for got_ids, got_logits in runs:
                assert got_ids == ids
                np.testing.assert_array_equal(got_logits, logits)
    # The models differ, so equality above is not trivially satisfied.
    assert expected[0][1].shape != expected[1][1].shape or not np.array_equal(expected[0][1], expected[1][1])


def test_same_file_many_instances_and_generate(tiny_models: list[Path]) -> None:
    ref = quantx.Model(tiny_models[0], threads=1)
    want = {p: "".join(ref.generate(p, max_tokens=16, temperature=0.7, seed=11)) for p in PROMPTS}
    models = [quantx.Model(tiny_models[0], threads=1) for _ in range(4)]

    def worker(i: int) -> dict[str, str]:
        m = models[i]
        return {p: "".join(m.generate(p, max_tokens=16, temperature=0.7, seed=11)) for p in PROMPTS[i:] + PROMPTS[:i]}

    with ThreadPoolExecutor(4) as ex:
        for got in ex.map(worker, range(4)):
            assert got == want


def test_real_model_in_parallel_threads_matches_sequential(smollm2_q41: Path) -> None:
    models = [quantx.Model(smollm2_q41, threads=1, n_ctx=64) for _ in range(2)]
    prompts = PROMPTS[:2]
    expected = [run_session(m, p, 6) for m, p in zip(models, prompts)]
    with ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda i: run_session(models[i], prompts[i], 6), range(2)))
    for (ids, logits), (got_ids, got_logits) in zip(expected, results):
        assert got_ids == ids
        np.testing.assert_array_equal(got_logits, logits)


def _largest_stall_during(call) -> tuple[float, float]:
    """Run call() in a thread while this thread spins; returns (the call's duration,
    the longest time this thread could not run Python code during it). A call
    holding the GIL stalls this thread for its whole native part; one that
    releases it stalls it only for scheduler slices."""
    window: dict[str, float] = {}

    def target() -> None:
        window["t0"] = time.perf_counter()
        call()
        window["t1"] = time.perf_counter()

    th = threading.Thread(target=target)
    stamps: list[float] = []
    th.start()
    while th.is_alive():
        stamps.append(time.perf_counter())
    th.join()
    t0, t1 = window["t0"], window["t1"]
    inside = [t0] + [s for s in stamps if t0 < s < t1] + [t1]
    return t1 - t0, max(b - a for a, b in zip(inside, inside[1:]))


def test_compute_releases_the_gil(smollm2_q41: Path) -> None:
    m = quantx.Model(smollm2_q41, threads=1, n_ctx=512)
    ids = m.tokenize("The history of the city begins " * 40)[:96]
    sampler = _native.Sampler(temperature=0.0)
    # Each call gets inputs k times larger until it lasts long enough to measure (fast machines).
    calls = {
        "eval": lambda k: (m.reset(), m.eval((ids * k)[:96 * k])),
        "eval_and_sample": lambda k: (m.reset(), m._m.eval_and_sample((ids * k)[:96 * k], sampler, list(ids))),
        "tokenize": lambda k: m.tokenize("The history of the city begins. " * (200000 * k)),
        "detokenize": lambda k: m.detokenize(ids * (30000 * k)),
    }
    for name, call in calls.items():
        for k in (1, 2, 4):
            secs, stall = _largest_stall_during(lambda: call(k))
            if secs >= 0.15:
                break
        assert secs >= 0.15, f"{name} took only {secs:.3f} s even with {k}x the input; too short to tell"
        assert stall < 0.5 * secs, f"{name}: another thread was stalled {stall:.3f} s of {secs:.3f} s"
    # The method tells the two apart: a builtin running in C holds the GIL throughout.
    secs, stall = _largest_stall_during(lambda: sum(range(20_000_000)))
    assert stall > 0.5 * secs, (secs, stall)


def test_one_model_shared_by_threads_is_serialised_not_corrupted(tiny_models: list[Path]) -> None:
    # Calls on one model from several threads are serialised by the binding: no eval is
    # lost or torn, so the cache ends exactly full, and each call sees a consistent model.
    m = quantx.Model(tiny_models[0], threads=2)
    assert m.n_ctx == 64
    ids = m.tokenize("ab")
    assert len(ids) == 2

    def worker(_: int) -> int:
        ok = 0
        for _ in range(8):
            logits = m.eval(ids)
            ok += logits.shape == (2, m.n_vocab) and bool(np.isfinite(logits).all())
            m.tokenize(PROMPTS[1] * 50)  # the tokenizer is read-only and needs no lock
        return ok

    with ThreadPoolExecutor(4) as ex:
        assert sum(ex.map(worker, range(4))) == 32
    assert m.n_past == 64
    with pytest.raises(quantx.QuantxError, match="context overflow"):
        m.eval(ids)
