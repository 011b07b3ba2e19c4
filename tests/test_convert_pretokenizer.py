"""tokenizer.ggml.pre detection: llama.cpp's token-id hash for known tokenizers, and the
pre-tokenizer's split behaviour for tokenizers with their own vocabulary."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("quantx._native")
from quantx.convert import ConvertError  # noqa: E402
from quantx.convert.pretokenizer import KNOWN_HASHES, detect_pre_tokenizer, token_hash  # noqa: E402

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def with_pre_tokenizer(hf_dir: Path, pre: dict):
    from tokenizers import Tokenizer

    tj = json.loads((hf_dir / "tokenizer.json").read_text(encoding="utf-8"))
    tj["pre_tokenizer"] = pre
    return Tokenizer.from_str(json.dumps(tj))


def byte_level(use_regex: bool) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def test_real_smollm2_by_hash(smollm2_hf_dir: Path) -> None:
    """Also proves CHECK_TEXT is byte-identical to llama.cpp's probe: the recorded hash matches."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(smollm2_hf_dir / "tokenizer.json"))
    assert token_hash(tok) in KNOWN_HASHES
    assert detect_pre_tokenizer(tok) == "smollm"


@pytest.mark.parametrize("pre,name", [
    ({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": False},
        byte_level(False)]}, "llama-bpe"),
    (byte_level(True), "gpt-2"),
    ({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level(True)]},
     "smollm"),
])
def test_behaviour_detection(tiny_llama_dir: Path, pre: dict, name: str) -> None:
    tok = with_pre_tokenizer(tiny_llama_dir, pre)   # a 2048-token vocabulary: no recorded hash
    assert token_hash(tok) not in KNOWN_HASHES
    assert detect_pre_tokenizer(tok) == name


def test_qwen2_style_detected(tiny_qwen2_dir: Path) -> None:
    from tokenizers import Tokenizer

    assert detect_pre_tokenizer(Tokenizer.from_file(str(tiny_qwen2_dir / "tokenizer.json"))) == "qwen2"


def test_unknown_behaviour_refused(tiny_llama_dir: Path) -> None:
    tok = with_pre_tokenizer(tiny_llama_dir, {"type": "Whitespace"})
    with pytest.raises(ConvertError, match="not recognised.*token hash [0-9a-f]{64}"):
        detect_pre_tokenizer(tok)
