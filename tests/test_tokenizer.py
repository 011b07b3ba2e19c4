"""The native tokenizer against reference tokenizers, token id for token id.

Byte-level BPE: SmolLM2's vocabulary and merges read from the real GGUF with
gguf-py, against a Hugging Face `tokenizers` BPE built from the same vocabulary
with each pre-tokenizer (SmolLM2's original Digits + ByteLevel sequence, the
GPT-2, Llama-3 and Qwen2 regexes). SentencePiece: a small BPE model trained
here on Tiny Shakespeare, written as a GGUF tokenizer, against
`sentencepiece`'s own encoder.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import gguf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantx import _native  # noqa: E402
tokenizers = pytest.importorskip("tokenizers")
spm = pytest.importorskip("sentencepiece")

from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers  # noqa: E402

CONTROL, BYTE, UNKNOWN, UNUSED = 3, 6, 2, 5

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

TRICKY = [
    "",
    " ",
    "Hello world",
    " Hello  world   ",
    "Hello, world! How's it going? I'M FINE, they'RE here, we'Ve, you'LL, he'D",
    "don't can't won't shouldn't 's 't 're 've 'm 'll 'd ''s",
    "12345678901234567890 3.14159 1,000,000 -42 +7 0x1F 1e-9",
    "year 2024: 1 22 333 4444 55555",
    "\t\ttabs\tand\nnewlines\n\n\nand\r\nCRLF\r\n\r\n  \n \n\t \n",
    "trailing spaces   \n   leading",
    "    ",
    "\n\n",
    "a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u000bh\u000ci",
    "Ünïcödé façade naïve café — “quotes” ‘single’ … ½ ¼ ² ³ ① Ⅻ",
    "日本語のテキストと中文文本，以及한국어 텍스트。",
    "Emoji: 😀🙃👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨",
    "Ελληνικά Русский текст العربية עברית हिन्दी ไทย",
    "Zalgo: Z͑ͫ̓ͪ̂ͫ̽͏̴̙̤̞͉͚̯̞̠͍A̴̵̜̰͔ͫ͗͢L̠ͨͧͩ͘G̴̻͈͍͔̹̑͗̎̅͛́Ǫ̵̹̻̝̳͂̌̌͘",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\nif __name__ == '__main__':\n\tf(3)\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_start|>inside<|im_end|>text <|endoftext|> <|im_start|",
    "<|im_start|><|im_start|> <|im_end|><|im_end|>",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "!!!!!!!?????......,,,,;;;;----____====",
    "MixedCASE wORDS and 'Quotes' and \"double\" and `backticks`",
    "\u200b\u200czero\u200dwidth\ufeff",
    "combining: e\u0301 a\u0308 n\u0303 ﬁ ligature ＦＵＬＬＷＩＤＴＨ １２３",
    "math: ∀x∈ℝ, x²≥0; ∑ᵢ aᵢ ≠ ∞ ⊕ ⊗",
    "mixed123abc456def 7a8b9c",
    "٣٤٥ arabic digits ०१२ devanagari digits",
    "x" * 5000,
    " ".join(["word"] * 2000),
]


@dataclass
class GgufVocab:
    model: str
    pre: str
    tokens: list[str]
    scores: list[float]
    types: list[int]
    merges: list[str]
    ids: dict[str, int] = field(default_factory=dict)


def read_vocab(path: Path) -> GgufVocab:
    r = gguf.GGUFReader(str(path))

    def arr(key: str) -> list:
        f = r.fields.get(key)
        return [] if f is None else [f.parts[i] for i in f.data]

    def scalar(key: str):
        f = r.fields.get(key)
        return None if f is None else f.parts[f.data[0]]

    def text(key: str, default: str) -> str:
        v = scalar(key)
        return default if v is None else bytes(v).decode()

    v = GgufVocab(
        model=text("tokenizer.ggml.model", ""),
        pre=text("tokenizer.ggml.pre", "default"),
        tokens=[bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.tokens")],
        scores=[float(p[0]) for p in arr("tokenizer.ggml.scores")],
        types=[int(p[0]) for p in arr("tokenizer.ggml.token_type")],
        merges=[bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.merges")],
    )
    for name in ("bos", "eos", "unknown", "padding"):
        val = scalar(f"tokenizer.ggml.{name}_token_id")
        if val is not None:
            v.ids[name] = int(val[0])
    return v


def native_from_vocab(v: GgufVocab, pre: str | None = None, **kw) -> "_native.Tokenizer":
    return _native.Tokenizer.from_spec(
        v.model, v.tokens, scores=v.scores, token_types=v.types, merges=v.merges,
        pre=pre or v.pre, bos_id=v.ids.get("bos", -1), eos_id=v.ids.get("eos", -1),
        unk_id=v.ids.get("unknown", -1), pad_id=v.ids.get("padding", -1), **kw)


# ----------------------------------------------------------------- BPE -----

@pytest.fixture(scope="session")
def smol_vocab(smollm2_q41: Path) -> GgufVocab:
    v = read_vocab(smollm2_q41)
    assert v.model == "gpt2" and v.pre == "smollm" and len(v.tokens) == 49152
    return v


def hf_bpe(v: GgufVocab, pre: str) -> "tokenizers.Tokenizer":
    byte_level_no_regex = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if pre == "smollm":  # SmolLM2's original tokenizer.json pre_tokenizer
        pt = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    elif pre == "gpt2":
        pt = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif pre == "llama-bpe":
        pt = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
                                      byte_level_no_regex])
    elif pre == "qwen2":
        pt = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
                                      byte_level_no_regex])
    else:
        raise ValueError(pre)
    model = models.BPE(vocab={t: i for i, t in enumerate(v.tokens)},
                       merges=[tuple(m.split(" ")) for m in v.merges],
                       ignore_merges=(pre == "llama-bpe"))  # as Llama-3's tokenizer.json
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = pt
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(v.tokens, v.types) if ty == CONTROL])
    return tok


BPE_PRES = ["smollm", "gpt2", "llama-bpe", "qwen2"]


@pytest.fixture(scope="session", params=BPE_PRES)
def bpe_pair(request, smol_vocab: GgufVocab):
    pre = request.param
    return pre, native_from_vocab(smol_vocab, pre=pre), hf_bpe(smol_vocab, pre)


def test_bpe_wikitext_matches_hf(bpe_pair, wikitext_path: Path) -> None:
    pre, ours, ref = bpe_pair
    text = wikitext_path.read_text(encoding="utf-8")
    t0 = time.perf_counter()
    got = ours.encode(text, add_special=False, parse_special=True)
    dt = time.perf_counter() - t0
    want = ref.encode(text, add_special_tokens=False).ids
    assert len(got) == len(want) and got == want
    assert ours.decode(got, render_special=True).decode("utf-8") == text
    print(f"\n[{pre}] wikitext-2 test: {len(got)} tokens in {dt * 1e3:.1f} ms, "
          f"{len(got) / dt / 1e6:.2f} M tokens/s")


@pytest.mark.parametrize("idx", range(len(TRICKY)))
def test_bpe_tricky_strings_match_hf(bpe_pair, idx: int) -> None:
    pre, ours, ref = bpe_pair
    s = TRICKY[idx]
    got = ours.encode(s, add_special=False, parse_special=True)
    assert got == ref.encode(s, add_special_tokens=False).ids, (pre, s)
    assert ours.decode(got, render_special=True).decode("utf-8") == s


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_bpe_random_text_matches_hf(bpe_pair, s: str) -> None:
    pre, ours, ref = bpe_pair
    assert ours.encode(s, add_special=False, parse_special=True) == ref.encode(s, add_special_tokens=False).ids


def test_bpe_special_tokens_and_flags(smol_vocab: GgufVocab) -> None:
    ours = native_from_vocab(smol_vocab, add_bos=True, add_eos=True)
    im_start, im_end = smol_vocab.tokens.index("<|im_start|>"), smol_vocab.tokens.index("<|im_end|>")
    s = "<|im_start|>user\nhi<|im_end|>"
    parsed = ours.encode(s, add_special=False, parse_special=True)
    assert parsed[0] == im_start and parsed[-1] == im_end
    literal = ours.encode(s, add_special=False, parse_special=False)
    assert im_start not in literal and im_end not in literal
    assert ours.decode(literal).decode() == s
    # Control tokens render only on request.
    assert ours.decode(parsed).decode() == "user\nhi"
    assert ours.decode(parsed, render_special=True).decode() == s
    with_special = ours.encode("hi", add_special=True, parse_special=True)
    assert with_special[0] == smol_vocab.ids["bos"] and with_special[-1] == smol_vocab.ids["eos"]
    assert ours.is_eog(im_end) and not ours.is_eog(im_start)
    assert ours.n_vocab == len(smol_vocab.tokens)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(b=st.binary(max_size=64))
def test_bpe_arbitrary_bytes_roundtrip(bpe_pair, smol_byte_tokens: set[int], b: bytes) -> None:
    """Every byte survives except those the vocabulary has no token for,
    which are dropped (as Hugging Face's BPE and llama.cpp drop them)."""
    _, ours, _ = bpe_pair
    ids = ours.encode(b, add_special=False, parse_special=False)
    assert ours.decode(ids) == bytes(x for x in b if x in smol_byte_tokens)


@pytest.fixture(scope="session")
def smol_byte_tokens(smol_vocab: GgufVocab) -> set[int]:
    """Bytes with a token of their own in the byte-level vocabulary."""
    ours = native_from_vocab(smol_vocab)
    single = set()
    for i in range(ours.n_vocab):
        bs = ours.token_bytes(i)
        if len(bs) == 1 and smol_vocab.types[i] == 1:
            single.add(bs[0])
    assert len(single) > 200  # a handful of control bytes are missing in SmolLM2
    return single


@pytest.mark.parametrize("bad", [b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80"])
@pytest.mark.parametrize("left,right", [("hello", "world"), ("a ", " b"), ("x", "12"), ("", "!!"),
                                        ("\n", ""), ("it", "'s"), (" ", "  ")])
def test_bpe_invalid_utf8_splits_like_replacement_char(bpe_pair, smol_byte_tokens: set[int],
                                                       bad: bytes, left: str, right: str) -> None:
    """Invalid bytes split words where U+FFFD does in the reference; every
    other word gets the reference's ids, and the bytes themselves survive."""
    pre, ours, ref = bpe_pair
    if any(x not in smol_byte_tokens for x in bad):
        pytest.skip("byte not in the vocabulary")
    src = left + "\ufffd" + right
    spans = [off for _, off in ref.pre_tokenizer.pre_tokenize_str(src)]
    k = next(i for i, (a, b) in enumerate(spans) if a <= len(left) < b)
    want_pre = [t for a, b in spans[:k] for t in ref.encode(src[a:b], add_special_tokens=False).ids]
    want_post = [t for a, b in spans[k + 1:] for t in ref.encode(src[a:b], add_special_tokens=False).ids]
    a, b = spans[k]
    bad_word = src[a:len(left)].encode() + bad + src[len(left) + 1:b].encode()

    got = ours.encode(left.encode() + bad + right.encode(), add_special=False, parse_special=False)
    assert got[:len(want_pre)] == want_pre
    assert got[len(got) - len(want_post):] == want_post
    assert ours.decode(got[len(want_pre):len(got) - len(want_post)]) == bad_word


def test_bpe_from_gguf_matches_spec(smollm2_q41: Path, smol_vocab: GgufVocab) -> None:
    """from_gguf reads the same vocabulary, merges, ids and flags gguf-py sees."""
    ours = _native.Tokenizer.from_gguf_path(str(smollm2_q41))
    ref = native_from_vocab(smol_vocab)
    assert (ours.n_vocab, ours.bos_id, ours.eos_id) == (ref.n_vocab, 1, 2)
    for s in TRICKY:
        # add_bos_token is false in this file: add_special adds nothing.
        assert ours.encode(s, add_special=True, parse_special=True) == ref.encode(s, False, True)
    assert [ours.token_text(i) for i in range(0, ours.n_vocab, 97)] == \
        [smol_vocab.tokens[i].encode() for i in range(0, ours.n_vocab, 97)]


def test_from_gguf_without_tokenizer_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "no-tokenizer.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ValueError, match="tokenizer.ggml.model"):
        _native.Tokenizer.from_gguf_path(str(path))


def test_bpe_unknown_pre_tokenizer_is_an_error(smol_vocab: GgufVocab) -> None:
    with pytest.raises(ValueError, match="tokenizer.ggml.pre 'nope'"):
        native_from_vocab(smol_vocab, pre="nope")


def test_bpe_bad_merge_is_an_error() -> None:
    with pytest.raises(ValueError, match="merges"):
        _native.Tokenizer.from_spec("gpt2", ["a", "b", "ab"], merges=["a c"])


# --------------------------------------------------------- SentencePiece ---

@pytest.fixture(scope="session")
def spm_model(tmp_path_factory, shakespeare_path: Path):
    """A small SentencePiece BPE model with byte fallback, and the same
    vocabulary written as a GGUF tokenizer with gguf-py."""
    d = tmp_path_factory.mktemp("spm")
    prefix = d / "shakespeare"
    spm.SentencePieceTrainer.train(
        input=str(shakespeare_path), model_prefix=str(prefix), vocab_size=2000, model_type="bpe",
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, character_coverage=0.9995, num_threads=2, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(prefix) + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        types.append(BYTE if sp.is_byte(i) else CONTROL if sp.is_control(i) else
                     UNKNOWN if sp.is_unknown(i) else UNUSED if sp.is_unused(i) else 1)
    path = d / "spm-tokenizer.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    # Hyperparameters llama.cpp insists on even when loading only the vocabulary.
    for key in ("block_count", "context_length", "embedding_length", "feed_forward_length",
                "attention.head_count"):
        w.add_uint32(f"llama.{key}", 8)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    vocab = read_vocab(path)
    assert vocab.tokens == tokens and vocab.types == types
    return sp, vocab, path


@pytest.fixture(scope="session")
def spm_pair(spm_model):
    sp, vocab, _ = spm_model
    return native_from_vocab(vocab, add_bos=True), sp


def test_spm_wikitext_matches_sentencepiece(spm_pair, wikitext_path: Path) -> None:
    ours, sp = spm_pair
    text = wikitext_path.read_text(encoding="utf-8")
    t0 = time.perf_counter()
    got = ours.encode(text, add_special=False, parse_special=False)
    dt = time.perf_counter() - t0
    assert got == sp.encode(text)
    assert ours.decode(got).decode("utf-8") == text
    print(f"\n[spm] wikitext-2 test: {len(got)} tokens in {dt * 1e3:.1f} ms, "
          f"{len(got) / dt / 1e6:.2f} M tokens/s")


def test_spm_from_gguf_matches_sentencepiece(spm_model) -> None:
    sp, _, path = spm_model
    ours = _native.Tokenizer.from_gguf_path(str(path))
    for s in TRICKY:
        assert ours.encode(s, add_special=True, parse_special=False) == [sp.bos_id()] + sp.encode(s)


@pytest.mark.parametrize("idx", range(len(TRICKY)))
def test_spm_tricky_strings_match_sentencepiece(spm_pair, idx: int) -> None:
    ours, sp = spm_pair
    s = TRICKY[idx]
    got = ours.encode(s, add_special=False, parse_special=False)
    assert got == sp.encode(s), s
    assert ours.decode(got).decode("utf-8") == s == sp.decode(got)
    assert ours.encode(s, add_special=True, parse_special=False) == [sp.bos_id()] + sp.encode(s)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_spm_random_text_matches_sentencepiece(spm_pair, s: str) -> None:
    ours, sp = spm_pair
    assert ours.encode(s, add_special=False, parse_special=False) == sp.encode(s)


def test_spm_special_tokens_in_text(spm_pair) -> None:
    """With parse_special, "<s>"/"</s>" become their ids and each text run
    after one gets SentencePiece's dummy space, as llama.cpp does."""
    ours, sp = spm_pair
    s = "Hello<s> world</s>\nagain</s>"
    want = (sp.encode("Hello") + [sp.bos_id()] + sp.encode(" world") + [sp.eos_id()]
            + sp.encode("\nagain") + [sp.eos_id()])
    got = ours.encode(s, add_special=False, parse_special=True)
    assert got == want
    assert ours.decode(got, render_special=True).decode() == s
    assert ours.decode(got).decode() == "Hello world\nagain"


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(b=st.binary(max_size=64))
def test_spm_arbitrary_bytes_roundtrip(spm_pair, b: bytes) -> None:
    ours, _ = spm_pair
    ids = ours.encode(b, add_special=False, parse_special=False)
    assert ours.decode(ids) == b


# ------------------------------------------------ llama.cpp (if present) ---

SPECIAL_STRINGS = ["Hello<s> world</s>\nagain</s>", "<s>x", " <s> ", "<unk>a</s></s>b"]


def llama_cpp_vocab(path: Path):
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def llama_cpp_detokenize(llm, ids: list[int], render_special: bool) -> bytes:
    """llama.cpp's own llama_detokenize (the Python wrapper's detokenize
    concatenates pieces and strips spaces itself)."""
    import ctypes

    import llama_cpp
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    cap = 16 * len(ids) + 64
    buf = ctypes.create_string_buffer(cap)
    n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, cap, False, render_special)
    assert n >= 0
    return buf.raw[:n]


def test_bpe_matches_llama_cpp(smollm2_q41: Path, wikitext_path: Path) -> None:
    ref = llama_cpp_vocab(smollm2_q41)
    ours = native_from_vocab(read_vocab(smollm2_q41))
    for s in TRICKY + [wikitext_path.read_text(encoding="utf-8")]:
        ids = ours.encode(s, add_special=True, parse_special=True)
        assert ids == ref.tokenize(s.encode(), add_bos=True, special=True), s[:80]
        assert ours.decode(ids) == llama_cpp_detokenize(ref, ids, False)
        assert ours.decode(ids, render_special=True) == llama_cpp_detokenize(ref, ids, True)


def test_spm_matches_llama_cpp(spm_model, wikitext_path: Path) -> None:
    """Token ids only: llama.cpp's SentencePiece detokenizer keeps the dummy
    space (decoding is checked against sentencepiece instead)."""
    _, vocab, path = spm_model
    ref = llama_cpp_vocab(path)
    ours = native_from_vocab(vocab, add_bos=True)
    # A slice of WikiText: llama.cpp's SentencePiece encoder takes seconds
    # for the whole file (which is checked against sentencepiece above).
    for s in TRICKY + SPECIAL_STRINGS + [wikitext_path.read_text(encoding="utf-8")[:100_000]]:
        for special in (False, True):
            ids = ours.encode(s, add_special=True, parse_special=special)
            assert ids == ref.tokenize(s.encode(), add_bos=True, special=special), (special, s[:80])
