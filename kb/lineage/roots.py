"""Which member of a family is its root.

With symmetric costs the cheapest spanning tree is the same whichever node is the root, so the root is
a separate choice (`root_costs`, lower = better): the earliest release date (when dates are used and
known) ≫ not quantized (0.1 per float precision step) ≫ most central member (smallest mean cost to
the rest of the family: fine-tunes move away from their base in independent directions, so the base
sits at the centre of its family — the medoid rule). A merge has parents and is never a root, nor is
a model whose weights grew from another member's (`LATER_ROOT_PENALTY`, parents.py). An undated
checkpoint existed by the date of its earliest file (`existed_by`): files are made from checkpoints.
Without dates the tree found is re-rooted at its centroid (`tree_centroid`), where the root of a
random recursive tree lies; the direction of every other edge follows from the root.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from kb.lineage.copies import source_order
from kb.lineage.costs import PRECISION_PENALTY, QUANTIZED_RANK
from kb.lineage.evidence import ModelEvidence

MERGE_ROOT_PENALTY = 100.0
DATE_WEIGHT = 10.0
"""Root cost from the release order (0 for the earliest known date .. DATE_WEIGHT for the latest)."""
LATER_ROOT_PENALTY = 2 * DATE_WEIGHT
"""Root cost of a model known to be later than another member by its weights: more than any date term,
which only places an undated model in the middle of the dated ones."""


def existed_by(evs: Sequence[ModelEvidence], classes: np.ndarray) -> list[str | None]:
    """Per model its release date; an undated model takes the date its weights existed by (a dated
    byte-identical duplicate's, `ModelEvidence.existed_by`), an undated source of a copy class its
    class's earliest such date. Only for choosing the root: it bounds the date from above, so it never
    forbids a parent."""
    out = [e.released or e.existed_by for e in evs]
    for label in np.unique(classes):
        members = [int(i) for i in np.flatnonzero(classes == label)]
        dates = [out[i] for i in members if out[i]]
        source = source_order(members, evs)[0]
        if dates and not out[source]:
            out[source] = min(dates)
    return out


def root_costs(evs: Sequence[ModelEvidence], cost: np.ndarray, ranks: np.ndarray, use_dates: bool,
               central: np.ndarray | None = None, classes: np.ndarray | None = None) -> np.ndarray:
    """Lower = better root (see the module docstring); `central` overrides the medoid term; `classes`
    (copy classes) date undated checkpoints by their files."""
    m = len(evs)
    if central is None:
        finite = np.where(np.isfinite(cost), cost, np.nan)
        np.fill_diagonal(finite, np.nan)
        with warnings.catch_warnings():  # a member no channel links to has no mean: handled below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(finite, axis=1)
        mean = np.nan_to_num(mean, nan=np.nanmax(mean) if np.isfinite(mean).any() else 0.0)
        central = mean / mean.max() if mean.max() > 0 else np.zeros(m)
    out = 0.5 * central
    known = ranks >= 0
    if known.any():
        quantized = known & (ranks <= QUANTIZED_RANK) & (ranks < ranks.max())
        out = out + PRECISION_PENALTY * quantized + 0.1 * np.where(known, ranks.max() - ranks, 0)
    if use_dates:
        days = existed_by(evs, classes) if classes is not None else [e.released for e in evs]
        dated = [d for d in days if d]
        if dated:
            order = {d: k for k, d in enumerate(sorted(set(dated)))}
            span = max(len(order) - 1, 1)
            out = out + DATE_WEIGHT * np.array([order[d] / span if d else 0.5 for d in days])
    return out


def tree_centroid(parent: np.ndarray) -> int:
    """The node whose removal leaves the smallest largest component (Jordan 1869). O(m)."""
    m = parent.size
    children: list[list[int]] = [[] for _ in range(m)]
    roots = []
    for c, p in enumerate(parent):
        (children[p] if p >= 0 else roots).append(c)
    order, stack = [], list(roots)
    while stack:
        x = stack.pop()
        order.append(x)
        stack.extend(children[x])
    size = np.ones(m, int)
    for x in reversed(order):
        if parent[x] >= 0:
            size[parent[x]] += size[x]
    worst = [max([m - size[x]] + [size[c] for c in children[x]]) for x in range(m)]
    return int(np.argmin(worst))
