"""Parents in a family too large for dense m × m arrays: solved in parts, the parts joined after.

A family's parents are found on dense m × m arrays (parents.py): about 12 float64 arrays at peak, so
one family of 15,000 members fills 24 GiB, and the time grows as m². A hub family is larger. The parent
of a model is among its nearest models by the strongest evidence (a fine-tune, adapter or copy sits
close to what it was made from), so a cut through the family where it is thinnest separates few
parent-child pairs:

1. an embedding in which Euclidean distance stands in for the members' costs (`embedding`: every
   channel all members share, each on the common cost scale, side by side);
2. a minimum spanning tree of the members' nearest-neighbour graph in it, cut into subtrees of at most
   `PART_MAX` members (`tree_parts`, bottom-up: a node whose subtree grew too large sheds its largest
   child subtrees);
3. each part's parents by `family_parents`, as for any family;
4. every part root (a part may hold several, where the evidence cut an edge) takes a parent outside
   its own subtree: its `ATTACH_CANDIDATES` nearest models there, costed with the same rules (dates,
   copies, precision, growth, "unrelated"), and one minimum arborescence over the subtrees picks
   which roots attach where, so that no cycle runs through two parts; the one left over is the root;
5. a model with one parent whose nearest models reach into another part is tested again as a merge
   among them: a merge whose parents fell in two parts was not seen as one.

What the parts cannot see: siblings and adapters are judged within a part. Measured on synthetic
families (bench/bench_infer_scale.py --one-family): accuracy and time beside the dense solve in
bench/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from kb.channels import REGISTRY
from kb.channels.base import gaussian
from kb.lineage.arborescence import arborescence
from kb.lineage.costs import Scales, edge_costs, ordinal, pair_costs
from kb.lineage.evidence import ModelEvidence, channel_distances

PART_MAX = 3000
"""Largest part solved densely: ~12 m × m float64 arrays, about 0.9 GB at 3,000 members."""
NEIGHBOURS = 10
"""Nearest neighbours per member in the graph whose spanning tree is cut into parts."""
EMBED_DIM = 128
"""Values per channel in the partition's embedding."""
ATTACH_CANDIDATES = 30
"""Models outside its subtree that a part root is costed against."""

Solve = Callable[[Sequence[ModelEvidence]], list]
Join = Callable[..., list]
Merge = Callable[[Sequence[ModelEvidence]], list]


def embedding(evs: Sequence[ModelEvidence], scales: Scales, dim: int = EMBED_DIM) -> np.ndarray:
    """Rows whose Euclidean distances stand in for the members' costs: each channel every member has,
    in the channel's Euclidean stand-in (`Channel.euclidean`) over its "unrelated" distance (the common
    scale of costs.py), projected to `dim` values (a seeded Gaussian map keeps distances,
    Johnson–Lindenstrauss), side by side. Side by side, a pair the weights call unrelated (a
    distillation) is near where its behaviour is near."""
    columns = []
    for chan in REGISTRY:
        vectors = [e.vectors.get(chan.name) for e in evs]
        if any(v is None for v in vectors) or len({v.size for v in vectors}) != 1:
            continue
        x = chan.euclidean(np.stack(vectors).astype(np.float64))
        if x is None:
            continue
        x = x / scales.get(chan.name, 1.0)
        if x.shape[1] > dim:
            x = x @ gaussian(0, f"partition:{chan.name}:{x.shape[1]}", (x.shape[1], dim), 1.0 / np.sqrt(dim))
        columns.append(x)
    return np.hstack(columns)


def nearest(x: np.ndarray, rows: np.ndarray, k: int, block: int = 512) -> np.ndarray:
    """The `k` nearest other rows of `x` to each of `rows`, nearest first (ties: lower index).
    Blocks of brute-force distances: O(len(rows)·m·dim) time, O(block·m) memory."""
    sq = np.einsum("ij,ij->i", x, x)
    k = min(k, x.shape[0] - 1)
    out = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), block):
        r = rows[start:start + block]
        d = sq[r, None] + sq[None, :] - 2.0 * x[r] @ x.T
        d[np.arange(len(r)), r] = np.inf
        pick = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.argsort(d, axis=1)
        for i, row in enumerate(pick):  # nearest first, ties to the lower index
            out[start + i] = row[np.lexsort((row, d[i, row]))]
    return out


