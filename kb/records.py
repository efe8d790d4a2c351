"""Records that cross the boundary between the stores, inference, ingest and the CLI.

Plain data classes: the stores map them to node and edge properties of the schema in DESIGN.md,
everything else builds or reads them. Edges point child -> parent.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kb.errors import InputError

RELATIONS = ("finetune", "adapter", "quantized", "merge", "distill")
"""Hugging Face's relation vocabulary, plus `distill`, which inference can tell apart."""

MODEL_STATUSES = ("ok", "failed", "metadata", "duplicate", "pending")


def normalise_date(value: Any) -> str | None:
    """ISO date string (YYYY-MM-DD) from a date, datetime or string; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return _dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise InputError(f"unparseable date {value!r}: expected YYYY-MM-DD") from None


def as_vector(value: Any, what: str, model_id: str) -> np.ndarray | None:
    """A float32 vector, or None; non-finite values are refused."""
    if value is None:
        return None
    vector = np.asarray(value, dtype=np.float32).reshape(-1)
    if not np.isfinite(vector).all():
        raise InputError(f"model {model_id!r}: {what} has non-finite values")
    return vector


@dataclass(eq=False)
class ModelRecord:
    """One model: metadata, and optionally its text DNA under one protocol.

    Vectors (dna, loglik, sketch) are float32 numpy arrays: the stores keep them as 32-bit
    floats, so a float32 DNA round-trips exactly.
    """

    id: str
    name: str | None = None
    dna: np.ndarray | None = None
    protocol: str | None = None
    fingerprint: str | None = None
    backend: str | None = None
    architecture: str | None = None
    params: int | None = None
    org: str | None = None
    license: str | None = None
    released: str | None = None
    library: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    error: str | None = None
    # evidence channels beside the text DNA (see kb/lineage/evidence.py)
    loglik: np.ndarray | None = None
    sketch: np.ndarray | None = None
    signature: str | None = None
    precision: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise InputError("a model needs a non-empty string id")
        if self.name is None:
            self.name = self.id.rsplit("/", 1)[-1]
        self.released = normalise_date(self.released)
        if self.dna is not None and self.protocol is None:
            raise InputError(f"model {self.id!r}: a DNA needs its protocol id")
        self.dna = as_vector(self.dna, "DNA", self.id)
        self.loglik = as_vector(self.loglik, "log-likelihood profile", self.id)
        self.sketch = as_vector(self.sketch, "weight sketch", self.id)
        if self.params is not None:
            self.params = int(self.params)
        if self.status is not None and self.status not in MODEL_STATUSES:
            raise InputError(f"model {self.id!r}: unknown status {self.status!r}")

    def as_row(self) -> dict[str, Any]:
        """JSON-ready dict (vectors as lists)."""
        row = asdict(self)
        for name in ("dna", "loglik", "sketch"):
            if row[name] is not None:
                row[name] = row[name].tolist()
        return row


@dataclass(frozen=True)
class DeclaredEdge:
    """A documented parent: a model card, a manifest, a Hub tag."""

    child: str
    parent: str
    relation: str = "finetune"
    source: str = "manifest"

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise InputError(
                f"edge {self.child} -> {self.parent}: unknown relation {self.relation!r} "
                f"(one of {', '.join(RELATIONS)})"
            )
        if self.child == self.parent:
            raise InputError(f"model {self.child!r} cannot be its own parent")


@dataclass(frozen=True)
class InferredEdge:
    """A parent inferred from evidence, with how sure we are and what decided it."""

    child: str
    parent: str
    distance: float
    support: float | None = None
    method: str = "arborescence"
    relation: str | None = None
    channel: str | None = None
    provisional: bool = False
    flag: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Family:
    id: str
    size: int
    root: str | None = None
    newick: str | None = None


@dataclass(frozen=True)
class Membership:
    model: str
    family: str
    probability: float


@dataclass(frozen=True)
class StoreStats:
    store: str
    location: str
    models: int
    models_with_dna: int
    declared_edges: int
    inferred_edges: int
    duplicate_edges: int
    families: int
    protocols: dict[str, int]
    lineage_index: str = "stale"
    """"current" when the stored descendant counts reflect every parent edge, else "stale"."""
