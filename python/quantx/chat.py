"""Chat templates (the Jinja text stored in tokenizer.chat_template), rendered
the way transformers renders them: jinja2 in a sandbox, with trim_blocks and
lstrip_blocks, and raise_exception available to the template."""
from __future__ import annotations

from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


def _raise(message: str) -> None:
    raise TemplateError(message)


def apply_chat_template(template: str, messages: list[dict[str, Any]], bos_token: str = "",
                        eos_token: str = "", add_generation_prompt: bool = True) -> str:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    try:
        return env.from_string(template).render(messages=messages, bos_token=bos_token, eos_token=eos_token,
                                                 add_generation_prompt=add_generation_prompt)
    except TemplateError as e:
        from . import _native

        raise _native.QuantxError(f"chat template failed: {e}") from None