def tree_parts(x: np.ndarray, cap: int = PART_MAX, near: np.ndarray | None = None) -> list[np.ndarray]:
    """Partition rows of `x` into connected pieces of at most `cap` rows of the minimum spanning
    forest of their nearest-neighbour graph (`near`: each row's nearest others, nearest first; default
    its `NEIGHBOURS` nearest). Deterministic: ties go to lower indices."""
    m = x.shape[0]
    if m <= cap:
        return [np.arange(m)]
    near = nearest(x, np.arange(m), NEIGHBOURS) if near is None else near[:, :NEIGHBOURS]
    rows = np.repeat(np.arange(m), near.shape[1])
    cols = near.ravel()
    w = np.maximum(np.linalg.norm(x[rows] - x[cols], axis=1), 1e-12)  # zero-weight edges vanish from a sparse graph
    graph = coo_matrix((w, (rows, cols)), shape=(m, m)).tocsr()
    graph = graph.maximum(graph.T)
    forest = minimum_spanning_tree(graph)
    forest = forest + forest.T
    _n, component = connected_components(forest, directed=False)
    adjacency = [forest.indices[forest.indptr[i]:forest.indptr[i + 1]] for i in range(m)]
    piece = np.full(m, -1)
    pieces = 0
    for start in sorted(np.unique(component, return_index=True)[1].tolist()):  # each component's first member
        order, up = [start], {start: -1}
        for v in order:  # breadth first
            for u in sorted(int(u) for u in adjacency[v]):
                if u not in up:
                    up[u] = v
                    order.append(u)
        size = {v: 1 for v in order}
        kids: dict[int, list[int]] = {v: [] for v in order}
        for v in reversed(order):
            for child in sorted(kids[v], key=lambda c: (-size[c], c)):
                if size[v] <= cap:
                    break
                kids[v].remove(child)  # shed the largest child subtrees until v's fits
                size[v] -= size[child]
                _label(child, kids, piece, pieces)
                pieces += 1
            if up[v] >= 0:
                kids[up[v]].append(v)
                size[up[v]] += size[v]
        _label(start, kids, piece, pieces)
        pieces += 1
    order = np.argsort(piece, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(piece[order])) + 1)


def _label(top: int, kids: dict[int, list[int]], piece: np.ndarray, label: int) -> None:
    stack = [top]
    while stack:
        v = stack.pop()
        piece[v] = label
        stack.extend(kids[v])


def partitioned_parents(evs: Sequence[ModelEvidence], scales: Scales, solve: Solve, join: Join, merge: Merge,
                        *, use_dates: bool, use_declared: bool, cap: int = PART_MAX) -> list:
    """Parent edges of one family (indices into `evs`) solved in parts of at most `cap` members.
    `solve(sub)` gives one part's edges; `join(sub, ch, pairs, classes, allowed, j)` labels the edge
    from `sub[0]`, a part root, to `sub[j]`; `merge(sub)` the edges of `sub[0]` as a merge of two of
    the others, or none (parents.py owns how edges are found and labelled)."""
    m = len(evs)
    x = embedding(evs, scales)
    near = nearest(x, np.arange(m), ATTACH_CANDIDATES)  # one pass: the spanning tree's graph and the merge tests
    edges = []
    parent = np.full(m, -1)
    parts = tree_parts(x, cap, near)
    for part in parts:
        for e in solve([evs[i] for i in part]):
            edges.append(replace(e, child=int(part[e.child]), parent=int(part[e.parent])))
            if parent[part[e.child]] < 0:
                parent[part[e.child]] = part[e.parent]
    edges = _joined(evs, x, edges, parent, scales, join, use_dates, use_declared)
    return _merges_across(evs, near, parts, edges, merge)


