"""Minimum spanning arborescence with exactly one root (Chu & Liu 1965; Edmonds 1967).

`cost[c, p]` is the cost of the edge child c → parent p (inf = not allowed). One root per family: a
virtual root with an edge of cost BIG + root_cost(v) to every member, BIG large enough that the
arborescence uses exactly one of them, so the cheapest tree is chosen first and its root by
`root_cost` among equally cheap trees.

Families up to `DENSE_MAX` members get the dense numpy version over every admissible edge, O(m²) per
contraction. Above it, `edmonds_sparse` (Tarjan 1977: one heap of incoming edges per super-node, a
union-find that can be rolled back to expand the cycles) runs on a candidate graph: each child's
`K_CANDIDATES` cheapest parents plus an edge to the best root candidate, so that one root always
suffices; O(E log² E). networkx's implementation copies the graph at every contraction: 24 s per solve
at 450 members, where a family needs a dozen solves (bench/RESULTS.md). The tests check both against it.
"""

from __future__ import annotations

import heapq

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
    r0 = int(np.argmin(root_cost))
    k = min(k_candidates, m - 1)
    nearest = np.argpartition(cost, k, axis=1)[:, :k]
    sparse = np.zeros(cost.shape, bool)
    sparse[np.arange(m)[:, None], nearest] = True
    sparse[:, r0] = True
    cs, ps = np.nonzero(np.isfinite(cost) & sparse)
    children = np.concatenate([cs, np.arange(m)])
    parents = np.concatenate([ps, np.full(m, m)])  # the virtual root, index m
    weights = np.concatenate([cost[cs, ps], BIG + root_cost])
    parent = edmonds_sparse(m + 1, children, parents, weights, m)[:m]
    parent[parent == m] = -1
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


def edmonds_sparse(n: int, child: np.ndarray, parent: np.ndarray, weight: np.ndarray,
                   root: int) -> np.ndarray:
    """parent[c] of the minimum spanning arborescence rooted at `root` over the edges parent[e] → child[e]
    of cost weight[e]. Raises InputError if there is none.

    Each super-node keeps a heap of the edges entering it with an offset, so that taking its cheapest
    edge lowers the others by that cost in O(1) (the reduced costs of Edmonds' contraction); a cycle's
    heaps merge smaller into larger. Ties go to the lowest parent index, as in `edmonds_dense`."""
    keep = (child != parent) & (child != root) & np.isfinite(weight)
    child, parent, weight = child[keep], parent[keep], weight[keep]
    heaps: list[list[tuple[float, int, int]]] = [[] for _ in range(n)]
    for e, (c, p, w) in enumerate(zip(child.tolist(), parent.tolist(), weight.tolist())):
        heaps[c].append((w, p, e))
    for h in heaps:
        heapq.heapify(h)
    offset = [0.0] * n
    sets = _RollbackSets(n)
    seen = [-1] * n
    seen[root] = root
    entering = [-1] * n  # edge chosen to enter each (super-)node, by its representative
    cycles: list[tuple[int, int, list[int]]] = []  # (representative, sets' history length, cycle edges)
    for start in range(n):
        node = start
        path: list[tuple[int, int]] = []  # (super-node, the edge chosen to enter it)
        while seen[node] < 0:
            heap = heaps[node]
            while heap and sets.find(parent[heap[0][2]]) == node:
                heapq.heappop(heap)  # an edge from inside the contracted node
            if not heap:
                raise InputError("no spanning arborescence: some model has no admissible parent")
            w, _p, e = heapq.heappop(heap)
            offset[node] -= w + offset[node]
            path.append((node, e))
            seen[node] = start
            node = sets.find(int(parent[e]))
            if seen[node] == start:  # a cycle: contract it into one super-node
                time = len(sets.history)
                cycle: list[int] = []
                merged, merged_offset = heaps[node], offset[node]
                while True:
                    member, e = path.pop()
                    cycle.append(e)
                    if member == node:
                        break
                    merged, merged_offset = _meld(merged, merged_offset, heaps[member], offset[member])
                    sets.union(node, member)
                node = sets.find(node)
                heaps[node], offset[node] = merged, merged_offset
                seen[node] = -1
                cycles.append((node, time, cycle))
        for member, e in path:
            entering[sets.find(int(child[e]))] = e
    for rep, time, cycle in reversed(cycles):  # expand, the last contracted first
        sets.rollback(time)
        enter = entering[rep]
        for e in cycle:
            entering[sets.find(int(child[e]))] = e
        entering[sets.find(int(child[enter]))] = enter
    out = np.full(n, -1)
    for v in range(n):
        if v != root:
            out[v] = parent[entering[v]]
    return out


def _meld(a: list, a_offset: float, b: list, b_offset: float) -> tuple[list, float]:
    """One heap holding both (smaller pushed into larger), with the larger one's offset."""
    if len(a) < len(b):
        a, a_offset, b, b_offset = b, b_offset, a, a_offset
    shift = b_offset - a_offset
    for w, p, e in b:
        heapq.heappush(a, (w + shift, p, e))
    return a, a_offset


class _RollbackSets:
    """Union-find by size without path compression, so that unions can be undone in order."""

    def __init__(self, n: int) -> None:
        self.up = list(range(n))
        self.size = [1] * n
        self.history: list[tuple[int, int]] = []

    def find(self, x: int) -> int:
        while self.up[x] != x:
            x = self.up[x]
        return x

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.up[b] = a
        self.size[a] += self.size[b]
        self.history.append((a, b))

    def rollback(self, time: int) -> None:
        while len(self.history) > time:
            a, b = self.history.pop()
            self.up[b] = b
            self.size[a] -= self.size[b]


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
