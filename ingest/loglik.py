"""Log-likelihood profile of a model on the reference text set (I/O side; math in kb/evidence_math.py).

One forward pass per text (batched by the backend; no generation): the backend's `score()` gives
(sum of token log-probs given BOS, UTF-8 bytes) per text; the profile is the per-byte log-likelihood,
centred over the texts and projected to `dim` values with a seeded Gaussian matrix (Oyama et al.,
ACL 2025). Per byte, not per token, so models with different tokenizers compare.

Protocol descriptor (DnaProtocol.loglik_set): "<reference-set id>:n=<texts>:seed=<seed>:dim=<dim>",
e.g. "634fd7c0800203e2:n=1200:seed=0:dim=128" (the first n texts of the set are scored).
Cost: one forward pass over ~20-40 tokens per text. Measured on 2 shared, overloaded CPU cores
(1 thread): the zoo's 250K-parameter models score 1,200 texts in ~10-25 s through either backend;
SmolLM2-135M (GGUF Q4_1, llama.cpp) took 2.3 s per text there, so lower `n_texts` in
`with_channels` for big models on CPU (the set's first n texts are used).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.errors import InputError
from kb.evidence_math import LOGLIK_DIM, loglik_per_byte, loglik_vector
from kb.protocol import DnaProtocol
from ingest.reftexts import RefTextSet, load_reftexts

SCORE_CHUNK = 64
"""Texts per call to backend.score() (the backend batches inside): the unit of progress reports."""


@dataclass(frozen=True)
class LoglikSpec:
    set_id: str
    n: int
    seed: int
    dim: int

    @property
    def descriptor(self) -> str:
        return f"{self.set_id}:n={self.n}:seed={self.seed}:dim={self.dim}"


def loglik_descriptor(reftexts: RefTextSet | None = None, *, n: int | None = None, seed: int = 0,
                      dim: int = LOGLIK_DIM) -> str:
    """The opaque string that goes into DnaProtocol.loglik_set."""
    reftexts = reftexts or load_reftexts()
    n = len(reftexts.texts) if n is None else n
    if not 2 <= n <= len(reftexts.texts):
        raise InputError(f"n={n} reference texts: the set {reftexts.id} has {len(reftexts.texts)}; use 2..{len(reftexts.texts)}")
    return LoglikSpec(reftexts.id, n, seed, dim).descriptor


def parse_loglik_descriptor(text: str | None) -> LoglikSpec:
    if not text:
        raise InputError("this protocol has no log-likelihood channel (loglik_set is empty): build it with with_channels()")
    try:
        set_id, *parts = text.split(":")
        values = dict(p.split("=", 1) for p in parts)
        return LoglikSpec(set_id, int(values["n"]), int(values["seed"]), int(values["dim"]))
    except (ValueError, KeyError):
        raise InputError(f"loglik descriptor {text!r}: expected like '<set id>:n=1200:seed=0:dim=128'") from None


def texts_for(protocol: DnaProtocol, reftexts: RefTextSet | None = None) -> list[str]:
    """The texts a protocol scores; ProtocolMismatch-like InputError when the shipped set differs."""
    spec = parse_loglik_descriptor(protocol.loglik_set)
    reftexts = reftexts or load_reftexts()
    if reftexts.id != spec.set_id:
        raise InputError(
            f"protocol {protocol.id} wants reference set {spec.set_id}, but {reftexts.path} is {reftexts.id}: "
            "use the matching reference file or a protocol built on this one"
        )
    if spec.n > len(reftexts.texts):
        raise InputError(f"protocol wants {spec.n} reference texts; {reftexts.path} has {len(reftexts.texts)}")
    return list(reftexts.texts[: spec.n])


def score_texts(backend: object, texts: Sequence[str],
                progress: Callable[[str], None] | None = None) -> np.ndarray:
    """Per-byte log-likelihood of each text (nats/byte), one forward pass per text."""
    score = getattr(backend, "score", None)
    name = getattr(backend, "model_path", backend)
    if score is None:
        raise InputError(f"{name} exposes no logits (API-only?): log-likelihood channel skipped, text DNA only")
    pairs: list[tuple[float, int]] = []
    for start in range(0, len(texts), SCORE_CHUNK):
        try:
            got = score(list(texts[start:start + SCORE_CHUNK]))
        except NotImplementedError:
            raise InputError(f"{name} exposes no logits (API-only?): log-likelihood channel skipped, text DNA only") from None
        if len(got) != len(texts[start:start + SCORE_CHUNK]):
            raise InputError(f"backend of {name} returned {len(got)} scores for {len(texts[start:start + SCORE_CHUNK])} texts")
        pairs.extend(got)
        if progress is not None:
            progress(f"loglik: {min(start + SCORE_CHUNK, len(texts))}/{len(texts)}")
    return loglik_per_byte(pairs)


def loglik_profile(backend: object, texts: Sequence[str] | None, protocol: DnaProtocol,
                   progress: Callable[[str], None] | None = None) -> np.ndarray:
    """The projected, centred log-likelihood profile (float32, `dim` values) under `protocol`.

    `texts=None` takes them from the shipped reference set named in the protocol.
    """
    spec = parse_loglik_descriptor(protocol.loglik_set)
    texts = texts_for(protocol) if texts is None else list(texts)
    if len(texts) != spec.n:
        raise InputError(f"{len(texts)} texts given; protocol {protocol.id} scores {spec.n}")
    return loglik_vector(score_texts(backend, texts, progress), spec.seed, spec.dim)


def timed_profile(backend: object, protocol: DnaProtocol,
                  progress: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(profile, raw per-byte values, seconds): what channels.py stores."""
    spec = parse_loglik_descriptor(protocol.loglik_set)
    start = time.perf_counter()
    raw = score_texts(backend, texts_for(protocol), progress)
    return loglik_vector(raw, spec.seed, spec.dim), raw, time.perf_counter() - start
