"""Siblings or parent and child: the tree metric decides what the nearest neighbour cannot.

Two fine-tunes of one base on the same data with other seeds move their weights alike, so each is
nearer the other than either is to their base, and a spanning tree makes one the child of the other.
Training steps add up: for independent steps, squared distances add along a path (E‖a + b‖² =
‖a‖² + ‖b‖²). So with g the parent of p and c attached to p:
- c a child of p:  d(c, g)² ≈ d(p, g)² + d(c, p)²   (more still when the steps point alike);
- c a sibling of p: d(c, g)² ≈ d(p, g)²              (the same recipe from the same base).
`x = (d(c, g)² − d(p, g)²) / d(c, p)²` is about 1 for a child and about 0 for a sibling; below
`SIBLING_X` (the midpoint) c is moved up to g. Distances come from the strongest channel that compares
all three models (the weights where they compare).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from kb.channels import REGISTRY

SIBLING_X = 0.5


def distances_for_triples(ch: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Channels' distance matrices, strongest first (structural, then functional in registry order)."""
    return [ch[c.name] for c in sorted(REGISTRY, key=lambda c: not c.structural)]


def resolve_siblings(parent: np.ndarray, ch: dict[str, np.ndarray], allowed: np.ndarray,
                     classes: np.ndarray, kin: np.ndarray, fixed: Collection[int] = ()) -> np.ndarray:
    """`parent` with every sibling wrongly attached under its sibling moved up to their parent.
    Nodes in `fixed` (merges) and their parents are left alone, and so are copies (`classes`: the
    copy class of each model; between copies of one model the metric is rounding noise). A child
    whose weights say it is kin to its parent (`kin`) is not moved up to a grandparent they do not
    relate it to: behaviour's tree metric does not outweigh shared weights. Top-down, one pass."""
    parent = parent.copy()
    layers = distances_for_triples(ch)
    order = _top_down(parent)
    for c in order:
        p = int(parent[c])
        if p < 0 or c in fixed or p in fixed:
            continue
        g = int(parent[p])
        if g < 0 or not allowed[c, g] or classes[c] == classes[p] or classes[p] == classes[g]:
            continue
        if kin[c, p] and not kin[c, g]:
            continue
        for d in layers:
            dcg, dpg, dcp = d[c, g], d[p, g], d[c, p]
            if np.isfinite(dcg) and np.isfinite(dpg) and np.isfinite(dcp) and dcp > 0:
                if (dcg ** 2 - dpg ** 2) / dcp ** 2 < SIBLING_X:
                    parent[c] = g
                break
    return parent


def _top_down(parent: np.ndarray) -> list[int]:
    children: dict[int, list[int]] = {}
    for c, p in enumerate(parent):
        children.setdefault(int(p), []).append(c)
    order, stack = [], list(children.get(-1, []))
    while stack:
        node = stack.pop(0)
        order.append(node)
        stack.extend(children.get(node, []))
    return order
