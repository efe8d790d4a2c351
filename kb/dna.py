"""DNA math on plain numpy arrays: the random projection, resampling, distances.

Projection (Wu et al. 2025, "LLM DNA", arXiv 2509.24496): DNA = A · concat(e_1..e_t), with A Gaussian,
entries N(0, 1/L), L = `protocol.dim`. Because A · concat(e) = Σ_i A_i e_i, each block A_i (L × d) is
generated on its own from (seed, i) with numpy's PCG64 keyed by SeedSequence([seed, i]): no t·d × L
matrix is ever held, and a DNA can be recomputed from any multiset of probe indices (bootstrap) by
reusing A_i for probe i.

Scale: we divide by √k for k summed probes. Then for two models with per-probe embedding differences
δ_i, E‖DNA_a − DNA_b‖² = (1/k) Σ_i ‖δ_i‖² (Johnson–Lindenstrauss), the mean squared per-probe
difference — so distances keep one scale across probe counts and bootstrap replicates.
(The paper's plain A·concat(e) is √t times ours; rankings are the same.)

Cost: generating A_i is L·d normal draws per probe (600 probes × 128 × 384 ≈ 29 M draws, ~0.2 s);
the projection itself is O(t·L·d).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.errors import InputError, ProtocolMismatchError
from kb.protocol import DnaProtocol, protocol_id, require_same_protocol

METRICS = ("euclidean", "cosine")


# -- projection ----------------------------------------------------------------------------------
def projection_block(seed: int, index: int, dim: int, emb_dim: int) -> np.ndarray:
    """A_i: the (dim × emb_dim) Gaussian block for probe `index`, entries N(0, 1/dim), float64.

    Deterministic in (seed, index, dim, emb_dim) on every platform: PCG64 seeded by SeedSequence.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(index)])))
    return rng.standard_normal((dim, emb_dim)) / np.sqrt(dim)  # N(0, 1/L)


def _check_embeddings(embeddings: np.ndarray, protocol: DnaProtocol) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2:
        raise InputError(f"embeddings must be a (probes × dims) matrix, got shape {e.shape}")
    if e.shape != (protocol.n_probes, protocol.embedder_dim):
        raise InputError(
            f"embeddings of shape {e.shape} do not fit protocol {protocol.id} "
            f"({protocol.n_probes} probes × {protocol.embedder_dim} dims): extract under that protocol"
        )
    if not np.all(np.isfinite(e)):
        raise InputError("embeddings contain NaN or infinity: re-embed the responses")
    return e


