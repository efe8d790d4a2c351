"""The generation-backend interface: greedy responses to prompts, and log-likelihoods of texts.

Contract shared by every backend (so that the same weights land at the same DNA through either):
- the prompt is tokenised without special tokens and the model's BOS token is prepended explicitly
  (when the vocabulary has one): tokenisers and runtimes disagree about adding it themselves;
- `generate(..., chat=True)` wraps each prompt in the model's own chat template (`chat_template`,
  rendered by ingest/chat.py for every backend alike) and tokenises that text with special tokens
  parsed and no BOS of ours (the template places it, as transformers' `apply_chat_template` does); a
  model without a template gets the raw prompt. `describe()["chat"]` says which ("template" / "raw");
- decoding is greedy; a response holds only the new tokens, up to (not including) the first
  end-of-generation token, at most `max_new_tokens` tokens, decoded without special tokens;
- `score(text)` = (Σ log p(token_k | BOS, tokens_<k) over the text's tokens, UTF-8 byte count of the text);
  with no BOS in the vocabulary the first token has no context and is not scored.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

from kb.errors import InputError


ProgressFn = Callable[[str], None]


def default_threads() -> int:
    """CPU threads to use when none are given: the cores not already busy (1-minute load), at least 1.

    Measured on a 2-core machine under load ~12: llama.cpp on 2 threads generated 20x slower than on
    1 (spinning threads wait on each other when the OS deschedules one); torch behaves alike.
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, int(cores - busy + 0.5)))


def fit_to_context(
    ids: list[int], max_new_tokens: int, context: int | None, keep_bos: bool, model_path: object
) -> list[int]:
    """Drop the oldest prompt tokens (keeping the first when `keep_bos`) when prompt + budget exceed the
    context. Callers pass `keep_bos` only when ids[0] is BOS: a chat template may not start with it."""
    if context is None or len(ids) + max_new_tokens <= context:
        return ids
    room = context - max_new_tokens
    if room < 2:
        raise InputError(
            f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the {context}-token "
            f"context of {model_path}: lower --max-new-tokens"
        )
    head = ids[:1] if keep_bos else []
    return head + ids[len(ids) - (room - len(head)):]


class Backend(ABC):
    """One loaded model. Use as a context manager or call `close()` to free its memory."""

    name: str = "base"

    def __init__(self, model_path: Path) -> None:
        self.model_path = Path(model_path)
        self.architecture: str | None = None
        self.device: str = "cpu"
        self.dtype: str | None = None
        self.tokens_generated = 0  # new tokens produced so far (EOS excluded)
        self.chat_used: str | None = None  # the last generate(chat=True): "template" or "raw"; None: not asked

    @abstractmethod
    def generate(self, prompts: Sequence[str], max_new_tokens: int,
                 progress: ProgressFn | None = None, *, chat: bool = False) -> list[str]:
        """Greedy responses, one per prompt, in the prompts' order (`chat`: through the chat template)."""

    # -- chat templates -----------------------------------------------------------------------------
    @property
    def chat_template(self) -> str | None:
        """The model's own Jinja chat template, or None when it has none."""
        return None

    def chat_specials(self) -> tuple[str, str]:
        """The (bos_token, eos_token) strings a chat template sees ("" where the vocabulary has none)."""
        return "", ""

    def chat_prompts(self, prompts: Sequence[str], chat: bool) -> list[str] | None:
        """The prompts rendered through the chat template, or None when they go raw (chat not asked, or the
        model has no template); records which in `chat_used`."""
        template = self.chat_template if chat else None
        self.chat_used = None if not chat else ("template" if template else "raw")
        if not template:
            return None
        from ingest.chat import render_chat

        bos, eos = self.chat_specials()
        return [render_chat(template, p, bos_token=bos, eos_token=eos, source=self.model_path) for p in prompts]

    def prompt_ids(self, prompts: Sequence[str], max_new_tokens: int, chat: bool, context: int | None) -> list[list[int]]:
        """Token ids per prompt as `generate` feeds them: raw (our BOS + the text) or through the chat
        template (`_encode_chat`: the template's own special tokens), cut to fit `context` with the budget."""
        rendered = self.chat_prompts(prompts, chat)
        ids = [self._encode(p) for p in prompts] if rendered is None else [self._encode_chat(t) for t in rendered]
        bos = getattr(self, "bos_id", None)
        return [fit_to_context(i, max_new_tokens, context, bos is not None and i[:1] == [bos], self.model_path)
                for i in ids]

    def _encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def _encode_chat(self, text: str) -> list[int]:
        raise NotImplementedError

    @abstractmethod
    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of token log-probs given BOS, UTF-8 byte count) per text."""

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"backend": self.name, "device": self.device, "dtype": self.dtype,
                                  "architecture": self.architecture, "model_path": str(self.model_path)}
        if self.chat_used:
            out["chat"] = self.chat_used
        return out

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Free the model's memory."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
