"""Chat templates (the Jinja text stored in tokenizer.chat_template), rendered
the way transformers renders them: jinja2 in a sandbox, with trim_blocks and
lstrip_blocks, and raise_exception available to the template.

The template comes from the model file, so it is untrusted: every failure
while compiling or rendering it (syntax, a Python error such as 1/0, a
sandbox violation, recursion) becomes a QuantxError, and repetition (`*`,
`**`) and the rendered prompt are bounded so a template cannot exhaust memory;
range() items are budgeted per rendering so nested loops cannot run for hours.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

# Far above any real prompt; a template producing more is broken or hostile.
MAX_PROMPT_CHARS = 16 * 1024 * 1024
# Largest sequence a template may build with `*` and largest exponent of `**`.
MAX_REPEAT_LEN = 1024 * 1024
MAX_POWER_BITS = 4096
# range() items one rendering may ask for, all calls together (nested loops multiply).
MAX_RANGE_ITEMS = 1_000_000


def _raise(message: str) -> None:
    raise TemplateError(message)


def _budgeted_range() -> Callable[..., range]:
    left = MAX_RANGE_ITEMS

    def bounded(*args: int) -> range:
        nonlocal left
        r = safe_range(*args)
        left -= len(r)
        if left < 0:
            raise TemplateError(f"template asks range() for more than {MAX_RANGE_ITEMS} items in total")
        return r

    return bounded


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_REPEAT_LEN:
                    raise TemplateError(f"template repeats a sequence to more than {MAX_REPEAT_LEN} items")
            return operator.mul(left, right)
        if isinstance(left, int) and isinstance(right, int) and right > 0 \
                and abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_POWER_BITS:
            raise TemplateError(f"template computes a power larger than {MAX_POWER_BITS} bits")
        return operator.pow(left, right)


def apply_chat_template(template: str, messages: list[dict[str, Any]], bos_token: str = "",
                        eos_token: str = "", add_generation_prompt: bool = True) -> str:
    from . import _native

    env = _BoundedSandbox(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    env.globals["range"] = _budgeted_range()
    parts: list[str] = []
    size = 0
    try:
        for chunk in env.from_string(template).generate(messages=messages, bos_token=bos_token,
                                                         eos_token=eos_token,
                                                         add_generation_prompt=add_generation_prompt):
            size += len(chunk)
            if size > MAX_PROMPT_CHARS:
                raise TemplateError(f"rendered prompt exceeds {MAX_PROMPT_CHARS} characters")
            parts.append(chunk)
    except TemplateError as e:
        raise _native.QuantxError(f"chat template failed: {e}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, RecursionError,
            MemoryError, NameError, SyntaxError) as e:
        # Python errors raised by the template's own expressions (1/0, 'x'|int
        # on odd input, deep macro recursion): the template is at fault. Two
        # come from jinja's code generator on malformed input (both found by the
        # fuzzer): NameError, when a float literal that overflows is folded into
        # `inf`, which then names nothing; SyntaxError, when a filter name lands
        # in a subscript (`{{ 1 [pipe::,1] }}`) and the generated Python is invalid.
        raise _native.QuantxError(f"chat template failed: {type(e).__name__}: {e}") from None
    return "".join(parts)
