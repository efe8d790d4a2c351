"""The interface between evidence channels and lineage inference.

Ingest produces, per model, up to three vectors; inference only ever sees them through this module:

- ``text_dna`` — the paper's black-box DNA (Wu et al. 2025), Euclidean distance.
- ``loglik`` — the log-likelihood profile (Oyama et al., ACL 2025), Euclidean distance (its square
  approximates the KL divergence between the two models).
- ``sketch`` — a seeded linear sketch of the weights, comparable only between models with the same
  architecture ``signature``. Distance is scale-free: the RMS over weight matrices of
  ``‖B_a − B_b‖ / √(‖B_a‖·‖B_b‖)`` per matrix block B (`_weight_matrix`); two unrelated models sit at
  about √2, a fine-tune at a small fraction of that.

Sketch layout (the contract with the producer, checked by `sketch_blocks`): the sketch vector is a
concatenation of ``SKETCH_BLOCK × SKETCH_BLOCK`` blocks, one per 2-D weight matrix in canonical tensor
order (sorted canonical names), each block the two-sided Gaussian sketch ``G_l W G_rᵀ`` of one matrix,
flattened row-major. Being linear on both sides, ``S_a − S_b = G_l (W_a − W_b) G_rᵀ``, so the rank of a
weight difference (up to k) survives sketching: an adapter (LoRA, rank r < k) leaves a low-rank block
difference, a full fine-tune a full-rank one (`difference_rank_profile`). The LAST block folds all
1-D tensors (norms, biases) into k² values (`kb.evidence_math.VECTOR_BLOCK`, ingest/weights.py); it
counts for distances but has no rank meaning, so the rank profile leaves it out. Every block is
complete: the length is a multiple of k².
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.errors import InputError
from kb.records import DeclaredEdge, ModelRecord

SKETCH_BLOCK = 16
"""k: each weight matrix contributes one k×k block (k² floats) to the sketch vector."""

CHANNELS = ("weights", "loglik", "text")
"""Evidence channels, strongest first (the order in which an edge prefers them)."""

UNRELATED_WEIGHT_DISTANCE = float(np.sqrt(2.0))
"""Normalised weight distance of two independent models of equal weight norm: ‖a−b‖² = ‖a‖²+‖b‖²."""

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


def precision_rank(precision: str | None) -> int | None:
    """Rank of a precision name (case-insensitive); None when unknown or missing."""
    if not precision:
        return None
    return PRECISION_RANK.get(precision.strip().lower())


@dataclass
class ModelEvidence:
    """Everything inference knows about one model; channels a model lacks are None."""

    id: str
    text_dna: np.ndarray | None = None
    loglik: np.ndarray | None = None
    sketch: np.ndarray | None = None
    signature: str | None = None
    precision: str | None = None
    released: str | None = None
    declared_parents: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("text_dna", "loglik", "sketch"):
            value = getattr(self, name)
            if value is None:
                continue
            v = np.asarray(value, dtype=np.float64)
            if v.ndim != 1 or v.size == 0:
                raise InputError(f"model {self.id!r}: {name} must be a non-empty vector, got shape {v.shape}")
            if not np.all(np.isfinite(v)):
                raise InputError(f"model {self.id!r}: {name} has NaN or infinite values; re-extract it")
            setattr(self, name, v)
        if self.sketch is not None and not self.signature:
            raise InputError(f"model {self.id!r}: a weight sketch needs its architecture signature")

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
        def vector(value: object) -> np.ndarray | None:
            return None if value is None or len(value) == 0 else np.asarray(value)  # type: ignore[arg-type]

        return cls(
            id=record.id,
            text_dna=vector(record.dna),
            loglik=vector(record.loglik),
            sketch=vector(record.sketch),
            signature=record.signature,
            precision=record.precision,
            released=record.released,
            declared_parents=parents,
        )


# -- distances ------------------------------------------------------------------------------------
def _euclidean_matrix(x: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)  # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b
    d = np.sqrt(np.clip(d2, 0.0, None))
    d = (d + d.T) / 2.0
    np.fill_diagonal(d, 0.0)
    return d


def _relative_matrix(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1)
    scale = np.sqrt(np.outer(norms, norms))  # √(‖s_a‖·‖s_b‖)
    d = _euclidean_matrix(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, d / scale, np.where(d > 0, UNRELATED_WEIGHT_DISTANCE, 0.0))
    np.fill_diagonal(rel, 0.0)
    return rel


def _weight_matrix(x: np.ndarray, block: int = SKETCH_BLOCK) -> np.ndarray:
    """RMS over weight matrices of the per-matrix relative distance ‖B_a − B_b‖/√(‖B_a‖‖B_b‖).

    Every matrix counts alike and the trailing 1-D-tensor block is left out: on the zoo that block
    (norm weights ≈ 1, shifting alike in every fine-tune) dominated the whole-vector distance and
    made two sibling fine-tunes look closer to each other than to their parent. Sketches that are
    not whole blocks fall back to the whole-vector relative distance.
    """
    size = block * block
    if x.shape[1] % size or x.shape[1] // size < 2:
        return _relative_matrix(x)
    blocks = x.reshape(x.shape[0], -1, size)[:, :-1, :]  # matrix blocks; the last folds 1-D tensors
    total = np.zeros((x.shape[0], x.shape[0]))
    for j in range(blocks.shape[1]):
        total += _relative_matrix(blocks[:, j, :]) ** 2
    return np.sqrt(total / blocks.shape[1])


def _fill(out: np.ndarray, rows: list[int], block: np.ndarray) -> None:
    idx = np.asarray(rows)
    out[np.ix_(idx, idx)] = block


def channel_distances(evs: Sequence[ModelEvidence]) -> dict[str, np.ndarray]:
    """Per channel an (n × n) distance matrix; NaN where the channel does not apply to both models.

    Vectors of one channel must share a length (the protocol guarantees it); sketches are compared
    only within a signature group. Cost O(n²·(L + s)) time, O(n²) memory per channel: call it per
    family, not over a whole large KB.
    """
    n = len(evs)
    out = {name: np.full((n, n), np.nan) for name in CHANNELS}
    for name, attr in (("text", "text_dna"), ("loglik", "loglik")):
        rows = [i for i, e in enumerate(evs) if getattr(e, attr) is not None]
        if not rows:
            continue
        lengths = {getattr(evs[i], attr).size for i in rows}
        if len(lengths) > 1:
            raise InputError(f"{name} vectors of different lengths {sorted(lengths)}: mixed protocols")
        _fill(out[name], rows, _euclidean_matrix(np.stack([getattr(evs[i], attr) for i in rows])))
    for rows in sketch_groups(evs):
        _fill(out["weights"], rows, _weight_matrix(np.stack([evs[i].sketch for i in rows])))
    for d in out.values():
        d[np.arange(n), np.arange(n)] = np.where(np.isnan(np.diag(d)), np.nan, 0.0)
    return out


def sketch_groups(evs: Sequence[ModelEvidence]) -> list[list[int]]:
    """Indices of models whose sketches are comparable: same architecture signature and size."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, e in enumerate(evs):
        if e.sketch is not None:
            groups.setdefault((e.signature or "", e.sketch.size), []).append(i)
    return list(groups.values())


