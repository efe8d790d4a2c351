"""Neighbor joining (Saitou & Nei 1987; Studier & Keppler 1988) → Newick, and tree comparison.

Why our own implementation: Bio.Phylo's `DistanceTreeConstructor.nj` is pure Python over a
lower-triangular list matrix (minutes at a few hundred taxa) and scikit-bio is not a dependency of
this project; the algorithm is twenty lines of vectorised numpy. Each of the n − 3 joins is O(m²) on
the m remaining nodes, so a tree costs O(n³) time and O(n²) memory: call it per family and over family
representatives, never over a whole large KB (`infer` skips trees above `NJ_MAX` taxa).

Tests compare against the published 5-taxon example and against Bio.Phylo's tree (Robinson–Foulds 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from io import StringIO

import numpy as np

from kb.errors import InputError

NJ_MAX = 1500
"""Largest tree `infer` builds (≈ 5 s at 1,000 taxa on one core; cost grows as n³)."""

_RESERVED = set(" \t\n()[]':;,")


def newick_name(name: str) -> str:
    """A Newick label: quoted (with '' for ') when it holds a reserved character."""
    if not name or any(c in _RESERVED for c in name):
        return "'" + name.replace("'", "''") + "'"
    return name


def neighbor_joining(distances: np.ndarray, names: Sequence[str]) -> str:
    """Unrooted NJ tree of `names` under the symmetric `distances`, as Newick with branch lengths.

    Negative branch lengths (non-additive data) are clipped to 0. One taxon gives "(a);", two give
    "(a:d/2,b:d/2);".

    >>> d = np.array([[0, 5, 9, 9, 8], [5, 0, 10, 10, 9], [9, 10, 0, 8, 7],
    ...               [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]], dtype=float)
    >>> neighbor_joining(d, "abcde")
    '(d:2,((a:2,b:3):3,c:4):2,e:1);'
    """
    d = np.array(distances, dtype=np.float64)
    names = [str(x) for x in names]
    n = len(names)
    if d.shape != (n, n) or n == 0:
        raise InputError(f"NJ needs an n × n distance matrix for {n} names, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise InputError("NJ distances must be finite")
    if not np.allclose(d, d.T):
        raise InputError("NJ distances must be symmetric")
    labels = [newick_name(x) for x in names]
    if n == 1:
        return f"({labels[0]});"
    if n == 2:
        half = _length(d[0, 1] / 2)
        return f"({labels[0]}:{half},{labels[1]}:{half});"
    return _build_newick(_nj(d), labels)


def _nj(d: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Joins (i, j, length_i, length_j) on node ids; node n + k is created by join k.

    The last entry joins the final three nodes: (a, b, c) are listed as two joins with a shared
    centre handled by `_build_newick`.
    """
    n = d.shape[0]
    d = d.copy()
    np.fill_diagonal(d, 0.0)
    ids = list(range(n))
    joins: list[tuple[int, int, float, float]] = []
    next_id = n
    while len(ids) > 3:
        m = len(ids)
        r = d.sum(axis=1)
        q = d * (m - 2)  # Q(i,j) = (m−2)d(i,j) − r_i − r_j, built in place
        q -= r[:, None]
        q -= r[None, :]
        np.fill_diagonal(q, np.inf)
        i, j = np.unravel_index(int(np.argmin(q)), q.shape)
        if i > j:
            i, j = j, i
        li = 0.5 * d[i, j] + (r[i] - r[j]) / (2 * (m - 2))  # δ(i,u) = d/2 + (r_i − r_j)/(2(m−2))
        lj = d[i, j] - li
        du = 0.5 * (d[i] + d[j] - d[i, j])  # d(u,k) = (d(i,k) + d(j,k) − d(i,j)) / 2
        joins.append((ids[i], ids[j], li, lj))
        d[i, :] = du
        d[:, i] = du
        d[i, i] = 0.0
        last = m - 1  # move the last node into j's slot: O(m) instead of np.delete's copy
        d[j, :] = d[last, :]
        d[:, j] = d[:, last]
        d[j, j] = 0.0
        d = d[:last, :last]
        ids[i] = next_id
        ids[j] = ids[last]
        ids.pop()
        next_id += 1
    a, b, c = 0, 1, 2
    la = 0.5 * (d[a, b] + d[a, c] - d[b, c])  # three-point formula for the final star
    lb = d[a, b] - la
    lc = d[a, c] - la
    joins.append((ids[a], ids[b], la, lb))
    joins.append((ids[c], -1, lc, 0.0))
    return joins


def _length(x: float) -> str:
    return f"{max(float(x), 0.0):.6g}"


def _build_newick(joins: list[tuple[int, int, float, float]], labels: list[str]) -> str:
    text: dict[int, str] = dict(enumerate(labels))
    n = len(labels)
    for k, (i, j, li, lj) in enumerate(joins[:-2]):
        text[n + k] = f"({text.pop(i)}:{_length(li)},{text.pop(j)}:{_length(lj)})"
    (a, b, la, lb), (c, _, lc, _) = joins[-2:]
    return f"({text[c]}:{_length(lc)},{text[a]}:{_length(la)},{text[b]}:{_length(lb)});"


# -- comparison ---------------------------------------------------------------------------------
def newick_splits(newick: str) -> tuple[frozenset[str], set[frozenset[str]]]:
    """(leaf names, non-trivial splits) of a Newick tree, each split as the side without the
    alphabetically first leaf, so that splits compare regardless of rooting and node order."""
    from Bio import Phylo  # parsing only; fast enough for family-sized trees

    tree = Phylo.read(StringIO(newick), "newick")
    leaves = frozenset(t.name for t in tree.get_terminals())
    if len(leaves) != tree.count_terminals():
        raise InputError("tree has repeated leaf names")
    splits: set[frozenset[str]] = set()
    for clade in tree.find_clades(order="postorder"):
        if clade.is_terminal() or clade is tree.root:
            continue
        side = frozenset(t.name for t in clade.get_terminals())
        split = _canonical(side, leaves)
        if split is not None:
            splits.add(split)
    return leaves, splits


def _canonical(side: frozenset[str], leaves: frozenset[str]) -> frozenset[str] | None:
    other = leaves - side
    if len(side) < 2 or len(other) < 2:
        return None  # trivial: one leaf against the rest
    first = min(leaves)
    return other if first in side else side


def restrict_splits(splits: set[frozenset[str]], leaves: frozenset[str], keep: frozenset[str]) -> set[frozenset[str]]:
    """Splits of the tree pruned to the leaves in `keep` (unrooted pruning keeps each split's trace)."""
    out = set()
    for s in splits:
        c = _canonical(frozenset(s & keep), keep)
        if c is not None:
            out.add(c)
    return out


def robinson_foulds(a: set[frozenset[str]], b: set[frozenset[str]]) -> tuple[int, float]:
    """(RF, normalised RF) between two split sets on the same leaves: |A △ B| and |A △ B| / (|A|+|B|).

    The normalisation by |A|+|B| handles multifurcating trees (the true genealogy is one); for two
    binary trees on n leaves it equals the usual RF / (2(n−3)).
    """
    rf = len(a ^ b)
    total = len(a) + len(b)
    return rf, (rf / total if total else 0.0)


def genealogy_splits(parents: dict[str, str | None], leaves: Sequence[str]) -> set[frozenset[str]]:
    """Splits of a rooted genealogy (child → parent, models as nodes) seen as an unrooted tree on
    the models as leaves: every edge separates a model's subtree from the rest."""
    keep = frozenset(leaves)
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent is not None and child in keep and parent in keep:
            children.setdefault(parent, []).append(child)
    splits: set[frozenset[str]] = set()
    memo: dict[str, frozenset[str]] = {}

    def subtree(node: str) -> frozenset[str]:
        stack, seen = [node], []
        while stack:  # iterative: genealogies can be deep
            x = stack.pop()
            seen.append(x)
            stack.extend(children.get(x, []))
        return frozenset(seen)

    for node in keep:
        if parents.get(node) in keep:
            memo[node] = subtree(node)
            c = _canonical(memo[node], keep)
            if c is not None:
                splits.add(c)
    return splits
