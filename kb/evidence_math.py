"""Pure math of the two evidence channels beside the text DNA (numpy only, no I/O).

Log-likelihood profile (after Oyama et al., "Mapping 1,000+ Language Models via the
Log-Likelihood Vector", ACL 2025): a model's log-likelihood of each text of a fixed reference
set, divided by the text's UTF-8 byte count (so that tokenizers compare), centred over the texts
(a per-model constant, e.g. a model that is better everywhere, carries no lineage signal), and
projected to `dim` values with a seeded Gaussian matrix with N(0, 1/dim) entries (so squared
distances are preserved in expectation, Johnson-Lindenstrauss). Oyama et al. show that the
squared Euclidean distance between centred log-likelihood vectors approximates (a multiple of) the
KL divergence between the two models.

Weight sketch: for each weight matrix W (rows x cols, canonical name n) one k x k block

    B(n) = S_L(n) @ W @ S_R(n) / sqrt(rows * cols)       # S_L: k x rows, S_R: cols x k, N(0, 1/k)

with S_L, S_R drawn from (seed, n). Since E||S_L X S_R||_F^2 = ||X||_F^2, E||B_a - B_b||^2 equals
the mean squared weight difference of that matrix (every matrix weighs alike, whatever its size),
and a rank-r difference (a merged LoRA) stays rank <= r in the block, so adapters remain visible
while r < k. 1-D tensors (norms, biases) are left out of the sketch (they still enter the
architecture signature): norm weights sit near 1 in every model, so folded in they would dominate
the sketch's norm and pull unrelated models together (measured on the zoo: they inflated fine-tune
distances by ~50%), while carrying little lineage signal.
Cost: 2*k*rows*cols flops per matrix (a 7B model: ~0.5 TFLOP, minutes on a CPU); memory: S_L and
S_R (k*(rows+cols) floats) plus one chunk of rows.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from kb.errors import InputError

LOGLIK_DIM = 128
"""Default width of a projected log-likelihood profile."""

SKETCH_K = 16
"""Default block side of the weight sketch (kb.lineage.evidence.SKETCH_BLOCK must agree)."""

# -- seeded random matrices ---------------------------------------------------------------------
def _name_key(name: str) -> int:
    """A stable 64-bit integer from a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def seeded_gaussian(seed: int, tag: str, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """float32 N(0, scale^2) matrix drawn from (seed, tag): the same on every machine and run."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _name_key(tag)]))
    out = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(scale)
    return out


def sketch_left(seed: int, name: str, rows: int, k: int = SKETCH_K) -> np.ndarray:
    """S_L(name): k x rows, entries N(0, 1/k)."""
    return seeded_gaussian(seed, f"L:{name}", (k, rows), 1.0 / math.sqrt(k))


def sketch_right(seed: int, name: str, cols: int, k: int = SKETCH_K) -> np.ndarray:
    """S_R(name): cols x k, entries N(0, 1/k)."""
    return seeded_gaussian(seed, f"R:{name}", (cols, k), 1.0 / math.sqrt(k))


# -- weight sketch ------------------------------------------------------------------------------
def sketch_matrix(w: np.ndarray, seed: int, name: str, k: int = SKETCH_K) -> np.ndarray:
    """The k x k block of one whole matrix (reference implementation; streaming code accumulates
    `left[:, r0:r1] @ (w[r0:r1] @ right)` over row chunks instead).

    >>> w = np.eye(4, dtype=np.float32)
    >>> sketch_matrix(w, 0, "x", k=2).shape
    (2, 2)
    """
    w = np.asarray(w, dtype=np.float32).reshape(-1, np.shape(w)[-1])
    rows, cols = w.shape
    block = sketch_left(seed, name, rows, k) @ (w @ sketch_right(seed, name, cols, k))
    return block / np.float32(math.sqrt(rows * cols))


def sketch_blocks(vector: np.ndarray, k: int = SKETCH_K) -> np.ndarray:
    """A sketch vector as its (n_blocks, k, k) blocks, one per weight matrix."""
    vector = np.asarray(vector, dtype=np.float32)
    if vector.ndim != 1 or vector.size % (k * k):
        raise InputError(f"a sketch of {vector.size} values is not a whole number of {k}x{k} blocks")
    return vector.reshape(-1, k, k)


def sketch_distance(a: np.ndarray, b: np.ndarray, k: int = SKETCH_K) -> float:
    """RMS weight distance estimated from two sketches of one signature:
    sqrt(mean over blocks of ||B_a - B_b||_F^2) ~ sqrt(mean over tensors of mean squared diff)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise InputError(f"sketches of different sizes ({a.size} vs {b.size}) are not comparable")
    return float(np.sqrt(np.sum((a - b) ** 2) / max(1, a.size // (k * k))))


def block_effective_rank(block: np.ndarray, energy: float = 0.99) -> int:
    """Smallest r whose top-r singular values hold `energy` of ||block||_F^2 (0 for a zero block):
    a merged LoRA of rank r gives r < k on the difference of two sketches."""
    s = np.linalg.svd(np.asarray(block, np.float64), compute_uv=False) ** 2
    total = s.sum()
    if total <= 0:
        return 0
    return int(np.searchsorted(np.cumsum(s) / total, energy) + 1)


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


def llama_rope_permutation(rows: int, n_head: int) -> np.ndarray:
    """Row permutation llama.cpp's converter applies to Llama q/k weights (HF rotate-half layout to
    GGML's interleaved rope): gguf_row[i] = hf_row[perm[i]]. Within each head the halves are
    interleaved: perm = arange(rows).reshape(n_head, 2, d/2).swapaxes(1, 2).ravel().

    >>> llama_rope_permutation(4, 1).tolist()
    [0, 2, 1, 3]
    """
    if rows % (2 * n_head):
        raise InputError(f"a q/k matrix of {rows} rows does not split into {n_head} heads of even size")
    return np.arange(rows).reshape(n_head, 2, rows // n_head // 2).swapaxes(1, 2).ravel()


# -- log-likelihood profile ---------------------------------------------------------------------
def loglik_per_byte(scores: Sequence[tuple[float, int]]) -> np.ndarray:
    """(sum log-prob, UTF-8 bytes) per text -> log-likelihood per byte (nats/byte)."""
    arr = np.asarray(scores, dtype=np.float64).reshape(-1, 2)
    if np.any(arr[:, 1] <= 0):
        raise InputError("a reference text has no bytes: every text must be non-empty")
    per_byte = arr[:, 0] / arr[:, 1]
    if not np.all(np.isfinite(per_byte)):
        bad = int(np.flatnonzero(~np.isfinite(per_byte))[0])
        raise InputError(f"log-likelihood of reference text {bad} is not finite: the model's logits overflow")
    return per_byte


def loglik_projection(seed: int, n_texts: int, dim: int = LOGLIK_DIM) -> np.ndarray:
    """dim x n_texts Gaussian projection with N(0, 1/dim) entries, drawn from `seed`."""
    return seeded_gaussian(seed, f"loglik:{n_texts}", (dim, n_texts), 1.0 / math.sqrt(dim))


def loglik_vector(per_byte: np.ndarray, seed: int, dim: int = LOGLIK_DIM) -> np.ndarray:
    """Centre a per-byte log-likelihood vector (x - mean x) and project it: the stored profile.

    >>> v = loglik_vector(np.array([-1.0, -2.0, -3.0]), seed=0, dim=4)
    >>> v.shape, v.dtype.name
    ((4,), 'float32')
    """
    x = np.asarray(per_byte, dtype=np.float64).ravel()
    centred = x - x.mean()  # a per-model offset carries no lineage signal
    a = loglik_projection(seed, x.size, dim).astype(np.float64)
    return (a @ centred).astype(np.float32)  # E||A(x - y)||^2 = ||x - y||^2


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else 0.0