def pair_distances(a: ModelEvidence, b: ModelEvidence) -> dict[str, float]:
    """Distance on every channel that applies to both models (missing keys: channel not shared)."""
    found = channel_distances([a, b])
    return {name: float(d[0, 1]) for name, d in found.items() if not np.isnan(d[0, 1])}


# -- sketch structure ------------------------------------------------------------------------------
def sketch_blocks(sketch: np.ndarray, block: int = SKETCH_BLOCK) -> np.ndarray:
    """View a sketch vector as its (m × k × k) per-matrix blocks; InputError if the length is off."""
    s = np.asarray(sketch, dtype=np.float64)
    size = block * block
    if s.ndim != 1 or s.size == 0 or s.size % size:
        raise InputError(
            f"sketch of length {s.size} is not a whole number of {block}×{block} blocks "
            f"(SKETCH_BLOCK={block}): re-sketch with the layout in kb/lineage/evidence.py"
        )
    return s.reshape(-1, block, block)


def effective_rank(singular_values: np.ndarray, energy: float = 0.99) -> np.ndarray:
    """Smallest r with Σ_{i≤r} σ_i² ≥ energy · Σ σ_i², along the last axis (σ sorted descending)."""
    s2 = np.asarray(singular_values, dtype=np.float64) ** 2
    total = s2.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = np.cumsum(s2, axis=-1) / total
    return (cum < energy - 1e-12).sum(axis=-1) + 1.0


def difference_rank_profile(
    a: np.ndarray, b: np.ndarray, block: int = SKETCH_BLOCK, *, energy: float = 0.99,
    rel_tol: float = 1e-6, vector_block: bool = True,
) -> np.ndarray:
    """Per-block effective rank of S_a − S_b (float array, one value per block; the trailing
    1-D-tensor block, when `vector_block`, is NaN).

    NaN marks a block where the two models do not differ (‖ΔS‖_F ≤ rel_tol·max(‖S_a‖_F, ‖S_b‖_F)),
    e.g. matrices an adapter did not touch. An adapter of rank r < k gives ranks ≤ r in the blocks it
    touched; a full fine-tune or re-training gives ranks near k. Cost: one k×k SVD per block.
    """
    sa, sb = sketch_blocks(a, block), sketch_blocks(b, block)
    if sa.shape != sb.shape:
        raise InputError(f"sketches of {sa.shape[0]} and {sb.shape[0]} blocks: signatures differ")
    diff = sa - sb
    sigma = np.linalg.svd(diff, compute_uv=False)  # batched over blocks
    norm = np.linalg.norm(diff, axis=(1, 2))
    ref = np.maximum(np.linalg.norm(sa, axis=(1, 2)), np.linalg.norm(sb, axis=(1, 2)))
    ranks = np.where(norm > rel_tol * np.maximum(ref, 1e-300), effective_rank(sigma, energy), np.nan)
    if vector_block:
        ranks[-1] = np.nan
    return ranks


def is_low_rank_difference(profile: np.ndarray, block: int = SKETCH_BLOCK, *, fraction: float = 0.5) -> bool:
    """An adapter's signature: the median rank over changed blocks is at most `fraction` of k."""
    changed = profile[~np.isnan(profile)]
    return bool(changed.size) and float(np.median(changed)) <= fraction * block
