"""Sampling filters against a numpy statement of what each one keeps."""
from __future__ import annotations

import numpy as np

from quantx import _native


def draw(n: int = 400, **kw) -> np.ndarray:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(200).astype(np.float32) * 3
    s = _native.Sampler(**kw)
    return logits, np.array([s.sample(logits, []) for _ in range(n)])


def test_greedy_is_argmax() -> None:
    logits, got = draw(20, temperature=0.0)
    assert (got == np.argmax(logits)).all()


def test_top_k_keeps_only_the_k_best() -> None:
    logits, got = draw(temperature=1.5, top_k=5, top_p=1.0, min_p=0.0)
    allowed = set(np.argsort(-logits)[:5].tolist())
    assert set(got.tolist()) <= allowed and len(set(got.tolist())) >= 3


def test_top_p_keeps_the_smallest_nucleus() -> None:
    logits, got = draw(temperature=1.0, top_k=0, top_p=0.5, min_p=0.0)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.argsort(-p)
    keep = order[: int(np.searchsorted(np.cumsum(p[order]), 0.5) + 1)]
    assert set(got.tolist()) <= set(keep.tolist())


def test_min_p_threshold() -> None:
    logits, got = draw(temperature=1.0, top_k=0, top_p=1.0, min_p=0.2)
    p = np.exp(logits - logits.max())
    assert (p[got] >= 0.2 - 1e-6).all()


def test_seed_reproducible_and_distribution_follows_temperature() -> None:
    _, a = draw(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7)
    _, b = draw(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7)
    assert (a == b).all()
    logits = np.array([2.0, 1.0, 0.0, -1.0], dtype=np.float32)
    s = _native.Sampler(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=3)
    counts = np.bincount([s.sample(logits, []) for _ in range(20000)], minlength=4) / 20000
    p = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(counts, p, atol=0.015)


def test_repeat_penalty_demotes_recent_tokens() -> None:
    logits = np.array([3.0, 2.9, -1.0], dtype=np.float32)
    s = _native.Sampler(temperature=0.0, repeat_penalty=1.5)
    assert s.sample(logits, [0]) == 1
    assert s.sample(logits, [1]) == 0
