"""Session fixtures: HF model folders built by models/build_fixtures.py (cached under
models/cache/) and their conversions, made once per session and outtype."""
from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

_REPO = Path(__file__).resolve().parent.parent


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quantx_build_fixtures", _REPO / "models" / "build_fixtures.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is created
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def fixture_builder() -> ModuleType:
    pytest.importorskip("transformers", reason="building model fixtures needs transformers")
    pytest.importorskip("torch", reason="building model fixtures needs torch")
    return _load_builder()


@pytest.fixture(scope="session")
def smollm2_hf_dir(fixture_builder: ModuleType, smollm2_q41: Path) -> Path:
    """SmolLM2-135M-Instruct as an ordinary HF folder (F32 safetensors), dequantized from the Q4_1 GGUF."""
    return fixture_builder.smollm2_hf_dir(smollm2_q41)


@pytest.fixture(scope="session")
def tiny_llama_dir(fixture_builder: ModuleType, smollm2_hf_dir: Path) -> Path:
    """Random 2-layer llama, untied output, single F32 safetensors file."""
    return fixture_builder.tiny_dir("tiny-llama", smollm2_hf_dir)


@pytest.fixture(scope="session")
def tiny_llama_sharded_dir(fixture_builder: ModuleType, smollm2_hf_dir: Path) -> Path:
    """The same weights as tiny_llama_dir, in three shards with model.safetensors.index.json."""
    return fixture_builder.tiny_dir("tiny-llama-sharded", smollm2_hf_dir)


@pytest.fixture(scope="session")
def tiny_llama_bf16_dir(fixture_builder: ModuleType, smollm2_hf_dir: Path) -> Path:
    """tiny_llama_dir's weights stored as BF16."""
    return fixture_builder.tiny_dir("tiny-llama-bf16", smollm2_hf_dir)


@pytest.fixture(scope="session")
def tiny_qwen2_dir(fixture_builder: ModuleType, smollm2_hf_dir: Path) -> Path:
    """Random 2-layer qwen2 (q/k/v biases, tied embeddings, Qwen2 pre-tokenizer over SmolLM2's vocabulary)."""
    return fixture_builder.tiny_dir("tiny-qwen2", smollm2_hf_dir)


@pytest.fixture(scope="session")
def tiny_llama_spm_dir(fixture_builder: ModuleType, shakespeare_path: Path) -> Path:
    """Random 2-layer llama with a SentencePiece tokenizer.model trained on Tiny Shakespeare."""
    return fixture_builder.tiny_spm_dir(shakespeare_path)


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path, str], Path]:
    """converted(hf_dir, outtype) -> GGUF path; each (folder, outtype) is converted once per session."""
    from quantx.convert import convert

    done: dict[tuple[Path, str], Path] = {}
    out_dir = tmp_path_factory.mktemp("converted")

    def get(hf_dir: Path, outtype: str) -> Path:
        key = (hf_dir, outtype)
        if key not in done:
            out = out_dir / f"{hf_dir.name}-{outtype}.gguf"
            convert(hf_dir, out, outtype, quiet=True)
            done[key] = out
        return done[key]

    return get
