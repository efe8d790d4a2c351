"""What inference knows about a model, and the per-channel distance matrices it compares them by.

A `ModelEvidence` holds one vector per evidence channel (kb/channels/; "text" is the DNA) plus the
facts about the weights (architecture signature, number format) and the release date. Inference only
ever sees channels through `channel_distances`, which asks each channel of the registry for its
distance over each group of models it can compare (the weight channel: one architecture signature).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from kb.channels import NAMES, REGISTRY
from kb.channels.base import UNVERIFIED
from kb.errors import InputError
from kb.records import DeclaredEdge, ModelRecord

PRECISION_RANK = {
    "f64": 10, "f32": 9, "fp32": 9, "float32": 9, "tf32": 9,
    "bf16": 8, "f16": 8, "fp16": 8, "float16": 8, "bfloat16": 8,
    "q8_0": 6, "q8_1": 6, "q8_k": 6, "int8": 6,
    "q6_k": 5,
    "q5_0": 4, "q5_1": 4, "q5_k": 4, "q5_k_m": 4, "q5_k_s": 4,
    "q4_0": 3, "q4_1": 3, "q4_k": 3, "q4_k_m": 3, "q4_k_s": 3, "iq4_nl": 3, "iq4_xs": 3, "int4": 3,
    "q3_k": 2, "q3_k_m": 2, "q3_k_s": 2, "q3_k_l": 2, "iq3_xxs": 2, "iq3_s": 2,
    "q2_k": 1, "iq2_xxs": 1, "iq2_xs": 1, "iq1_s": 0,
}
"""Higher = more precise. A copy at lower rank than its nearest same-weights model is its quantization."""


MANTISSA_BITS = {"f64": 52, "f32": 23, "fp32": 23, "float32": 23, "tf32": 10,
                 "bf16": 7, "bfloat16": 7, "f16": 10, "fp16": 10, "float16": 10}


def rounding_noise(precision: str | None) -> float:
    """Expected RMS of rounding to a float format, relative to the weights' RMS: round-to-nearest leaves
    an error uniform in ±ulp/2, ulp = 2^-m of the binade, so E[e²/w²] = 2^-2m/24 for values spread over a
    binade (bf16: 0.0016; measured on SmolLM2-135M's sketch: 0.0013). 0 for formats other than floats
    (unknown or block-quantized: their noise depends on the weights)."""
    bits = MANTISSA_BITS.get((precision or "").strip().lower())
    return 0.0 if bits is None else 2.0 ** -bits / 24 ** 0.5


FORMATS = {"transformers": "hf", "llama-cpp": "gguf"}
"""A backend's file format."""


def architectures_differ(a: str | None, b: str | None) -> bool:
    """Whether two weight signatures say two architectures differ (False when either is unknown or not
    verified across formats: then they may be one architecture in two formats)."""
    return bool(a and b and a != b and not a.startswith(UNVERIFIED) and not b.startswith(UNVERIFIED))


def precision_rank(precision: str | None) -> int | None:
    """Rank of a precision name (case-insensitive); None when unknown or missing."""
    if not precision:
        return None
    return PRECISION_RANK.get(precision.strip().lower())


@dataclass
class ModelEvidence:
    """Everything inference knows about one model; `vectors` maps channel name -> vector."""

    id: str
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    signature: str | None = None
    precision: str | None = None
    released: str | None = None
    declared_parents: list[tuple[str, str]] = field(default_factory=list)
    fmt: str | None = None
    """The file format: "hf" (a checkpoint folder), "gguf", or None (unknown, e.g. behind an API)."""
    made_by: str | None = None
    """For a GGUF file, the llama.cpp tool whose tensor order it has: "quantize" (made from another
    GGUF) or "convert" (made from a checkpoint); None when unknown."""
    metadata_digest: str | None = None
    """For a GGUF file, a digest of the metadata llama.cpp's quantize tool copies from the file it
    reads (`ingest.weights.gguf_metadata_digest`); None when unknown."""
    existed_by: str | None = None
    """For an undated model, the earliest date of a byte-identical duplicate: its weights existed by
    then, which bounds when it was made from above but does not say it was released that day."""

    def __post_init__(self) -> None:
        clean = {}
        for name, value in self.vectors.items():
            if value is None:
                continue
            if name not in NAMES:
                raise InputError(f"model {self.id!r}: unknown channel {name!r} (one of {', '.join(NAMES)})")
            v = np.asarray(value, dtype=np.float64)
            if v.ndim != 1 or v.size == 0:
                raise InputError(f"model {self.id!r}: {name} must be a non-empty vector, got shape {v.shape}")
            if not np.all(np.isfinite(v)):
                raise InputError(f"model {self.id!r}: {name} has NaN or infinite values; re-extract it")
            clean[name] = v
        self.vectors = clean
        if any(c.structural and c.name in clean for c in REGISTRY) and not self.signature:
            raise InputError(f"model {self.id!r}: a weight sketch needs its architecture signature")

    def vector(self, channel: str) -> np.ndarray | None:
        return self.vectors.get(channel)

    @property
    def text(self) -> np.ndarray | None:
        return self.vectors.get("text")

    @classmethod
    def from_record(
        cls, record: ModelRecord, declared: Iterable[DeclaredEdge | tuple[str, str]] = ()
    ) -> ModelEvidence:
        """Evidence of a stored model; `declared` may hold every declared edge (others are ignored)."""
        parents: list[tuple[str, str]] = []
        for edge in declared:
            if isinstance(edge, DeclaredEdge):
                if edge.child == record.id:
                    parents.append((edge.parent, edge.relation))
            else:
                parents.append((str(edge[0]), str(edge[1])))
        vectors = {"text": record.dna, **record.channels}
        return cls(id=record.id, vectors={k: v for k, v in vectors.items() if v is not None and len(v)},
                   signature=record.signature, precision=record.precision, released=record.released,
                   declared_parents=parents, fmt=FORMATS.get(record.backend or ""), made_by=record.made_by,
                   metadata_digest=record.metadata_digest)


def without(evs: Sequence[ModelEvidence], channels: Iterable[str]) -> list[ModelEvidence]:
    """Copies of `evs` that do not carry the named channels (ablations, `--no-channel`)."""
    dropped = set(channels)
    return [replace(e, vectors={k: v for k, v in e.vectors.items() if k not in dropped},
                    declared_parents=list(e.declared_parents)) for e in evs]


def comparable_groups(evs: Sequence[ModelEvidence], channel: str) -> list[list[int]]:
    """Indices of models whose vectors on `channel` compare (one key of the channel per group)."""
    chan = next(c for c in REGISTRY if c.name == channel)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, e in enumerate(evs):
        v = e.vectors.get(channel)
        if v is not None:
            groups.setdefault(chan.comparable_key(e.signature, v.size), []).append(i)
    if len(groups) > 1 and not chan.structural:
        sizes = sorted({evs[g[0]].vectors[channel].size for g in groups.values()})
        raise InputError(f"{channel} vectors of different lengths {sizes}: mixed protocols")
    return list(groups.values())


def channel_distances(evs: Sequence[ModelEvidence], only: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Per channel (of `only`, default all) an (n × n) distance matrix; NaN where the channel does not
    compare both models.

    Cost O(n²·L) time and O(n²) memory per channel: call it per family, not over a whole large KB.
    """
    n = len(evs)
    out = {}
    for chan in REGISTRY if only is None else [c for c in REGISTRY if c.name in set(only)]:
        d = np.full((n, n), np.nan)
        for rows in comparable_groups(evs, chan.name):
            idx = np.asarray(rows)
            d[np.ix_(idx, idx)] = chan.distances(np.stack([evs[i].vectors[chan.name] for i in rows]))
        out[chan.name] = d
    return out


def pair_distances(a: ModelEvidence, b: ModelEvidence) -> dict[str, float]:
    """Distance on every channel that compares both models (missing keys: not comparable)."""
    found = channel_distances([a, b])
    return {name: float(d[0, 1]) for name, d in found.items() if not np.isnan(d[0, 1])}