def _check_indices(probe_indices: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if probe_indices is None:
        return np.arange(n)
    idx = np.asarray(probe_indices)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise InputError("probe_indices must be a non-empty 1-D sequence of integers")
    if idx.min() < 0 or idx.max() >= n:
        raise InputError(f"probe index out of range 0..{n - 1}: got {int(idx.min())}..{int(idx.max())}")
    return idx.astype(np.int64)


def project_probes(
    embeddings: np.ndarray, protocol: DnaProtocol, probe_indices: Sequence[int] | None = None
) -> np.ndarray:
    """Per-probe projections P[i] = A_i e_i, shape (t × dim), float64; rows not in `probe_indices` stay 0.

    Compute this once per model and call `combine` for each bootstrap replicate: a replicate then
    costs O(k·L) instead of O(k·L·d).
    """
    e = _check_embeddings(embeddings, protocol)
    wanted = np.unique(_check_indices(probe_indices, e.shape[0]))
    out = np.zeros((e.shape[0], protocol.dim))
    for i in wanted:
        out[i] = projection_block(protocol.seed, int(i), protocol.dim, protocol.embedder_dim) @ e[i]
    return out


def combine(per_probe: np.ndarray, probe_indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """DNA from per-probe projections: (1/√k) Σ_{i ∈ indices} P[i] (indices may repeat), float32."""
    p = np.asarray(per_probe, dtype=np.float64)
    if p.ndim != 2:
        raise InputError(f"per-probe projections must be 2-D, got shape {p.shape}")
    idx = _check_indices(probe_indices, p.shape[0])
    return (p[idx].sum(axis=0) / np.sqrt(idx.size)).astype(np.float32)  # (1/√k) Σ A_i e_i


def dna_from_embeddings(
    embeddings: np.ndarray, protocol: DnaProtocol, probe_indices: Sequence[int] | None = None
) -> np.ndarray:
    """The DNA (float32, length `protocol.dim`) of a model from its per-probe embeddings (t × d).

    `probe_indices` (with repeats allowed) resamples probes: probe i always uses its own block A_i.

    >>> p = DnaProtocol(probe_set="x", n_probes=3, max_new_tokens=8, embedder="e", embedder_dim=4, dim=8)
    >>> dna = dna_from_embeddings(np.eye(3, 4), p)
    >>> dna.shape, dna.dtype
    ((8,), dtype('float32'))
    """
    return combine(project_probes(embeddings, protocol, probe_indices), probe_indices)


def dnas_from_embeddings(
    stack: np.ndarray | Sequence[np.ndarray], protocol: DnaProtocol, probe_indices: Sequence[int] | None = None
) -> np.ndarray:
    """DNAs of many models at once (m × t × d -> m × dim, float32), generating each block A_i once.

    Same result as `dna_from_embeddings` per model; use it to (re-)project a whole KB.
    """
    x = np.asarray(stack, dtype=np.float64)
    if x.ndim != 3:
        raise InputError(f"expected a (models × probes × dims) stack, got shape {x.shape}")
    for m in range(x.shape[0]):
        _check_embeddings(x[m], protocol)
    idx = _check_indices(probe_indices, x.shape[1])
    counts = np.bincount(idx, minlength=x.shape[1])
    out = np.zeros((x.shape[0], protocol.dim))
    for i in np.flatnonzero(counts):
        block = projection_block(protocol.seed, int(i), protocol.dim, protocol.embedder_dim)
        out += counts[i] * (x[:, i, :] @ block.T)  # Σ_i c_i A_i e_{m,i} for every model m
    return (out / np.sqrt(idx.size)).astype(np.float32)


def bootstrap_indices(n_probes: int, n_replicates: int, seed: int = 0) -> np.ndarray:
    """(n_replicates × n_probes) probe indices drawn with replacement, reproducible from `seed`."""
    if n_probes < 1 or n_replicates < 1:
        raise InputError("bootstrap needs at least one probe and one replicate")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_probes, size=(n_replicates, n_probes))


# -- distances -----------------------------------------------------------------------------------
def _vector(x: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D vector, got shape {v.shape}")
    return v


def euclidean(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖₂ — the paper's DNA distance."""
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.shape != b.shape:
        raise InputError(f"DNAs of different lengths ({a.size} vs {b.size}) cannot be compared")
    return float(np.linalg.norm(a - b))


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 − cos(a, b); 1.0 when either vector is zero."""
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.shape != b.shape:
        raise InputError(f"DNAs of different lengths ({a.size} vs {b.size}) cannot be compared")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0
    return float(1.0 - a @ b / (na * nb))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - cosine_distance(a, b)


def distance(
    a: np.ndarray, b: np.ndarray, metric: str = "euclidean",
    protocols: tuple[DnaProtocol | str | None, DnaProtocol | str | None] | None = None,
) -> float:
    """Distance between two DNAs; with `protocols` given, they must name the same protocol."""
    if protocols is not None:
        require_same_protocol(*protocols)
    if metric == "euclidean":
        return euclidean(a, b)
    if metric == "cosine":
        return cosine_distance(a, b)
    raise InputError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")


def pairwise_distances(
    dnas: np.ndarray | Sequence[np.ndarray], metric: str = "euclidean",
    protocols: Sequence[DnaProtocol | str | None] | None = None,
) -> np.ndarray:
    """Symmetric (n × n) distance matrix with a zero diagonal. O(n²·L).

    `protocols`, one per DNA, must all be the same id (else `ProtocolMismatchError`).
    """
    x = np.asarray(dnas, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"DNAs must form an (n × dim) matrix, got shape {x.shape}")
    if protocols is not None:
        if len(protocols) != x.shape[0]:
            raise InputError(f"{len(protocols)} protocol ids for {x.shape[0]} DNAs")
        ids = {protocol_id(p) if p is not None else None for p in protocols}
        if None in ids:
            raise ProtocolMismatchError("a DNA without a protocol id cannot be compared: re-extract it")
        if len(ids) > 1:
            raise ProtocolMismatchError(
                f"DNAs from {len(ids)} protocols ({', '.join(sorted(ids))}) are not comparable: "
                "re-extract (or re-project) all under one protocol"
            )
    if metric == "euclidean":
        sq = np.einsum("ij,ij->i", x, x)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)  # ‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b
        d = np.sqrt(np.clip(d2, 0.0, None))
    elif metric == "cosine":
        norms = np.linalg.norm(x, axis=1)
        safe = np.where(norms == 0, 1.0, norms)
        u = x / safe[:, None]
        d = 1.0 - u @ u.T
        zero = norms == 0
        d[zero, :] = 1.0
        d[:, zero] = 1.0
        d = np.clip(d, 0.0, 2.0)
    else:
        raise InputError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    d = (d + d.T) / 2.0
    np.fill_diagonal(d, 0.0)
    return d
