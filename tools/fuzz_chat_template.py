"""atheris harness for the chat-template path (quantx.chat.apply_chat_template),
run by `tools/fuzz.sh chat_template`. The template text comes from the model
file, so it is untrusted input, as are the messages.

Input: byte 0 picks the mode, the rest is fuzzed data.
  mode even: the rest is a template, rendered with a fixed conversation;
  mode odd:  one of the seed templates (tests/fuzz_corpus/chat_template/*, the
             ones in template mode) renders fuzzed messages and special tokens.
Rendering must return a str or raise QuantxError: any other exception (an
unhandled Python error escaping the library) is a finding. With a seed
template, every message's content (but tool messages, which one seed filters
out) must appear in the prompt, up to surrounding whitespace.
"""
from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["quantx.chat", "jinja2"]):
    from quantx import QuantxError
    from quantx.chat import apply_chat_template

FIXED = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b>there</b> {{ x }}"},
         {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]
ROLES = ["system", "user", "assistant", "tool"]


def seed_templates() -> list[str]:
    out = []
    for p in sorted((Path(__file__).resolve().parent.parent / "tests" / "fuzz_corpus" / "chat_template").iterdir()):
        data = p.read_bytes()
        if data and data[0] % 2 == 0 and not p.name.startswith("bad_"):
            out.append(data[1:].decode("utf-8", "replace"))
    return out


TEMPLATES = seed_templates()


def render(template: str, messages: list[dict], bos: str, eos: str, gen: bool) -> str | None:
    try:
        out = apply_chat_template(template, messages, bos, eos, gen)
    except QuantxError:
        return None
    if not isinstance(out, str):
        raise AssertionError(f"apply_chat_template returned {type(out).__name__}")
    return out


def test_one(data: bytes) -> None:
    if not data:
        return
    if data[0] % 2 == 0:
        render(data[1:].decode("utf-8", "surrogateescape"), FIXED, "<s>", "</s>", bool(data[0] & 2))
        return
    fdp = atheris.FuzzedDataProvider(data[1:])
    template = TEMPLATES[fdp.ConsumeIntInRange(0, len(TEMPLATES) - 1)]
    messages = []
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        role = ROLES[fdp.ConsumeIntInRange(0, len(ROLES) - 1)]
        messages.append({"role": role, "content": fdp.ConsumeUnicode(64)})
    bos, eos = fdp.ConsumeUnicode(8), fdp.ConsumeUnicode(8)
    out = render(template, messages, bos, eos, fdp.ConsumeBool())
    if out is not None:
        # The seed templates print every non-tool message (some trimmed).
        for m in messages:
            if m["role"] != "tool" and m["content"].strip() not in out:
                raise AssertionError(f"message content {m['content']!r} missing from the prompt")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
