"""The generation-backend interface: greedy responses to prompts, and log-likelihoods of texts.

Contract shared by every backend (so that the same weights land at the same DNA through either):
- the prompt is tokenised without special tokens and the model's BOS token is prepended explicitly
  (when the vocabulary has one): tokenisers and runtimes disagree about adding it themselves;
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
    """Drop the oldest prompt tokens (keeping BOS) when prompt + budget exceed the context."""
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

    @abstractmethod
    def generate(self, prompts: Sequence[str], max_new_tokens: int,
                 progress: ProgressFn | None = None) -> list[str]:
        """Greedy responses, one per prompt, in the prompts' order."""

    @abstractmethod
    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of token log-probs given BOS, UTF-8 byte count) per text."""

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "device": self.device, "dtype": self.dtype,
                "architecture": self.architecture, "model_path": str(self.model_path)}

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Free the model's memory."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
