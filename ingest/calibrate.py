"""How long extracting one local model will take on this machine, from a short run of that model.

`dnakb ingest --dry-run` times a few probes and reference texts through the model's own backend and
scales to the protocol. A sample of `SAMPLE_PROBES` decodes fewer sequences together than a full run
does, so the per-probe time it measures is the slower one: the estimate errs long. Embedding the
responses and sketching the weights are left out (seconds, against minutes of generation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.access import ModelSource

SAMPLE_PROBES = 8
SAMPLE_TOKENS = 8
SAMPLE_TEXTS = 4


@dataclass(frozen=True)
class Calibration:
    """Measured on one model: its load time, seconds per probe per generated token, seconds per text."""

    load_s: float
    per_probe_token_s: float
    per_text_s: float

    def seconds(self, probes: int, max_new_tokens: int, texts: int) -> float:
        """Estimated wall seconds to extract `probes` responses of up to `max_new_tokens` and score `texts`."""
        gen = probes * max_new_tokens * self.per_probe_token_s if probes else 0.0
        return self.load_s + gen + texts * self.per_text_s


def calibrate(source: str | Path | ModelSource, prompts: Sequence[str], max_new_tokens: int,
              texts: Sequence[str], *, chat: bool = False) -> Calibration:
    """Open the model as ingest does, generate for a few prompts at a small budget (through the chat
    template when the protocol asks), score a few texts, and time each."""
    from ingest.access import resolve_source

    started = time.perf_counter()
    model = resolve_source(source).open()
    try:
        load_s = time.perf_counter() - started
        sample, budget = list(prompts[:SAMPLE_PROBES]), max(1, min(SAMPLE_TOKENS, max_new_tokens))
        per_probe_token = 0.0
        if sample:
            clock = time.perf_counter()
            model.generate(sample, budget, chat=chat)
            per_probe_token = (time.perf_counter() - clock) / (len(sample) * budget)
        per_text = 0.0
        if texts:
            clock = time.perf_counter()
            model.score(list(texts[:SAMPLE_TEXTS]))
            per_text = (time.perf_counter() - clock) / min(len(texts), SAMPLE_TEXTS)
    finally:
        model.close()
    return Calibration(load_s, per_probe_token, per_text)
