"""The shape every evidence channel has, and what a channel's producer may ask of a model.

A channel is one kind of evidence about a model, made the same way for every model of a protocol so
that two models' vectors compare. Each channel module declares, in one place:

- its name (used everywhere: CLI flags, edge `channel`, ablations), a label for people, and the Model
  node property that stores its vector (`record_field`);
- its protocol descriptor (how it was made: which texts, which seed, which width), written into the
  protocol so that vectors made differently never compare;
- its producer (`produce`), written against `ModelAccess`, the small interface ingest implements over
  a loaded model (generate, score, embed, read weights) — so the producer runs in kb without kb
  importing a backend;
- its artifact files (`save` / `load`), so a re-run reuses what was made;
- its distance (`distances`, over one comparable group of models) and its "unrelated" scale;
- what it can decide: `relatedness` (are two models kin), `relation` (finetune, adapter, quantized...),
  `direction` (which one came first).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from kb.errors import InputError

if TYPE_CHECKING:
    from kb.artifacts import Artifact
    from kb.protocol import DnaProtocol

DECISIONS = ("relatedness", "relation", "direction")
UNVERIFIED = "unverified:"
"""Signature prefix of a weight sketch whose canonical layout is not verified across file formats:
its names may be its format's own, so it compares only with sketches of that format (equal
signatures), and a different signature does not say the architectures differ."""

Say = Callable[[str], None]


# -- what a producer may ask of a model -----------------------------------------------------------
@dataclass
class TensorEntry:
    """One canonical weight tensor (GGUF name; `shape` in HF's row-major, nn.Linear orientation),
    read from the stored tensor `source` (shape `stored`, default `shape`): its rows `index` (None:
    all, in order), after transposing it when `transpose` (a Conv1D stored in x out)."""

    name: str
    source: str
    shape: tuple[int, ...]
    dtype: str
    stored: tuple[int, ...] | None = None
    index: np.ndarray | None = field(default=None, repr=False)
    transpose: bool = False

    @property
    def stored_shape(self) -> tuple[int, ...]:
        return self.stored or self.shape


class WeightReader(Protocol):
    """A model's weights, tensor by tensor, under canonical names (ingest/weights.py reads files)."""

    kind: str
    arch: str | None
    entries: list[TensorEntry]
    skipped: list[tuple[str, str]]
    notes: list[str]
    precision: str
    mapping: str
    """"verified" where this architecture's canonical layout is tested to agree across file formats."""
    made_by: str | None
    """For a GGUF file, the llama.cpp tool it was written by as far as its tensor order tells
    ("quantize": made from another GGUF; "convert": made from a checkpoint); None otherwise."""
    metadata_digest: str | None
    """For a GGUF file, a digest of its metadata but for what the quantize tool rewrites: a file
    quantized from another GGUF carries that file's digest; None otherwise."""

    def rows(self, entry: TensorEntry, r0: int, r1: int) -> np.ndarray:
        """Rows r0:r1 of the entry's STORED tensor's first axis as float32 (rows x its last dim)."""

    def check_readable(self, entries: list[TensorEntry]) -> None:
        """Raise InputError now if some tensor cannot be decoded (an unsupported quant type)."""

    def close(self) -> None: ...


class ModelAccess(Protocol):
    """What a producer may ask of one model; ingest implements it over a backend and the files."""

    def generate(self, prompts: Sequence[str], max_new_tokens: int, *, chat: bool, progress: Say) -> list[str]:
        """Greedy responses (see ingest/backends/base.py for the shared contract)."""

    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of token log-probs given BOS, UTF-8 bytes) per text; InputError if no logits."""

    def embed(self, texts: Sequence[str], embedder: str, dim: int) -> tuple[np.ndarray, int]:
        """(unit-row embeddings, count of empty texts) by the embedder whose id is `embedder`."""

    def weights(self) -> WeightReader:
        """The model's weights; InputError when there are none to read (an API model)."""

    def describe(self) -> dict[str, Any]:
        """Backend, device, dtype... for the artifact's meta."""


# -- what a producer returns ----------------------------------------------------------------------
@dataclass
class Produced:
    """One channel's output for one model. `vector` None means skipped, and `skipped` says why."""

    vector: np.ndarray | None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    """Model fields this channel establishes (the weights channel: signature, precision)."""
    skipped: str | None = None
    reused: bool = False

    @property
    def seconds(self) -> float:
        return float(self.detail.get("seconds", 0.0))