def _joined(evs: Sequence[ModelEvidence], x: np.ndarray, edges: list, parent: np.ndarray, scales: Scales,
            join: Join, use_dates: bool, use_declared: bool) -> list:
    """`edges` and, for every part root but one, its edge to the cheapest admissible model outside its
    own subtree, chosen by one arborescence over the subtrees (so no cycle runs through two parts)."""
    roots = np.flatnonzero(parent < 0)
    if roots.size < 2:
        return edges
    subtree = _subtree_of(parent, roots)
    s = roots.size
    cost = np.full((s, s), np.inf)  # [a, b]: subtree a's root under its best parent in subtree b
    best: dict[tuple[int, int], tuple] = {}
    widest = int(np.bincount(subtree).max())
    for a, (r, near) in enumerate(zip(roots, nearest(x, roots, ATTACH_CANDIDATES + widest))):
        outside = [int(q) for q in near if subtree[q] != a][:ATTACH_CANDIDATES]
        if not outside:
            continue
        sub = [evs[r]] + [evs[q] for q in outside]
        ch = channel_distances(sub)
        pairs = pair_costs(sub, scales, ch)
        edge_cost, allowed, _lexical, classes = edge_costs(sub, pairs, use_dates=use_dates, use_declared=use_declared)
        row = np.where(allowed[0] & ~pairs.unrelated[0], edge_cost[0], np.inf)
        for j in np.flatnonzero(np.isfinite(row)):
            b = int(subtree[outside[j - 1]])
            if row[j] < cost[a, b]:
                cost[a, b] = row[j]
                best[(a, b)] = (outside[j - 1], sub, ch, pairs, classes, allowed, int(j))
    day = np.array([ordinal(evs[r].released) if use_dates else np.nan for r in roots])
    root_cost = np.zeros(s)
    if np.isfinite(day).any():  # the earliest subtree root is the family's root; undated ones last
        root_cost = np.where(np.isfinite(day), (day - np.nanmin(day)) / (np.nanmax(day) - np.nanmin(day) + 1), 1.0)
    for a, b in enumerate(arborescence(cost, root_cost)):
        if b >= 0 and np.isfinite(cost[a, b]):  # else a root: no admissible parent outside its subtree
            q, *labelling = best[(a, int(b))]
            edges.extend(replace(e, child=int(roots[a]), parent=q) for e in join(*labelling))
    return edges


def _merges_across(evs: Sequence[ModelEvidence], near: np.ndarray, parts: list[np.ndarray], edges: list,
                   merge: Merge) -> list:
    """A merge whose parents fell in two parts was not seen as one (an average of two far models lies
    near the family's centre, and its part took a parent there): each model with one parent whose
    nearest models reach another part is tested again among its `ATTACH_CANDIDATES` nearest, as the
    dense solve tests every member, and found a merge of two models that do not descend from it, it
    takes both."""
    part = np.empty(len(evs), int)
    for k, members in enumerate(parts):
        part[members] = k
    by_child: dict[int, list] = {}
    for e in edges:
        by_child.setdefault(e.child, []).append(e)
    for c in range(len(evs)):
        around = near[c]
        if len(by_child.get(c, [])) != 1 or (part[around] == part[c]).all():
            continue
        local = [int(c)] + [int(q) for q in around]
        found = merge([evs[i] for i in local])
        if not found or any(_descends(local[e.parent], int(c), by_child) for e in found):
            continue
        by_child[c] = [replace(e, child=int(c), parent=local[e.parent]) for e in found]
    return [e for c in sorted(by_child) for e in by_child[c]]


def _descends(v: int, ancestor: int, by_child: dict[int, list]) -> bool:
    """Whether `ancestor` lies above `v` along parent edges (every parent of a merge counts)."""
    seen, stack = set(), [v]
    while stack:
        u = stack.pop()
        if u == ancestor:
            return True
        if u not in seen:
            seen.add(u)
            stack.extend(e.parent for e in by_child.get(u, []))
    return False


def _subtree_of(parent: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """For each member, the index in `roots` of the subtree (parent edges followed up) holding it."""
    out = np.full(parent.size, -1)
    out[roots] = np.arange(roots.size)
    for v in range(parent.size):
        path = []
        while out[v] < 0:
            path.append(v)
            v = int(parent[v])
        out[path] = out[v]
    return out
