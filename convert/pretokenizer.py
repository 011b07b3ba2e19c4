"""Name a BPE tokenizer's pre-tokenizer the way llama.cpp does: by behaviour.

First, as llama.cpp's converter: encode a fixed test string and look the
sha256 of the id list up among hashes of known tokenizers. Failing that
(a model with its own vocabulary), compare the pre-tokenizer's split of the
same string with reference pre-tokenizers built from the regexes llama.cpp
implements for each name; the split does not depend on the vocabulary.
"""
from __future__ import annotations

import hashlib
from typing import Any

from .errors import ConvertError

# The probe string llama.cpp's convert_hf_to_gguf_update.py hashes.
CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) "
    "✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作"
    "1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told "
    "he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)

# sha256(str(ids)) of CHECK_TEXT for the reference tokenizers, as listed by llama.cpp.
KNOWN_HASHES = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",     # Meta-Llama-3-8B
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",         # Qwen1.5-7B
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",        # SmolLM-135M
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",         # gpt2
}

_LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def _reference_pretokenizers() -> dict[str, Any]:
    from tokenizers import Regex, pre_tokenizers as pt

    def split_then_bytes(regex: str) -> Any:
        return pt.Sequence([pt.Split(Regex(regex), behavior="isolated"),
                            pt.ByteLevel(add_prefix_space=False, use_regex=False)])

    return {
        "llama-bpe": split_then_bytes(_LLAMA3_REGEX),
        "qwen2": split_then_bytes(_QWEN2_REGEX),
        "smollm": pt.Sequence([pt.Digits(individual_digits=True),
                               pt.ByteLevel(add_prefix_space=False, use_regex=True)]),
        "gpt-2": pt.ByteLevel(add_prefix_space=False, use_regex=True),
    }


def token_hash(tokenizer: Any) -> str:
    ids = tokenizer.encode(CHECK_TEXT).ids
    return hashlib.sha256(str(ids).encode()).hexdigest()


def _pieces(tokenizer: Any) -> list[str] | None:
    text = CHECK_TEXT
    if tokenizer.normalizer is not None:
        text = tokenizer.normalizer.normalize_str(text)
    if tokenizer.pre_tokenizer is None:
        return None
    return [p for p, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def detect_pre_tokenizer(tokenizer: Any) -> str:
    """llama.cpp's tokenizer.ggml.pre name for a `tokenizers.Tokenizer`, or ConvertError."""
    h = token_hash(tokenizer)
    if h in KNOWN_HASHES:
        return KNOWN_HASHES[h]
    pieces = _pieces(tokenizer)
    if pieces is not None:
        for name, ref in _reference_pretokenizers().items():
            if [p for p, _ in ref.pre_tokenize_str(CHECK_TEXT)] == pieces:
                return name
    raise ConvertError(
        f"the BPE pre-tokenizer was not recognised (token hash {h}); supported: "
        f"{', '.join(sorted(set(KNOWN_HASHES.values())))}. If you know which llama.cpp pre-tokenizer "
        "it matches, pass it with --pre-tokenizer NAME")
