"""How long extracting one local model will take on this machine, from a short run of that model.

`dnakb ingest --dry-run` times a few probes and reference texts through the model's own backend and
scales to the protocol. Generation costs a prompt's prefill once and then one decoding step per
token, so the sample is generated at two token budgets and the difference between them is the
per-token cost: timed at one short budget, the prefill counted as decoding and the estimate came
out about twice the measured time on real models (SmolLM2-135M and Gemma-3-270M at 600 × 64,
bench/RESULTS.md). Scoring texts is timed the same way, at two counts, so that batching's fixed
cost is not counted per text. The estimate assumes every probe runs to its token budget (early
stops make the real run shorter). Embedding the responses and sketching the weights are left out
(seconds, against minutes of generation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.access import ModelSource

SAMPLE_PROBES = 16
SAMPLE_TOKENS = (4, 12)
"""The two token budgets the sample is generated at."""
SAMPLE_TEXTS = (4, 12)
"""The two numbers of texts scored."""


@dataclass(frozen=True)
class Calibration:
    """Measured on one model: its load time, a probe's prefill, one generated token of one probe, and
    one scored text (seconds)."""

    load_s: float
    per_probe_token_s: float
    per_text_s: float
    per_probe_s: float = 0.0

    def seconds(self, probes: int, max_new_tokens: int, texts: int) -> float:
        """Estimated wall seconds to extract `probes` responses of up to `max_new_tokens` and score `texts`."""
        gen = probes * (self.per_probe_s + max_new_tokens * self.per_probe_token_s) if probes else 0.0
        return self.load_s + gen + texts * self.per_text_s


def _timed(run) -> float:
    clock = time.perf_counter()
    run()
    return time.perf_counter() - clock


def calibrate(source: str | Path | ModelSource, prompts: Sequence[str], max_new_tokens: int,
              texts: Sequence[str], *, chat: bool = False) -> Calibration:
    """Open the model as ingest does, generate for a few prompts at two small budgets (through the
    chat template when the protocol asks) and score a few texts twice, and time each."""
    from ingest.access import resolve_source

    started = time.perf_counter()
    model = resolve_source(source).open()
    try:
        load_s = time.perf_counter() - started
        sample = list(prompts[:SAMPLE_PROBES])
        per_probe = per_probe_token = 0.0
        if sample:
            short, long = (max(1, min(n, max_new_tokens)) for n in SAMPLE_TOKENS)
            t_short = _timed(lambda: model.generate(sample, short, chat=chat))
            t_long = _timed(lambda: model.generate(sample, long, chat=chat)) if long > short else t_short
            per_probe_token = (t_long - t_short) / (len(sample) * (long - short)) if long > short else 0.0
            if per_probe_token <= 0:  # too fast to tell apart (or noise): all of it per token
                per_probe_token = t_long / (len(sample) * long)
            per_probe = max(0.0, t_short / len(sample) - short * per_probe_token)
        per_text = 0.0
        if texts:
            few, more = (min(n, len(texts)) for n in SAMPLE_TEXTS)
            t_few = _timed(lambda: model.score(list(texts[:few])))
            t_more = _timed(lambda: model.score(list(texts[:more]))) if more > few else t_few
            per_text = (t_more - t_few) / (more - few) if more > few else 0.0
            if per_text <= 0:
                per_text = t_more / more
    finally:
        model.close()
    return Calibration(load_s, per_probe_token, per_text, per_probe)
