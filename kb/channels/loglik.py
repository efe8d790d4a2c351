"""The log-likelihood channel (after Oyama et al., "Mapping 1,000+ Language Models via the
Log-Likelihood Vector", ACL 2025).

A model's log-likelihood of each text of a fixed reference set (kb/reftexts.py), divided by the text's
UTF-8 byte count (so that tokenizers compare), centred over the texts (a per-model constant, e.g. a
model that is better everywhere, carries no lineage signal) and projected to `dim` values with a seeded
Gaussian matrix of N(0, 1/dim) entries (squared distances preserved in expectation,
Johnson–Lindenstrauss). Oyama et al. show the squared Euclidean distance between centred
log-likelihood vectors approximates (a multiple of) the KL divergence between the two models.

Functional like the text DNA (any architecture and tokenizer compare), but one forward pass per text
and no generation, and it follows the model's whole distribution rather than its greedy answers: on
the zoo it put 14 of 15 fine-tunes nearer their parent than any unrelated base, the text DNA 8.
Needs logits: an API that returns none leaves the channel out for that model.

Descriptor: "<reference-set id>:n=<texts>:seed=<seed>:dim=<dim>" (the first n texts of the set).
Cost: one forward pass over ~20-40 tokens per text.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.channels.base import Channel, ModelAccess, Produced, Say, gaussian, parse_fields
from kb.errors import InputError
from kb.progress import step
from kb.reftexts import RefTextSet, load_reftexts

LOGLIK_DIM = 128
SCORE_CHUNK = 64
"""Texts per call to `score` (the backend batches inside): the unit of progress reports."""


class LoglikChannel(Channel):
    name = "loglik"
    label = "log-likelihood profile"
    record_field = "loglik"
    decides = frozenset({"relatedness"})

    def descriptor(self, seed: int, *, n_texts: int | None = None, dim: int = LOGLIK_DIM,
                   reftexts: RefTextSet | None = None, **_: Any) -> str:
        reftexts = reftexts or load_reftexts()
        n = len(reftexts.texts) if n_texts is None else n_texts
        if not 2 <= n <= len(reftexts.texts):
            raise InputError(f"n={n} reference texts: the set {reftexts.id} has {len(reftexts.texts)}; "
                             f"use 2..{len(reftexts.texts)}")
        return f"{reftexts.id}:n={n}:seed={seed}:dim={dim}"

    def parse(self, descriptor: str) -> dict[str, Any]:
        set_id, spec = parse_fields(descriptor, ("n", "seed", "dim"), "<set id>:n=1200:seed=0:dim=128")
        return {"set": set_id, **spec}

    def produce(self, model: ModelAccess, protocol: Any, say: Say,
                reftexts: RefTextSet | None = None) -> Produced:
        spec = self.parse(protocol.channel(self.name))
        texts = texts_for(spec, reftexts)
        start = time.perf_counter()
        raw = per_byte(score_in_chunks(model, texts, say))
        seconds = time.perf_counter() - start
        return Produced(profile(raw, spec["seed"], spec["dim"]), arrays={"loglik_raw": raw.astype(np.float32)},
                        detail={"descriptor": protocol.channel(self.name), "score_seconds": seconds,
                                "seconds": seconds})

    parts_array = "loglik_raw"

    def from_parts(self, parts: np.ndarray, counts: np.ndarray, protocol: Any) -> np.ndarray:
        """The profile of each model over a resample of the texts: A(√c ⊙ (x − x̄_c)), so that squared
        distances are Σ c_i d_i² as over the resampled list itself (x̄_c: the mean over the draw)."""
        spec = self.parse(protocol.channel(self.name))
        x = np.asarray(parts, dtype=np.float64)
        w = counts.astype(np.float64)
        centred = x - (x @ w / w.sum())[:, None]
        return (centred * np.sqrt(w)) @ projection(spec["seed"], x.shape[1], spec["dim"]).T


def texts_for(spec: dict[str, Any], reftexts: RefTextSet | None = None) -> list[str]:
    """The texts a descriptor scores; InputError when the shipped set is another one."""
    reftexts = reftexts or load_reftexts()
    if reftexts.id != spec["set"]:
        raise InputError(f"the protocol wants reference set {spec['set']}, but {reftexts.path} is "
                         f"{reftexts.id}: use the matching reference file or a protocol built on this one")
    if spec["n"] > len(reftexts.texts):
        raise InputError(f"the protocol wants {spec['n']} reference texts; {reftexts.path} has {len(reftexts.texts)}")
    return list(reftexts.texts[: spec["n"]])


def score_in_chunks(model: ModelAccess, texts: Sequence[str], say: Say) -> list[tuple[float, int]]:
    pairs: list[tuple[float, int]] = []
    for start in range(0, len(texts), SCORE_CHUNK):
        chunk = list(texts[start:start + SCORE_CHUNK])
        try:
            got = model.score(chunk)
        except NotImplementedError:
            raise InputError("the model exposes no logits (API-only?): log-likelihood channel skipped, "
                             "text DNA only") from None
        if len(got) != len(chunk):
            raise InputError(f"the backend returned {len(got)} scores for {len(chunk)} texts")
        pairs.extend(got)
        step(say, "log-likelihood texts", start + len(chunk), len(texts))
    return pairs


def per_byte(scores: Sequence[tuple[float, int]]) -> np.ndarray:
    """(sum log-prob, UTF-8 bytes) per text -> log-likelihood per byte (nats/byte)."""
    arr = np.asarray(scores, dtype=np.float64).reshape(-1, 2)
    if np.any(arr[:, 1] <= 0):
        raise InputError("a reference text has no bytes: every text must be non-empty")
    values = arr[:, 0] / arr[:, 1]
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"log-likelihood of reference text {bad} is not finite: the model's logits overflow")
    return values


@functools.lru_cache(maxsize=4)
def projection(seed: int, n_texts: int, dim: int = LOGLIK_DIM) -> np.ndarray:
    """dim x n_texts Gaussian projection with N(0, 1/dim) entries, drawn from `seed` (read-only: cached
    for bootstrap replicates)."""
    a = gaussian(seed, f"loglik:{n_texts}", (dim, n_texts), 1.0 / math.sqrt(dim)).astype(np.float64)
    a.flags.writeable = False
    return a


def profile(values: np.ndarray, seed: int, dim: int = LOGLIK_DIM) -> np.ndarray:
    """Centre a per-byte log-likelihood vector (x - mean x) and project it: the stored profile.

    >>> v = profile(np.array([-1.0, -2.0, -3.0]), seed=0, dim=4)
    >>> v.shape, v.dtype.name
    ((4,), 'float32')
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    centred = x - x.mean()  # a per-model offset carries no lineage signal
    return (projection(seed, x.size, dim) @ centred).astype(np.float32)  # E||A(x - y)||^2 = ||x - y||^2


CHANNEL = LoglikChannel()
