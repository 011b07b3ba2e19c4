"""The tokenizer half of a GGUF file: tokenizer.ggml.* keys and the chat template.

BPE vocabularies (tokenizer.json) become tokenizer.ggml.model=gpt2 with
tokens, token types, merges and a behaviour-detected pre-tokenizer name;
SentencePiece vocabularies (tokenizer.model) become model=llama with scores.
Special token ids, add_bos/add_eos and the chat template come from gguf-py's
SpecialVocab, which reads tokenizer_config.json / chat_template.jinja.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import gguf

from .errors import ConvertError
from .pretokenizer import detect_pre_tokenizer

TT = gguf.TokenType
_LOOKS_SPECIAL = re.compile(r"^(<\|.*\|>|<｜.*｜>|<(pad|mask|unk|s|/s|eos|bos|sep|cls)>|\[(PAD|UNK|CLS|SEP|MASK)\])$")


@dataclass
class Vocab:
    model: str                     # "gpt2" (BPE) or "llama" (SentencePiece)
    pre: str
    tokens: list[str]
    token_types: list[int]
    scores: list[float] | None = None
    special: gguf.SpecialVocab | None = None
    extra: dict[str, bool] = field(default_factory=dict)

    def add_to(self, w: gguf.GGUFWriter) -> None:
        w.add_tokenizer_model(self.model)
        w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        if self.scores is not None:
            w.add_token_scores(self.scores)
        w.add_token_types(self.token_types)
        if self.special is not None:
            self.special.add_to_gguf(w, quiet=True)


def _set_bos_eos(tok, special: gguf.SpecialVocab, explicit: dict[str, bool]) -> None:
    """add_bos/add_eos as the tokenizer actually behaves (its post-processor), unless
    tokenizer_config.json states them explicitly (SpecialVocab already read those)."""
    ids = tok.encode("Hello world").ids
    plain = tok.encode("Hello world", add_special_tokens=False).ids
    bos, eos = special.special_token_ids.get("bos"), special.special_token_ids.get("eos")
    added = len(ids) > len(plain)
    special.add_special_token["bos"] = explicit.get("bos", added and bos is not None and ids[0] == bos)
    special.add_special_token["eos"] = explicit.get("eos", added and eos is not None and ids[-1] == eos)


def _explicit_add_flags(d: Path) -> dict[str, bool]:
    p = d / "tokenizer_config.json"
    if not p.is_file():
        return {}
    cfg = json.loads(p.read_text(encoding="utf-8"))
    return {k: cfg[f"add_{k}_token"] for k in ("bos", "eos") if isinstance(cfg.get(f"add_{k}_token"), bool)}


def bpe_vocab(d: Path, n_vocab: int, pre_override: str | None = None) -> Vocab:
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    except Exception as e:
        raise ConvertError(f"cannot load {d / 'tokenizer.json'}: {e}") from None
    model = json.loads(tok.to_str()).get("model", {})
    if model.get("type") != "BPE":
        raise ConvertError(f"tokenizer.json model type {model.get('type')!r} is not supported without "
                           "tokenizer.model (supported: BPE, or SentencePiece via tokenizer.model)")
    vocab = tok.get_vocab(with_added_tokens=True)
    if vocab and max(vocab.values()) >= n_vocab:
        raise ConvertError(f"tokenizer has token id {max(vocab.values())} but config.json vocab_size is {n_vocab}")
    by_id = {i: t for t, i in vocab.items()}
    added = tok.get_added_tokens_decoder()
    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):
        t = by_id.get(i)
        if t is None:   # embedding rows beyond the tokenizer (padding), as llama.cpp names them
            tokens.append(f"[PAD{i}]")
            types.append(TT.UNUSED)
        elif i in added:
            a = added[i]
            if a.special or _LOOKS_SPECIAL.match(t):
                types.append(TT.CONTROL)
            else:
                t = t.replace("\u2581", " ")
                types.append(TT.USER_DEFINED)
            tokens.append(t)
        else:
            tokens.append(t)
            types.append(TT.NORMAL)
    pre = pre_override or detect_pre_tokenizer(tok)
    special = gguf.SpecialVocab(d, load_merges=True, n_vocab=n_vocab)
    _set_bos_eos(tok, special, _explicit_add_flags(d))
    if not special.merges:
        raise ConvertError(f"{d / 'tokenizer.json'} has no BPE merges")
    return Vocab("gpt2", pre, tokens, [int(x) for x in types], None, special)


def spm_vocab(d: Path, n_vocab: int) -> Vocab:
    from sentencepiece import SentencePieceProcessor

    sp = SentencePieceProcessor()
    try:
        sp.LoadFromFile(str(d / "tokenizer.model"))
    except Exception as e:
        raise ConvertError(f"cannot load {d / 'tokenizer.model'}: {e}") from None
    if sp.vocab_size() > n_vocab:
        raise ConvertError(f"tokenizer.model has {sp.vocab_size()} pieces but config.json vocab_size is {n_vocab}")
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [-1000.0] * n_vocab
    types = [int(TT.UNUSED)] * n_vocab
    for i in range(sp.vocab_size()):
        tokens[i] = sp.IdToPiece(i)
        scores[i] = sp.GetScore(i)
        if sp.IsUnknown(i):
            types[i] = TT.UNKNOWN
        elif sp.IsControl(i):
            types[i] = TT.CONTROL
        elif sp.IsUnused(i):
            types[i] = TT.UNUSED
        elif sp.IsByte(i):
            types[i] = TT.BYTE
        else:
            types[i] = TT.NORMAL
    added_path = d / "added_tokens.json"
    if added_path.is_file():
        for piece, i in json.loads(added_path.read_text(encoding="utf-8")).items():
            if i < n_vocab:
                tokens[i], scores[i], types[i] = piece, -1000.0, int(TT.USER_DEFINED)
    tj_path = d / "tokenizer.json"
    if tj_path.is_file():
        for a in json.loads(tj_path.read_text(encoding="utf-8")).get("added_tokens", []):
            i = a.get("id")
            if isinstance(i, int) and i < n_vocab and (i >= sp.vocab_size() or tokens[i] != a["content"]):
                tokens[i] = a["content"]
                scores[i] = -1000.0
                types[i] = int(TT.CONTROL if a.get("special") else TT.USER_DEFINED)
    special = gguf.SpecialVocab(d, load_merges=False, n_vocab=n_vocab)
    return Vocab("llama", "default", tokens, [int(x) for x in types], scores, special)


def load_vocab(d: Path, n_vocab: int, pre_override: str | None = None) -> Vocab:
    if (d / "tokenizer.model").is_file():
        return spm_vocab(d, n_vocab)
    if (d / "tokenizer.json").is_file():
        return bpe_vocab(d, n_vocab, pre_override)
    raise ConvertError(f"{d} has no tokenizer (expected tokenizer.json or tokenizer.model)")
