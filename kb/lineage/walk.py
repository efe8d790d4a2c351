"""Walks over parent edges in memory: the questions that follow lineage to any depth and then need
Python (licence checks, the strongest path to a descendant, evolution rates, family roots).

`read_parent_edges` reads the chosen kinds of parent edge once (O(E)); everything else is a pure
function over the `ParentEdge` list, so it tests without a store. Edges point child -> parent.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kb.errors import InputError

EDGE_KINDS = {"declared": ("declared",), "inferred": ("inferred",), "both": ("declared", "inferred")}
DECLARED_SUPPORT = 1.0
"""A declared edge is a documented fact: on a path it counts as support 1."""


@dataclass(frozen=True)
class ParentEdge:
    child: str
    parent: str
    kind: str  # "declared" | "inferred"
    relation: str | None = None
    support: float | None = None  # bootstrap support of an inferred edge; None when not measured

    @property
    def strength(self) -> float | None:
        """Support as a path sees it: 1 for a declared edge, the bootstrap support otherwise."""
        return DECLARED_SUPPORT if self.kind == "declared" else self.support


def read_parent_edges(store: Any, edges: str = "both") -> list[ParentEdge]:
    """Every parent edge of the kinds `edges` names (declared|inferred|both), sorted."""
    if edges not in EDGE_KINDS:
        raise InputError(f"edges must be one of {', '.join(EDGE_KINDS)}, not {edges!r}")
    found: list[ParentEdge] = []
    if "declared" in EDGE_KINDS[edges]:
        found += [ParentEdge(e.child, e.parent, "declared", e.relation) for e in store.declared_edges()]
    if "inferred" in EDGE_KINDS[edges]:
        found += [ParentEdge(e.child, e.parent, "inferred", e.relation, e.support) for e in store.inferred_edges()]
    return sorted(found, key=lambda e: (e.child, e.parent, e.kind))


def parents_of(edges: Iterable[ParentEdge]) -> dict[str, list[ParentEdge]]:
    """child -> its parent edges (sorted by parent, kind)."""
    return _grouped(edges, "child", "parent")


def children_of(edges: Iterable[ParentEdge]) -> dict[str, list[ParentEdge]]:
    """parent -> its child edges (sorted by child, kind)."""
    return _grouped(edges, "parent", "child")


def _grouped(edges: Iterable[ParentEdge], by: str, then: str) -> dict[str, list[ParentEdge]]:
    out: dict[str, list[ParentEdge]] = {}
    for edge in edges:
        out.setdefault(getattr(edge, by), []).append(edge)
    for found in out.values():
        found.sort(key=lambda e: (getattr(e, then), e.kind))
    return out


def ancestor_depths(model: str, parents: dict[str, list[ParentEdge]], max_depth: int = 30) -> dict[str, int]:
    """Every ancestor of `model` with its generation (shortest chain of parent edges), BFS, O(reached edges)."""
    depth = {model: 0}
    queue = deque([model])
    while queue:
        node = queue.popleft()
        if depth[node] >= max_depth:
            continue
        for edge in parents.get(node, ()):
            if edge.parent not in depth:
                depth[edge.parent] = depth[node] + 1
                queue.append(edge.parent)
    del depth[model]
    return depth


@dataclass(frozen=True)
class Reach:
    """How a descendant is reached: the chosen path (the ancestor first) and its weakest edge."""

    path: tuple[str, ...]
    weakest: float | None  # the weakest edge's strength (None: an inferred edge without support)
    weakest_edge: tuple[str, str]  # (child, parent) of the weakest edge (the highest one on ties)
    inferred: int  # inferred edges on the path (0: documented all the way)


def downstream(model: str, children: dict[str, list[ParentEdge]], min_support: float = 0.0,
               max_depth: int = 30) -> dict[str, Reach]:
    """Every model below `model`, each with one path down to it: the shortest (fewest generations);
    among the shortest, the strongest (largest weakest strength; an unmeasured support ranks as 0);
    then the smallest sequence of ids. Inferred edges with support below `min_support` (or none,
    when `min_support` > 0) are not followed.

    One Dijkstra pass keyed (depth, -weakest, path): the key never decreases along a path and two
    paths to one node keep their order when extended by the same edge, so the first path settled
    at a node is the best by that order. O(E log E).
    """
    inf = float("inf")
    # entries: (depth, -weakest rank, path, inferred edges, tie counter, weakest, weakest edge); a pair
    # with a declared and an inferred edge gives two equal paths: the one with fewer inferred edges wins
    heap: list[tuple[Any, ...]] = [(0, -inf, (model,), 0, 0, None, None)]
    pushed = 0
    done: dict[str, Reach] = {}
    while heap:
        depth, neg_rank, path, inferred, _, weakest, weakest_edge = heapq.heappop(heap)
        node = path[-1]
        if node in done or (node == model and depth > 0):
            continue
        if depth > 0:
            done[node] = Reach(path, weakest, weakest_edge, inferred)  # type: ignore[arg-type]
        if depth >= max_depth:
            continue
        for edge in children.get(node, ()):
            if edge.child in done or edge.child == model:
                continue
            strength = edge.strength
            if edge.kind == "inferred" and min_support > 0 and (strength is None or strength < min_support):
                continue
            rank = 0.0 if strength is None else strength
            if rank < -neg_rank:
                step = (-rank, strength, (edge.child, edge.parent))
            else:
                step = (neg_rank, weakest, weakest_edge)
            pushed += 1
            heapq.heappush(heap, (depth + 1, step[0], (*path, edge.child),
                                  inferred + (edge.kind == "inferred"), pushed, step[1], step[2]))
    return done


def roots_by_model(models: Iterable[str], parents: dict[str, list[ParentEdge]]) -> dict[str, str]:
    """Each model's root over the given parent edges: an ancestor without parents (itself when it has
    none). A model with several roots (a merge across trees) gets the root with the most models
    below it overall, then the smallest id, so the choice is the same on every store. Cycles (possible
    when inferred and declared edges disagree) end the walk where they close."""
    tops: dict[str, frozenset[str]] = {}
    for model in sorted(models):
        if model in tops:
            continue
        _climb(model, parents, tops)
    size: dict[str, int] = {}
    for found in tops.values():
        for root in found:
            size[root] = size.get(root, 0) + 1
    return {m: min(found, key=lambda r: (-size[r], r)) for m, found in tops.items()}


def _climb(start: str, parents: dict[str, list[ParentEdge]], tops: dict[str, frozenset[str]]) -> None:
    """Fill `tops[x]` (the parentless ancestors of x) for `start` and everything above it, iteratively."""
    stack: list[tuple[str, bool]] = [(start, False)]
    on_path: set[str] = set()
    while stack:
        node, expanded = stack.pop()
        if node in tops:
            continue
        ups = [e.parent for e in parents.get(node, ())]
        if not expanded:
            on_path.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in ups if p not in tops and p not in on_path)
            continue
        on_path.discard(node)
        found = frozenset().union(*(tops.get(p, frozenset()) for p in ups)) if ups else frozenset({node})
        tops[node] = found or frozenset({node})


def unique_pairs(edges: Sequence[ParentEdge]) -> list[tuple[str, str]]:
    """Distinct (child, parent) pairs: a pair declared and inferred counts once."""
    return sorted({(e.child, e.parent) for e in edges})
