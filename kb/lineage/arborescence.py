"""Minimum spanning arborescence with exactly one root (Chu & Liu 1965; Edmonds 1967).

`cost[c, p]` is the cost of the edge child c → parent p (inf = not allowed). One root per family: a
virtual root with an edge of cost BIG + root_cost(v) to every member, BIG large enough that the
arborescence uses exactly one of them, so the cheapest tree is chosen first and its root by
`root_cost` among equally cheap trees.

Our dense numpy version handles families up to `DENSE_MAX` members (networkx's implementation is pure
Python and dominated the run time at 10k models; the tests check ours against it); above it,
networkx's runs on a sparse candidate graph: each child's `K_CANDIDATES` cheapest parents plus an edge
to the best root candidate, so that one root always suffices. Cost O(m²) per contraction, O(m³)
worst case dense; O(E log V) sparse.
"""

from __future__ import annotations

import numpy as np

from kb.errors import InputError

DENSE_MAX = 300
K_CANDIDATES = 15
BIG = 1e6


def arborescence(cost: np.ndarray, root_cost: np.ndarray, *, dense_max: int = DENSE_MAX,
                 k_candidates: int = K_CANDIDATES) -> np.ndarray:
    """parent[c] (−1 for the root) of the minimum arborescence with exactly one root."""
    m = cost.shape[0]
    if m == 1:
        return np.array([-1])
    if m <= dense_max:
        aug = np.full((m + 1, m + 1), np.inf)
        aug[:m, :m] = cost
        aug[:m, m] = BIG + root_cost  # the virtual root, index m
        parent = edmonds_dense(aug, m)[:m]
        parent[parent == m] = -1
        return _one_root(parent, root_cost)
    import networkx as nx

    r0 = int(np.argmin(root_cost))
    k = min(k_candidates, m - 1)
    nearest = np.argpartition(cost, k, axis=1)[:, :k]
    sparse = np.zeros(cost.shape, bool)
    sparse[np.arange(m)[:, None], nearest] = True
    sparse[:, r0] = True
    keep = np.isfinite(cost) & sparse
    graph = nx.DiGraph()
    graph.add_nodes_from(range(-1, m))
    cs, ps = np.nonzero(keep)
    graph.add_weighted_edges_from(zip(ps.tolist(), cs.tolist(), cost[cs, ps].tolist()))
    graph.add_weighted_edges_from((-1, c, BIG + float(root_cost[c])) for c in range(m))
    tree = nx.minimum_spanning_arborescence(graph, attr="weight")
    parent = np.full(m, -1)
    for p, c in tree.edges():
        parent[c] = p
    return _one_root(parent, root_cost)


def _one_root(parent: np.ndarray, root_cost: np.ndarray) -> np.ndarray:
    """A constraint may leave some member no admissible parent: attach it under the chosen root."""
    roots = [c for c in range(parent.size) if parent[c] < 0]
    if len(roots) > 1:
        main = min(roots, key=lambda c: root_cost[c])
        for c in roots:
            if c != main:
                parent[c] = main
    return parent


def edmonds_dense(cost: np.ndarray, root: int) -> np.ndarray:
    """parent[c] minimising Σ cost[c, parent[c]] over spanning arborescences rooted at `root`
    (cost[c, p] = edge p → c; inf = absent). Raises InputError if there is none."""
    m = cost.shape[0]
    w = cost.astype(np.float64).copy()
    np.fill_diagonal(w, np.inf)
    w[root, :] = np.inf
    best = np.argmin(w, axis=1)  # the first (lowest index) of equally cheap parents
    best[root] = -1
    if any(c != root and not np.isfinite(w[c, best[c]]) for c in range(m)):
        raise InputError("no spanning arborescence: some model has no admissible parent")
    cycle = find_cycle(best, root)
    if cycle is None:
        return best
    in_cycle = np.zeros(m, bool)
    in_cycle[cycle] = True
    outside = np.nonzero(~in_cycle)[0]
    k = outside.size  # the contracted node gets index k
    new = np.full((k + 1, k + 1), np.inf)
    new[:k, :k] = w[np.ix_(outside, outside)]
    cyc = np.asarray(cycle)
    leave = w[np.ix_(outside, cyc)]  # outside child c, parent v in the cycle
    leave_arg = cyc[np.argmin(leave, axis=1)]
    new[:k, k] = leave.min(axis=1)
    enter = w[np.ix_(cyc, outside)] - w[cyc, best[cyc]][:, None]  # w(p→v) − w(best(v)→v)
    enter_arg = cyc[np.argmin(enter, axis=0)]
    new[k, :k] = enter.min(axis=0)
    new_root = int(np.nonzero(outside == root)[0][0])
    sub = edmonds_dense(new, new_root)
    parent = np.full(m, -1)
    for i, c in enumerate(outside):
        p = sub[i]
        parent[c] = -1 if p < 0 else (leave_arg[i] if p == k else outside[p])
    entry_parent = outside[sub[k]]
    entry_node = enter_arg[sub[k]]
    for v in cyc:
        parent[v] = best[v]
    parent[entry_node] = entry_parent
    return parent


def find_cycle(parent: np.ndarray, root: int) -> list[int] | None:
    """A cycle of the functional graph c → parent[c] that avoids `root`, or None."""
    state = np.zeros(parent.size, np.int8)  # 0 new, 1 on the current path, 2 done
    for start in range(parent.size):
        path = []
        node = start
        while node != root and node >= 0 and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = int(parent[node])
        if node >= 0 and node != root and state[node] == 1:
            return path[path.index(node):]
        for x in path:
            state[x] = 2
    return None


def descends(parent: np.ndarray, node: int, ancestor: int) -> bool:
    """Whether `ancestor` lies on the parent chain of `node` (itself included)."""
    seen = 0
    while node >= 0 and seen <= parent.size:
        if node == ancestor:
            return True
        node = int(parent[node])
        seen += 1
    return False
