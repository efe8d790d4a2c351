"""Siblings or parent and child: the tree metric decides what the nearest neighbour cannot.

Two fine-tunes of one base on the same data with other seeds move their weights alike, so each is
nearer the other than either is to their base, and a spanning tree makes one the child of the other.
Training steps add up: for independent steps, squared distances add along a path (E‖a + b‖² =
‖a‖² + ‖b‖²). So with g the parent of p and c attached to p:
- c a child of p:  d(c, g)² ≈ d(p, g)² + d(c, p)²   (more still when the steps point alike);
- c a sibling of p: d(c, g)² ≈ d(p, g)²              (the same recipe from the same base).
`x = (d(c, g)² − d(p, g)²) / d(c, p)²` is about 1 for a child and about 0 for a sibling; below
`SIBLING_X` (the midpoint) c is moved up to g, or, nearer still, to another descendant q of g that the
same test calls c's parent (x(c, q, parent of q) ≥ `SIBLING_X`; q a checkpoint, not a GGUF file, and
not a copy of its own parent, where the test passes trivially): a fine-tune of an adapter trained on
the data of a sibling branch lies nearest that branch, is moved off it as its sibling, and belongs
under the adapter, not the base. Distances come from the strongest channel that compares all three
models (the weights where they compare).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from kb.channels import REGISTRY
from kb.lineage.arborescence import descends

SIBLING_X = 0.5
SIBLING_UNSURE = (0.35, 0.8)
"""Where x leaves child and sibling undecided: on the development zoos (seeds 0-9) true children
reach down to 0.46 and siblings up to 0.78 (steps of unequal size, or a step that undid part of its
parent's), with only siblings below 0.35 and only children from 0.8."""


def distances_for_triples(ch: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Channels' distance matrices, strongest first (structural, then functional in registry order)."""
    return [ch[c.name] for c in sorted(REGISTRY, key=lambda c: not c.structural)]


def resolve_siblings(parent: np.ndarray, ch: dict[str, np.ndarray], allowed: np.ndarray,
                     classes: np.ndarray, kin: np.ndarray, fixed: Collection[int] = (),
                     checkpoints: np.ndarray | None = None) -> tuple[np.ndarray, dict[int, float]]:
    """`parent` with every sibling wrongly attached under its sibling moved up to their parent, and
    each child whose x fell in `SIBLING_UNSURE` (kept or moved, the metric could not decide) with its x.
    Nodes in `fixed` (merges) and their parents are left alone, and so are copies (`classes`: the
    copy class of each model; between copies of one model the metric is rounding noise). A child
    whose weights say it is kin to its parent (`kin`) is not moved up to a grandparent they do not
    relate it to: behaviour's tree metric does not outweigh shared weights. A model moved up goes to a
    nearer descendant of its grandparent only if that one is a checkpoint (`checkpoints`, default all):
    training starts from a checkpoint, not from a GGUF file. Top-down, one pass."""
    parent = parent.copy()
    checkpoints = np.ones(parent.size, bool) if checkpoints is None else checkpoints
    layers = distances_for_triples(ch)
    order = _top_down(parent)
    unsure: dict[int, float] = {}
    for c in order:
        p = int(parent[c])
        if p < 0 or c in fixed or p in fixed:
            continue
        g = int(parent[p])
        if g < 0 or not allowed[c, g] or classes[c] == classes[p] or classes[p] == classes[g]:
            continue
        if kin[c, p] and not kin[c, g]:
            continue
        d = _deciding(layers, c, p, g)
        if d is None:
            continue
        x = _child_x(d, c, p, g)
        if SIBLING_UNSURE[0] <= x < SIBLING_UNSURE[1]:
            unsure[c] = x
        if x < SIBLING_X:
            parent[c] = _nearest_parent(c, g, parent, d, allowed[c] & checkpoints, classes,
                                        kin if kin[c, p] else None, fixed)
    return parent, unsure


def _deciding(layers: list[np.ndarray], *nodes: int) -> np.ndarray | None:
    """The strongest distance matrix that compares all of `nodes`."""
    for d in layers:
        sub = d[np.ix_(nodes, nodes)]
        if np.all(np.isfinite(sub)):
            return d
    return None


def _child_x(d: np.ndarray, c: int, p: int, g: int) -> float:
    """About 1 when c is p's child (p's parent being g), about 0 when c is p's sibling."""
    return float((d[c, g] ** 2 - d[p, g] ** 2) / d[c, p] ** 2) if d[c, p] > 0 else 0.0


def _nearest_parent(c: int, g: int, parent: np.ndarray, d: np.ndarray, takes: np.ndarray, classes: np.ndarray,
                    kin: np.ndarray | None, fixed: Collection[int]) -> int:
    """g, or the nearest descendant q of g (by `d`) that c may take and that the tree metric calls c's
    parent; q outside c's own subtree and c's copy class, not a copy of its own parent (between copies
    the metric is rounding noise, and the test passes trivially), kin to c where c's old parent was."""
    with np.errstate(invalid="ignore"):
        near = (takes & (parent >= 0) & (classes != classes[c]) & (classes != classes[np.maximum(parent, 0)])
                & (d[c] < d[c, g]))  # nearer than g, and not a copy of c or of its own parent
    if kin is not None:
        near &= kin[c]
    near[list(fixed)] = False
    for q in np.flatnonzero(near)[np.argsort(d[c, near], kind="stable")]:
        q, r = int(q), int(parent[q])
        if (np.isfinite(d[c, r]) and np.isfinite(d[q, r]) and descends(parent, r, g) and not descends(parent, r, c)
                and _child_x(d, c, q, r) >= SIBLING_X):
            return q
    return g



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
