"""A model's own chat template around one probe: the one renderer every local backend uses.

Why one renderer of our own: an HF folder and its GGUF copy carry the same Jinja template (llama.cpp's
converter, and ours in ingest/convert.py, copy `tokenizer.chat_template` into the GGUF metadata key of
that name). Rendering it here, rather than through transformers' `apply_chat_template` on one side and
llama.cpp's C++ template engine on the other, gives both backends byte-identical prompt text, so the same
weights still land at the same DNA. The environment is transformers' (sandboxed, `trim_blocks`,
`lstrip_blocks`, `loopcontrols`, `raise_exception`, `strftime_now`, a `tojson` that does not escape
HTML), so the text equals what `apply_chat_template(add_generation_prompt=True)` renders (except that
`strftime_now` answers a fixed date, `PROBE_DATE`).

The probe is one user message; the template decides every special token, BOS included: a chat prompt is
tokenised with special tokens parsed and no BOS of ours prepended (as `apply_chat_template` does).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from kb.errors import InputError


class _Raised(Exception):
    """What a template's `raise_exception(message)` raises; render_chat turns it into an InputError."""


def _raise_exception(message: Any) -> None:
    raise _Raised(str(message))


PROBE_DATE = datetime(2025, 1, 1)
"""What a template's `strftime_now` sees (Llama 3 templates print today's date into the system turn):
one fixed day, so a model's DNA does not depend on the day it was extracted."""


def _strftime_now(fmt: str) -> str:
    return PROBE_DATE.strftime(fmt)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=1)
def _environment():  # noqa: ANN202 - jinja2 is imported lazily
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


@lru_cache(maxsize=32)
def _compiled(template: str):  # noqa: ANN202 - a jinja2.Template
    return _environment().from_string(template)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


def render_chat(template: str, prompt: str, *, bos_token: str, eos_token: str, source: object = "the model") -> str:
    """The text of `template` for one user message `prompt`, with the assistant's turn opened
    (`add_generation_prompt=True`); `source` (the model path) names the model in errors."""
    messages = [{"role": "user", "content": prompt}]
    try:
        return _compiled(template).render(messages=messages, add_generation_prompt=True, bos_token=bos_token,
                                          eos_token=eos_token, tools=None, documents=None)
    except _Raised as raised:
        raise InputError(f"the chat template of {source} refused the probe: {_one_line(raised)}") from None
    except Exception as error:  # a syntax error, an undefined call, a sandbox refusal, ...
        raise InputError(f"the chat template of {source} does not render ({type(error).__name__}: "
                         f"{_one_line(error)}): fix the template or probe without --chat-template") from None


__all__ = ["render_chat"]
