"""The weight channel: a seeded two-sided sketch of every weight matrix (after MoTHer, Horwitz et al.).

Why: weights remember training history that behaviour forgets. A fine-tune, an adapter or a merge stays
close to its parent in weight space whatever topic it was trained on, while two independent
initialisations sit at a fixed distance however alike they behave.

Sketch: for each weight matrix W (rows x cols, canonical GGUF name n) one k x k block

    B(n) = S_L(n) @ W @ S_R(n) / sqrt(rows * cols)       # S_L: k x rows, S_R: cols x k, N(0, 1/k)

with S_L, S_R drawn from (seed, n). Since E||S_L X S_R||_F^2 = ||X||_F^2, E||B_a - B_b||^2 is the mean
squared weight difference of that matrix (every matrix weighs alike, whatever its size), and the sketch
is linear on both sides, so the rank of a weight difference survives it (a merged LoRA of rank r < k
leaves a rank-r block difference) and a weight average lies between its parents.

Layout (the one contract between producer and readers): the vector is a concatenation of k x k blocks,
one per matrix (tensors of rank >= 2, higher ranks flattened to rows x last dim, norms never), in
canonical order (`canonical_order_key`: global tensors, layer by layer, then the output head), every
block a matrix. A reader gives each canonical matrix as rows of a stored tensor (`TensorEntry`), which
is how fused QKV, transposed Conv1D and permuted rope rows of every file format land on one layout.
1-D tensors (norms, biases) are not sketched: norm weights sit near 1 in every model, so they would
pull unrelated models together (on the zoo they inflated fine-tune distances by ~50%) while carrying
little lineage signal; they still enter the architecture signature. A tied output head is made
explicit as output = token_embd by the reader, so tied checkpoints and GGUFs that store the copy agree.
With k = 16 a block is 1 KiB; a budget of `max_kib` holds max_kib blocks; models with more matrices keep
the global ones and all matrices of evenly spaced layers (`select_blocks`), chosen from names alone so
models of one signature sketch the same blocks.

Distance: RMS over blocks of ‖B_a − B_b‖ / √(‖B_a‖·‖B_b‖); two independent models of equal weight
norm sit at √2 (‖a−b‖² = ‖a‖² + ‖b‖²), a fine-tune at a small fraction of that. Comparable only
within one architecture signature (canonical names and shapes).
Cost: 2·k·rows·cols flops per matrix (a 7B model: ~0.5 TFLOP, minutes on a CPU), one streamed read of
the file; memory one row chunk plus S_L, S_R of one matrix.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kb.channels.base import UNVERIFIED, Channel, ModelAccess, Produced, Say, TensorEntry, WeightReader, gaussian, parse_fields
from kb.errors import InputError
from kb.progress import step

if TYPE_CHECKING:
    from kb.artifacts import Artifact

FILE_FACTS = ("made_by", "metadata_digest")
"""Facts the weight reader records about a file beside its sketch (`WeightReader`), read again cheaply."""
VERSION = "v1"
SKETCH_K = 16
DEFAULT_MAX_KIB = 64
CHUNK_ELEMS = 1 << 22
UNRELATED = math.sqrt(2.0)
"""Normalised distance of two independent models of equal weight norm."""


class WeightsChannel(Channel):
    name = "weights"
    label = "weight sketch"
    record_field = "sketch"
    decides = frozenset({"relatedness", "relation", "direction"})
    structural = True
    linear = True
    related_below: ClassVar[float] = 0.5
    # the distance of independent matrices concentrates at √2 (1 on the cost scale: the random zoos'
    # independent same-shape pairs measure 0.97), while training keeps most of its start (any two
    # members of one family there: ≤ 0.63)
    independent_above: ClassVar[float | None] = 0.85
    fixed_unrelated: ClassVar[float | None] = math.sqrt(2.0)  # ‖a−b‖² = ‖a‖² + ‖b‖² for independent a, b

    def descriptor(self, seed: int, *, k: int = SKETCH_K, max_kib: int = DEFAULT_MAX_KIB, **_: Any) -> str:
        return f"{VERSION}:k={k}:seed={seed}:max_kib={max_kib}"

    def parse(self, descriptor: str) -> dict[str, int]:
        version, spec = parse_fields(descriptor, ("k", "seed", "max_kib"), self.descriptor(0))
        if version != VERSION:
            raise InputError(f"weight-sketch descriptor {descriptor!r}: version {version!r} unknown "
                             f"(this code writes {VERSION})")
        if spec["k"] < 1 or (spec["max_kib"] * 1024) // (4 * spec["k"] ** 2) < 1:
            raise InputError(f"weight-sketch descriptor {descriptor!r}: max_kib holds no k x k block")
        return spec

    def produce(self, model: ModelAccess, protocol: Any, say: Say) -> Produced:
        spec = self.parse(protocol.channel(self.name))
        reader = model.weights()
        try:
            signature, tensors = signature_of(reader.entries, reader.mapping)
            record = {"signature": signature, "precision": reader.precision,
                      **{key: getattr(reader, key) for key in FILE_FACTS}}
            base = {"descriptor": protocol.channel(self.name), "source": reader.kind, "arch": reader.arch,
                    "mapping": reader.mapping, "tensors": [[n, list(s)] for n, s in tensors],
                    "notes": list(reader.notes)}
            if not reader.entries:
                return Produced(None, detail=base, record=record,
                                skipped="no tensor has a canonical name; weight channel skipped")
            try:
                vector, blocks, rms, skipped = sketch_weights(reader, spec["seed"], spec["k"], spec["max_kib"], say)
            except InputError as error:
                return Produced(None, detail=base, record=record, skipped=str(error))
            detail = {**base, "blocks": blocks, "rms": [round(x, 8) for x in rms],
                      "skipped": [list(x) for x in list(reader.skipped) + skipped]}
            return Produced(vector, detail=detail, record=record)
        finally:
            reader.close()

    def refresh(self, artifact: Artifact, found: Produced, model: ModelAccess) -> Produced:
        # a sketch made before a file fact was recorded (made_by, metadata_digest) gets it from the
        # file's header, not by sketching again
        if found.vector is None or all(key in found.record for key in FILE_FACTS):
            return found
        reader = model.weights()
        try:
            record = {**found.record, **{key: getattr(reader, key) for key in FILE_FACTS}}
        finally:
            reader.close()
        artifact.save_json(self.artifact_name, dict(found.detail, record=record))
        return replace(found, record=record)

    def comparable_key(self, signature: str | None, size: int) -> tuple[str, int]:
        return (signature or "", size)

    def distances(self, x: np.ndarray) -> np.ndarray:
        return block_distances(x)

    def euclidean(self, x: np.ndarray) -> np.ndarray | None:
        # each matrix's block at unit norm, over √blocks: Euclidean distance is then the RMS over
        # blocks of the relative distance where norms agree (as between kin)
        x = np.asarray(x, dtype=np.float64)
        size = SKETCH_K * SKETCH_K
        if x.shape[1] % size:
            return None
        blocks = x.reshape(x.shape[0], -1, size)
        norms = np.linalg.norm(blocks, axis=2, keepdims=True)
        return (blocks / np.where(norms > 0, norms, 1.0)).reshape(x.shape[0], -1) / np.sqrt(blocks.shape[1])

    def kin(self, a: np.ndarray, b: np.ndarray) -> bool:
        # a merged LoRA of any strength differs from its parent by a low-rank matrix; two independent
        # initialisations differ at full rank however alike their training
        return is_low_rank_difference(difference_rank_profile(a, b))

    def relation_hint(self, child: np.ndarray, parent: np.ndarray) -> tuple[str, str] | None:
        # a full fine-tune's optimizer steps every matrix; one that left some bit-identical beside
        # changed ones trained with those frozen: parameter-efficient, an adapter at any rank (a
        # rank-16 or -32 LoRA is full-rank in a 16 x 16 sketch)
        same = _identical_blocks(child, parent)
        if same.any() and not same.all():
            return "adapter", (f"{same.sum()}/{same.size} matrices bit-identical, the others changed: "
                               "trained with those frozen")
        profile = difference_rank_profile(child, parent)
        changed = profile[~np.isnan(profile)]
        if not is_low_rank_difference(profile):
            return None
        return "adapter", (f"low-rank weight difference (median rank {np.median(changed):.0f} "
                           f"in {changed.size}/{profile.size} changed matrices)")

    def adapter_evidence(self, child: np.ndarray, parent: np.ndarray) -> int:
        # bit-identical matrices are inherited, never reproduced: a full fine-tune changes every one,
        # an adapter keeps the ones it does not target (and so does a sibling adapter of one base); a
        # low-rank rest is the adapter's own update, which a sibling's sum of two lacks. Low rank alone
        # is not enough: a tiny model's fine-tune and a sibling LoRA can differ at rank k/2. The
        # identity test comes first: it is cheap, and fails for almost every pair of a large family.
        same = _identical_blocks(child, parent)
        if not same.any() or same.all():
            return 0
        return 2 if is_low_rank_difference(difference_rank_profile(child, parent)) else 1

    def growth(self, vectors: Sequence[np.ndarray]) -> np.ndarray:
        # training adds updates nearly orthogonal to the weights, so ‖W‖ grows along every training
        # step (parameter norm growth, Merrill et al. 2021) unless weight decay outweighs it (the
        # default fine-tuning recipes, HF Trainer's and TRL's, use none); a copy keeps it up to
        # rounding and an average (a merge) shrinks it. The sketch keeps each matrix's norm.
        return weight_growth(vectors)

    def bootstrap_draw(self, size: int, rng: np.random.Generator) -> np.ndarray | None:
        n_blocks = size // (SKETCH_K * SKETCH_K)
        if n_blocks < 2 or size % (SKETCH_K * SKETCH_K):
            return None
        return rng.integers(0, n_blocks, n_blocks)

    def resample(self, vector: np.ndarray, draw: np.ndarray) -> np.ndarray:
        return vector.reshape(-1, SKETCH_K * SKETCH_K)[draw].ravel()


# -- canonical layout -----------------------------------------------------------------------------
def layer_of(name: str) -> int | None:
    """Layer index of a canonical tensor name (`blk.<i>.` prefix), None outside the layers."""
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "blk" and parts[1].isdigit():
        return int(parts[1])
    return None


def canonical_order_key(name: str) -> tuple[int, int, str]:
    """Embeddings and other global tensors first, then layer by layer, then the output head."""
    layer = layer_of(name)
    if layer is not None:
        return (1, layer, name)
    if name.startswith("output"):
        return (2, 0, name)
    return (0, 0, name)


def signature_of(entries: Sequence[TensorEntry], mapping: str = "verified") -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    """Short hash of the canonical (name, shape) list: equal iff the architectures match tensor for
    tensor (precision and tensor order in the file do not matter); `UNVERIFIED` in front unless the
    mapping is verified."""
    items = sorted(((e.name, tuple(e.shape)) for e in entries), key=lambda x: canonical_order_key(x[0]))
    text = json.dumps([[n, list(s)] for n, s in items], separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return (digest if mapping == "verified" else UNVERIFIED + digest), items


def select_blocks(matrix_names: Sequence[str], max_blocks: int) -> list[str]:
    """Which matrices get a block when there are more than `max_blocks`: every matrix outside the
    transformer layers (embeddings, output), then ALL matrices of evenly spaced layers, so every
    chosen layer keeps its attention and MLP blocks (adapters touch some of them). Deterministic
    given the names, so models of one signature choose the same blocks.
    """
    names = list(matrix_names)
    if len(names) <= max_blocks:
        return names
    layered: dict[int, list[str]] = {}
    outside: list[str] = []
    for name in names:
        layer = layer_of(name)
        (outside if layer is None else layered.setdefault(layer, [])).append(name)
    chosen = outside[:max_blocks]
    room = max_blocks - len(chosen)
    per_layer = max((len(v) for v in layered.values()), default=1)
    n_layers = min(len(layered), room // per_layer)
    layers = sorted(layered)
    if n_layers > 0:
        picks = np.unique(np.round(np.linspace(0, len(layers) - 1, n_layers)).astype(int))
        for i in picks:
            chosen += layered[layers[i]]
    elif room > 0:  # a single layer has more matrices than room: first matrices of layer 0
        chosen += layered[layers[0]][:room]
    keep = set(chosen)
    return [n for n in names if n in keep]  # canonical order


# -- the sketch -----------------------------------------------------------------------------------
def sketch_left(seed: int, name: str, rows: int, k: int = SKETCH_K) -> np.ndarray:
    """S_L(name): k x rows, entries N(0, 1/k)."""
    return gaussian(seed, f"L:{name}", (k, rows), 1.0 / math.sqrt(k))


def sketch_right(seed: int, name: str, cols: int, k: int = SKETCH_K) -> np.ndarray:
    """S_R(name): cols x k, entries N(0, 1/k)."""
    return gaussian(seed, f"R:{name}", (cols, k), 1.0 / math.sqrt(k))


def sketch_matrix(w: np.ndarray, seed: int, name: str, k: int = SKETCH_K) -> np.ndarray:
    """The k x k block of one whole matrix (reference; `sketch_weights` streams row chunks).

    >>> sketch_matrix(np.eye(4, dtype=np.float32), 0, "x", k=2).shape
    (2, 2)
    """
    w = np.asarray(w, dtype=np.float32).reshape(-1, np.shape(w)[-1])
    rows, cols = w.shape
    block = sketch_left(seed, name, rows, k) @ (w @ sketch_right(seed, name, cols, k))
    return block / np.float32(math.sqrt(rows * cols))


def _row_chunks(shape: tuple[int, ...], chunk_elems: int) -> list[tuple[int, int]]:
    """Ranges over the first axis holding about `chunk_elems` values each (at least one slice)."""
    per_slice = int(np.prod(shape[1:]))
    step = max(1, chunk_elems // max(1, per_slice))
    return [(r0, min(shape[0], r0 + step)) for r0 in range(0, shape[0], step)]


def is_norm(name: str) -> bool:
    """Norm weights are never sketched, even stacked into a matrix (StableLM's per-head q/k norms)."""
    return "_norm." in name or name.startswith("norm.")


def sketch_weights(
    reader: WeightReader, seed: int, k: int = SKETCH_K, max_kib: int = DEFAULT_MAX_KIB,
    say: Say | None = None, chunk_elems: int = CHUNK_ELEMS,
) -> tuple[np.ndarray, list[str], list[float], list[tuple[str, str]]]:
    """(vector, sketched names, exact RMS per matrix, names over the block budget), streaming."""
    ordered = sorted(reader.entries, key=lambda e: canonical_order_key(e.name))
    matrices = [e for e in ordered if len(e.shape) >= 2 and not is_norm(e.name)]
    chosen = set(select_blocks([e.name for e in matrices], (max_kib * 1024) // (4 * k * k)))
    over = [(e.name, "over block budget") for e in matrices if e.name not in chosen]
    matrices = [e for e in matrices if e.name in chosen]
    reader.check_readable(matrices)
    blocks, rms = [], []
    for i, entry in enumerate(matrices):
        block, value = sketch_entry(reader, entry, seed, k, chunk_elems)
        blocks.append(block)
        rms.append(value)
        step(say, "weight matrices", i + 1, len(matrices), entry.name)
    vector = np.concatenate([b.ravel() for b in blocks]).astype(np.float32)
    return vector, [e.name for e in matrices], rms, over


def sketch_entry(reader: WeightReader, entry: TensorEntry, seed: int, k: int = SKETCH_K,
                 chunk_elems: int = CHUNK_ELEMS) -> tuple[np.ndarray, float]:
    """(k x k block, exact RMS) of one canonical matrix, streaming its stored tensor by row chunks.

    Canonical W = rows `index` of the stored matrix X (X read transposed for a Conv1D). With S_L
    spread over X's rows (left_x[:, index[j]] = S_L[:, j], zero elsewhere):
      S_L W S_R = left_x X S_R                         (rows selected; chunks of X's rows)
      S_L W S_R = (S_R^T X_stored left_x^T)^T          (transposed: X = X_stored^T; chunks of X_stored's rows)
    """
    rows, cols = int(np.prod(entry.shape[:-1])), int(entry.shape[-1])
    stored = entry.stored_shape
    left = sketch_left(seed, entry.name, rows, k)
    right = sketch_right(seed, entry.name, cols, k)
    x_rows = stored[-1] if entry.transpose else int(np.prod(stored[:-1]))
    keep = None
    if entry.index is not None:
        spread = np.zeros((k, x_rows), dtype=np.float32)
        spread[:, entry.index] = left
        left = spread
        keep = np.zeros(x_rows, dtype=bool)
        keep[entry.index] = True
    acc = np.zeros((k, k), dtype=np.float64)
    sumsq = 0.0
    unit = x_rows // stored[0] if not entry.transpose else 1  # matrix rows per slice of the first axis
    for r0, r1 in _row_chunks(stored, chunk_elems):
        if keep is not None and not entry.transpose and not keep[r0 * unit:r1 * unit].any():
            continue
        chunk = reader.rows(entry, r0, r1)
        if entry.transpose:  # chunk: rows r0:r1 of X_stored (in x out); W's columns r0:r1
            acc += (right.T[:, r0:r1] @ (chunk @ left.T)).T
            picked = chunk if entry.index is None else chunk[:, entry.index]
        else:
            acc += left[:, r0 * unit:r1 * unit] @ (chunk @ right)  # S_L W S_R, one chunk at a time
            picked = chunk if keep is None else chunk[keep[r0 * unit:r1 * unit]]
        sumsq += float(np.einsum("ij,ij->", picked, picked, dtype=np.float64))
    return (acc / math.sqrt(rows * cols)).astype(np.float32), math.sqrt(sumsq / (rows * cols))


# -- comparing sketches ---------------------------------------------------------------------------
def sketch_blocks(vector: np.ndarray, k: int = SKETCH_K) -> np.ndarray:
    """A sketch as its (n_blocks, k, k) blocks; InputError if its length is not whole blocks."""
    v = np.asarray(vector, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or v.size % (k * k):
        raise InputError(f"a sketch of {v.size} values is not a whole number of {k}x{k} blocks")
    return v.reshape(-1, k, k)


def sketch_distance(a: np.ndarray, b: np.ndarray, k: int = SKETCH_K) -> float:
    """RMS weight distance estimated from two sketches of one signature:
    sqrt(mean over blocks of ||B_a - B_b||_F^2) ~ sqrt(mean over matrices of the mean squared difference)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise InputError(f"sketches of different sizes ({a.size} vs {b.size}) are not comparable")
    return float(np.sqrt(np.sum((a - b) ** 2) / max(1, a.size // (k * k))))


def block_effective_rank(block: np.ndarray, energy: float = 0.99) -> int:
    """Effective rank of one block (0 for a zero block): a merged LoRA of rank r gives r < k on the
    difference of two sketches."""
    s = np.linalg.svd(np.asarray(block, np.float64), compute_uv=False)
    return 0 if not np.any(s > 0) else int(effective_rank(s, energy))


def _relative(x: np.ndarray) -> np.ndarray:
    """‖a−b‖ / √(‖a‖·‖b‖) between rows (√2 for a zero row against a non-zero one)."""
    from kb.channels.base import euclidean_matrix

    norms = np.linalg.norm(x, axis=1)
    scale = np.sqrt(np.outer(norms, norms))
    d = euclidean_matrix(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, d / scale, np.where(d > 0, UNRELATED, 0.0))
    np.fill_diagonal(rel, 0.0)
    return rel


def block_distances(x: np.ndarray, k: int = SKETCH_K) -> np.ndarray:
    """RMS over blocks of the per-matrix relative distance, so every matrix counts alike (one
    matrix with large weights cannot dominate); vectors that are not whole blocks fall back to the
    whole-vector relative distance."""
    x = np.asarray(x, dtype=np.float64)
    size = k * k
    if x.shape[1] % size or x.shape[1] // size < 2:
        return _relative(x)
    blocks = x.reshape(x.shape[0], -1, size)
    total = np.zeros((x.shape[0], x.shape[0]))
    for j in range(blocks.shape[1]):
        total += _relative(blocks[:, j, :]) ** 2
    return np.sqrt(total / blocks.shape[1])


def _identical_blocks(a: np.ndarray, b: np.ndarray, k: int = SKETCH_K) -> np.ndarray:
    """Per block, whether two sketches hold it bit-identical (none where their signatures differ)."""
    if a.size != b.size:
        return np.zeros(0, bool)
    return (sketch_blocks(a, k) == sketch_blocks(b, k)).all(axis=(1, 2))


def weight_growth(vectors: Sequence[np.ndarray], k: int = SKETCH_K) -> np.ndarray:
    """[i, j]: mean over matrices of log(‖B_j‖ / ‖B_i‖), over the matrices non-zero in both. The sketch
    is norm-preserving per matrix, so this is the mean log-growth of the weight norms from i to j; NaN
    unless both are whole blocks of one signature. One product over all pairs, not a loop."""
    n = len(vectors)
    out = np.full((n, n), np.nan)
    size = k * k
    by_size: dict[int, list[int]] = {}
    for i, v in enumerate(vectors):
        if v.size % size == 0 and v.size // size >= 1:
            by_size.setdefault(v.size, []).append(i)
    for members in by_size.values():
        norms = np.stack([np.linalg.norm(np.asarray(vectors[i], np.float64).reshape(-1, size), axis=1)
                          for i in members])
        present = (norms > 0).astype(np.float64)
        logs = np.log(np.where(norms > 0, norms, 1.0)) * present
        both = present @ present.T
        with np.errstate(invalid="ignore", divide="ignore"):
            grown = (present @ logs.T - logs @ present.T) / both  # [i, j]: Σ log‖B_j‖ − log‖B_i‖
        grown[both == 0] = np.nan
        out[np.ix_(members, members)] = grown
    return out


def effective_rank(singular_values: np.ndarray, energy: float = 0.99) -> np.ndarray:
    """Smallest r with Σ_{i≤r} σ_i² ≥ energy · Σ σ_i², along the last axis (σ sorted descending)."""
    s2 = np.asarray(singular_values, dtype=np.float64) ** 2
    total = s2.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = np.cumsum(s2, axis=-1) / total
    return (cum < energy - 1e-12).sum(axis=-1) + 1.0


def difference_rank_profile(a: np.ndarray, b: np.ndarray, k: int = SKETCH_K, *, energy: float = 0.99,
                            rel_tol: float = 1e-6) -> np.ndarray:
    """Per-block effective rank of S_a − S_b (one value per weight matrix; NaN where the two do not
    differ, ‖ΔS‖ ≤ rel_tol·max(‖S_a‖, ‖S_b‖), e.g. matrices an adapter did not touch).

    An adapter of rank r < k gives ranks ≤ r in the blocks it touched; a full fine-tune or
    re-training gives ranks near k. Cost: one k x k SVD per block.
    """
    sa, sb = sketch_blocks(a, k), sketch_blocks(b, k)
    if sa.shape != sb.shape:
        raise InputError(f"sketches of {sa.shape[0]} and {sb.shape[0]} blocks: signatures differ")
    diff = sa - sb
    sigma = np.linalg.svd(diff, compute_uv=False)  # batched over blocks
    norm = np.linalg.norm(diff, axis=(1, 2))
    ref = np.maximum(np.linalg.norm(sa, axis=(1, 2)), np.linalg.norm(sb, axis=(1, 2)))
    return np.where(norm > rel_tol * np.maximum(ref, 1e-300), effective_rank(sigma, energy), np.nan)


def is_low_rank_difference(profile: np.ndarray, k: int = SKETCH_K, *, fraction: float = 0.5) -> bool:
    """An adapter's signature: the median rank over changed blocks is at most `fraction` of k."""
    changed = profile[~np.isnan(profile)]
    return bool(changed.size) and float(np.median(changed)) <= fraction * k


CHANNEL = WeightsChannel()
