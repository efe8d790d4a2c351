"""Records that cross the boundary between the stores, inference, ingest and the CLI.

Plain data classes: the stores map them to node and edge properties of the schema in DESIGN.md,
everything else builds or reads them. Edges point child -> parent.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kb.errors import InputError

RELATIONS = ("finetune", "adapter", "quantized", "merge", "distill")
"""Hugging Face's relation vocabulary, plus `distill`, which inference can tell apart."""

MODEL_STATUSES = ("ok", "failed", "metadata", "duplicate", "pending")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PARAMS = 2**63 - 1
"""The largest parameter count a store keeps (a signed 64-bit integer)."""


def normalise_date(value: Any) -> str | None:
    """ISO date string (YYYY-MM-DD) from a date, a datetime, or a string holding one of them (a date
    that does not exist, or text after it, is refused); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return _dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return _dt.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise InputError(f"unparseable date {value!r}: expected a real date as YYYY-MM-DD") from None


def check_id(value: Any, what: str = "model id") -> str:
    """A non-empty id string without control characters (a newline would break every table)."""
    if not isinstance(value, str):
        kind = "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
        raise InputError(f"{what} {value!r} is {kind}, not text: write it in quotes")
    if not value.strip():
        raise InputError(f"a {what} must not be empty")
    if _CONTROL.search(value):
        raise InputError(f"{what} {value!r} holds a control character (newline, tab, ...)")
    return value


def check_params(value: Any, model_id: str) -> int | None:
    """A parameter count: a whole number from 0 to 2^63 - 1 (the stores keep 64-bit integers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"model {model_id!r}: params={value!r} is not a number")
    try:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, float):
            if not number == number or number in (float("inf"), float("-inf")) or number != int(number):
                raise ValueError
            number = int(number)
        number = int(number)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"model {model_id!r}: params={value!r} is not a whole number") from None
    if not 0 <= number <= MAX_PARAMS:
        raise InputError(f"model {model_id!r}: params={value!r} is out of range (0 to 2^63 - 1)")
    return number


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
    """One model: metadata, and optionally its text DNA and other channels' vectors under one protocol.

    `channels` maps a channel name (kb/channels/) other than "text" to its vector; `signature`,
    `precision`, `made_by` and `metadata_digest` describe the weights (architecture signature, number
    format, and for a GGUF file the llama.cpp tool its tensor order says wrote it, "quantize" or
    "convert", and a digest of the metadata the quantize tool copies from the file it reads). Vectors
    are float32 numpy arrays: the stores keep them as 32-bit floats, so they round-trip exactly.
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
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    signature: str | None = None
    precision: str | None = None
    made_by: str | None = None
    metadata_digest: str | None = None

    def __post_init__(self) -> None:
        check_id(self.id)
        if self.name is None:
            self.name = self.id.rsplit("/", 1)[-1]
        self.released = normalise_date(self.released)
        if self.dna is not None and self.protocol is None:
            raise InputError(f"model {self.id!r}: a DNA needs its protocol id")
        self.dna = as_vector(self.dna, "DNA", self.id)
        if not isinstance(self.channels, dict):
            raise InputError(f"model {self.id!r}: channels must map a channel name to a vector")
        self.channels = {name: vector for name, value in self.channels.items()
                         if (vector := as_vector(value, f"channel {name!r}", self.id)) is not None}
        self.params = check_params(self.params, self.id)
        if self.status is not None and self.status not in MODEL_STATUSES:
            raise InputError(f"model {self.id!r}: unknown status {self.status!r}")

    def vector(self, channel: str) -> np.ndarray | None:
        """This model's vector on `channel` ("text" is the DNA)."""
        return self.dna if channel == "text" else self.channels.get(channel)

    def as_row(self) -> dict[str, Any]:
        """JSON-ready dict (vectors as lists)."""
        row = asdict(self)
        row["dna"] = None if self.dna is None else self.dna.tolist()
        row["channels"] = {name: vector.tolist() for name, vector in self.channels.items()}
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
        check_id(self.child)
        check_id(self.parent)
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
    direction: str | None = None
    """What says the parent came first: "date", "copy" (the file is a conversion of the parent's),
    "merge", "growth" (the child's weights grew from the parent's), or "uncertain" (only the choice
    of the family's root does)."""


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