# -- the channel ----------------------------------------------------------------------------------
class Channel(ABC):
    """One evidence channel. Subclasses set the class attributes and implement the four methods."""

    name: ClassVar[str]
    label: ClassVar[str]
    optional: ClassVar[bool] = True
    """False only for the text channel: every protocol has it, and its settings are the protocol's."""
    record_field: ClassVar[str]
    decides: ClassVar[frozenset[str]]
    structural: ClassVar[bool] = False
    """Compares weights: only models of one architecture signature are comparable, and closeness means
    shared training history (independent initialisations sit at a fixed distance)."""
    linear: ClassVar[bool] = False
    """Vectors are linear in the weights, so a weight average (a merge) lies on the segment between
    its parents in this channel too."""
    related_below: ClassVar[float] = 0.5
    """Cost (distance / unrelated scale) under which this channel alone says two models are kin."""
    independent_above: ClassVar[float | None] = None
    """Cost above which a structural channel says two models share no initialisation (not kin):
    then behaviour cannot make them relatives, whatever data they shared."""
    fixed_unrelated: ClassVar[float | None] = None
    """The distance of unrelated models when the channel's geometry fixes it (else measured)."""

    # -- protocol ----------------------------------------------------------------------------
    @abstractmethod
    def descriptor(self, seed: int, **options: Any) -> str:
        """The protocol descriptor of this channel made with `seed` (and channel options)."""

    @abstractmethod
    def parse(self, descriptor: str) -> Any:
        """The validated settings a descriptor names (InputError when malformed)."""

    # -- producer ----------------------------------------------------------------------------
    @abstractmethod
    def produce(self, model: ModelAccess, protocol: DnaProtocol, say: Say) -> Produced:
        """This channel's vector for one model (InputError: the channel cannot be made for it)."""

    def save(self, artifact: Artifact, protocol: DnaProtocol, produced: Produced) -> None:
        """Write `<name>.npy`, extra arrays, then `<name>.json` last: its presence marks the channel
        done (or, with `skipped_reason`, done without a vector, so a re-run does not retry). The old
        json goes first, so a crash midway leaves the channel not done rather than mixed."""
        self.invalidate(artifact)
        for key, array in produced.arrays.items():
            artifact.save_array(key, array)
        if produced.vector is not None:
            artifact.save_array(self.artifact_name, produced.vector)
        detail = dict(produced.detail, record=produced.record)
        if produced.skipped:
            detail["skipped_reason"] = produced.skipped
        artifact.save_json(self.artifact_name, detail)

    def refresh(self, artifact: Artifact, found: Produced, model: ModelAccess) -> Produced:
        """A reused result with the facts about the model its artifact predates (cheap to read again,
        unlike the vector), written back to the artifact. Default: as found."""
        return found

    def invalidate(self, artifact: Artifact) -> None:
        """Forget this channel's finished state before redoing it (its json goes first)."""
        (artifact.directory / f"{self.artifact_name}.json").unlink(missing_ok=True)

    def load(self, artifact: Artifact) -> Produced | None:
        """What an earlier run saved, or None when the channel is not done in this artifact."""
        detail = artifact.load_json(self.artifact_name)
        if detail is None:
            return None
        vector = artifact.load_array(self.artifact_name)
        skipped = detail.get("skipped_reason")
        if vector is None and not skipped:
            return None
        record = dict(detail.get("record") or {})
        for key in ("signature", "precision"):  # artifacts written before `record` existed
            if key in detail and key not in record and self.structural:
                record[key] = detail[key]
        return Produced(vector, detail=detail, record=record, skipped=skipped, reused=True)

    @property
    def artifact_name(self) -> str:
        """Base name of this channel's files in an artifact."""
        return self.record_field

    # -- distance ------------------------------------------------------------------------------
    def comparable_key(self, signature: str | None, size: int) -> tuple[str, int]:
        """Vectors compare only within one key: by default all vectors of one length."""
        return ("", size)

    def distances(self, x: np.ndarray) -> np.ndarray:
        """(n x n) distances between the rows of `x` (one comparable group). Default: Euclidean."""
        return euclidean_matrix(x)

    def euclidean(self, x: np.ndarray) -> np.ndarray | None:
        """Rows whose Euclidean distances stand in for `distances` (for nearest-neighbour search over
        more models than an n x n matrix holds), or None where no such map is known. Default: `x`."""
        return x

    def unrelated(self, distances: np.ndarray) -> float:
        """The typical distance between unrelated models, from a (sample) distance matrix: the
        divisor that puts channels on one cost scale where 1 means "unrelated". Default: the median
        pairwise distance (most pairs in a KB are unrelated). Not called when `fixed_unrelated` is set."""
        d = distances[np.triu_indices(distances.shape[0], 1)]
        d = d[np.isfinite(d) & (d > 0)]
        return float(np.median(d)) if d.size else 1.0

    def kin(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether two vectors show shared history beyond their distance (the weight sketch: a
        low-rank difference, which independent models never have). Structural channels only."""
        return False

    def relation_hint(self, child: np.ndarray, parent: np.ndarray) -> tuple[str, str] | None:
        """(relation, reason) when this channel's vectors alone show the kind of derivation (the
        weight sketch: a low-rank difference is an adapter), else None."""
        return None

    def adapter_evidence(self, child: np.ndarray, parent: np.ndarray) -> int:
        """How far these vectors alone show `child` to be `parent` plus a merged adapter: 0 not at all,
        1 some parts identical beside changed ones (inherited, never reproduced), 2 and the changed
        ones apart at low rank (the adapter's own update). Structural channels only."""
        return 0

    def growth(self, vectors: Sequence[np.ndarray]) -> np.ndarray:
        """[i, j]: how much further training has carried model j than model i (positive: j is the
        later one), for channels that decide direction; NaN where this channel cannot tell. All pairs
        at once: a hub family holds thousands of models."""
        return np.full((len(vectors), len(vectors)), np.nan)

    # -- bootstrap -------------------------------------------------------------------------------
    parts_array: ClassVar[str | None] = None
    """The artifact array holding the independent parts the stored vector was made from (one row per
    probe or reference text): a bootstrap replicate resamples them (`parts`, `from_parts`). None: the
    stored vector is all there is (`bootstrap_draw` then decides)."""

    def parts(self, array: np.ndarray, protocol: DnaProtocol) -> np.ndarray:
        """What replicates combine, computed once per model from its `parts_array`."""
        return np.asarray(array, dtype=np.float64)

    def from_parts(self, parts: np.ndarray, counts: np.ndarray, protocol: DnaProtocol) -> np.ndarray:
        """Vectors (n × dim) of n models over one resample of their parts (n × t × ...): `counts[i]` is
        how often part i was drawn; all-ones counts give the stored vectors."""
        raise NotImplementedError(f"channel {self.name} has no parts to resample")

    def bootstrap_draw(self, size: int, rng: np.random.Generator) -> np.ndarray | None:
        """Indices to resample a stored vector of `size` values by, one draw shared by every model of a
        replicate; None holds the channel fixed (its vector has no independent parts)."""
        return None

    def resample(self, vector: np.ndarray, draw: np.ndarray) -> np.ndarray:
        return vector[draw]


def euclidean_matrix(x: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances, ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b, symmetrised, zero diagonal."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d = np.sqrt(np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None))
    d = (d + d.T) / 2.0
    np.fill_diagonal(d, 0.0)
    return d


def parse_fields(text: str, names: Sequence[str], example: str) -> tuple[str, dict[str, int]]:
    """`head:key=int:key=int` descriptors: (head, {key: int}) with every name present."""
    try:
        head, *parts = text.split(":")
        values = dict(p.split("=", 1) for p in parts)
        return head, {name: int(values[name]) for name in names}
    except (ValueError, KeyError, AttributeError):
        raise InputError(f"channel descriptor {text!r}: expected like {example!r}") from None


def gaussian(seed: int, tag: str, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """float32 N(0, scale²) matrix drawn from (seed, tag): the same on every machine and run."""
    import hashlib

    key = int.from_bytes(hashlib.sha256(tag.encode()).digest()[:8], "little")  # hash() is salted
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), key]))
    out = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(scale)
    return out






__all__ = [
    "Channel", "DECISIONS", "ModelAccess", "Produced", "TensorEntry", "WeightReader",
    "euclidean_matrix", "gaussian", "parse_fields",
]
