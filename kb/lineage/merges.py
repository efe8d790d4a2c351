"""Merges: a model whose weights lie on the segment between two others.

A weight average m = (1 − t)·a + t·b, give or take a little training, lies on the segment between its
parents in any channel that is linear in the weights (the weight sketch is): m = a + t(b − a) + h with
‖h‖ < `MERGE_HEIGHT`·‖b − a‖ + ρ‖m‖ and `MERGE_T` ≤ t ≤ 1 − `MERGE_T` (so m is not merely a near copy
of a or b), and a, b not near copies of each other. ρ is the rounding noise of m's number format
(evidence.rounding_noise): a merge saved in bf16 is the exact average rounded once, and between
fine-tunes of a real model, about three bf16 roundings apart, that rounding is most of the height.
A segment shorter than about twice that rounding decides nothing (`MERGE_HEIGHT_MAX`).
m may then only take a or b as parent, a and b may not descend from m, and m gets the other one as a
second parent (relation merge).

Copies of one model count once among a model's neighbours, and only the source of a copy class can be
a merge (its GGUF files lie on the same segment, and are copies of it). Files quantized below 8 bits
are never a merge's parents: merge tools read float checkpoints, and such a file's own rounding is
beyond the test's tolerance (q4_0 lies 0.08 of 'unrelated' from its checkpoint on the tiny models,
outside `copies.COPY_NEAR`); counted as models of their own, a family's quantized files filled the
neighbour list and hid a merge's farther parent.

Cost: one Gram matrix per comparable group, O(g²·s); then O(g·k²) triples over each model's k nearest
neighbours in the group.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

import numpy as np

from kb.channels import REGISTRY, Channel
from kb.lineage.evidence import PRECISION_RANK, ModelEvidence, comparable_groups, precision_rank, rounding_noise

MERGE_HEIGHT = 0.05
MERGE_HEIGHT_MAX = 0.5
"""The most height (over ‖b − a‖) a merge may be allowed: where rounding alone could lift a model
half-way up the segment's length, a sibling there is as likely as a merge, and the segment decides
nothing (a seed twin of a short real fine-tune sits 0.7 up, its own rounding allowing 0.66)."""
MERGE_T = 0.15
MERGE_NEIGHBOURS = 8
MERGE_PRECISION = PRECISION_RANK["q8_0"]
"""The least precision of a merge's parent."""


class Merge(NamedTuple):
    """A merge's two parents (`a`, `b`), where it lies on their segment (`t`) and how far off it (`h`,
    relative to the segment's length). Models on one line (a merge of a merge with one of its own
    parents, `base`, `ft`, merge(base, ft), merge(ft, that merge)) are collinear, and a merge between
    any two of them lies on the segment of several pairs: `among_a`, `among_b` count the admissible
    pairs it lies between where a pair without that parent (or a copy of it) fits too, else 1."""

    a: int
    b: int
    t: float
    h: float
    among_a: int = 1
    among_b: int = 1


def merge_channel() -> Channel | None:
    """The first channel of the registry that is linear in the weights (the one merges are read in)."""
    return next((c for c in REGISTRY if c.linear), None)


def find_merges(
    evs: Sequence[ModelEvidence], distances: dict[str, np.ndarray], *, use_dates: bool = True,
    classes: np.ndarray, neighbours: int = MERGE_NEIGHBOURS, only: Collection[int] | None = None,
) -> dict[int, Merge]:
    """m -> its `Merge` for models lying on a segment between two others, judged by
    the first linear channel of the registry that the models carry. `classes` (copies.copy_classes)
    says which models are copies of one another. Copy classes matter for real checkpoints: two fine-tunes of one base may lie closer together
    than `copies.COPY_NEAR` and still be distinct models, and the merge of two of them a distinct third."""
    linear = merge_channel()
    if linear is None:
        return {}
    found: dict[int, Merge] = {}
    for rows in comparable_groups(evs, linear.name):
        if len(rows) < 3:
            continue
        x = np.stack([evs[i].vectors[linear.name] for i in rows])
        g = x @ x.T
        sub = distances[linear.name][np.ix_(rows, rows)]
        own = classes[np.asarray(rows)]
        same = own[:, None] == own[None, :]
        ranks = [precision_rank(evs[i].precision) for i in rows]
        coarse = np.array([r is not None and r < MERGE_PRECISION for r in ranks])
        for li, m in enumerate(rows):
            if only is not None and m not in only:
                continue
            order = np.array(_distinct_neighbours(sub, li, neighbours, same, skip=coarse))
            if order.size < 2:
                continue
            ia, ib = np.triu_indices(order.size, 1)
            a, b = order[ia], order[ib]
            ab2 = g[a, a] + g[b, b] - 2 * g[a, b]  # ‖b − a‖²
            am2 = g[li, li] + g[a, a] - 2 * g[li, a]  # ‖m − a‖²
            dot = g[li, b] - g[li, a] - g[a, b] + g[a, a]  # ⟨m − a, b − a⟩
            with np.errstate(divide="ignore", invalid="ignore"):
                t = dot / ab2
                h = np.sqrt(np.clip(am2 - t * t * ab2, 0.0, None) / ab2)  # ‖m − a − t(b − a)‖/‖b − a‖
                rounding = rounding_noise(evs[m].precision) * np.sqrt(g[li, li] / ab2)  # ρ‖m‖/‖b − a‖
            apart = ~same[a, b]
            ok = (apart  # a and b are not copies of one model
                  & (t >= MERGE_T) & (t <= 1 - MERGE_T) & (h < MERGE_HEIGHT + rounding)
                  & (MERGE_HEIGHT + rounding <= MERGE_HEIGHT_MAX))
            fits = [(rows[int(a[q])], rows[int(b[q])], q)
                    for q in np.nonzero(ok)[0][np.argsort(h[ok], kind="stable")]]
            if use_dates:
                fits = [(pa, pb, q) for pa, pb, q in fits if not_later(evs[pa], evs[m]) and not_later(evs[pb], evs[m])]
            if fits:
                pa, pb, q = fits[0]

                def among(x: int) -> int:
                    held = all(classes[x] in (classes[u], classes[v]) for u, v, _ in fits)
                    return 1 if held else len(fits)

                found[m] = Merge(pa, pb, float(t[q]), float(h[q]), among(pa), among(pb))
    return found


def _distinct_neighbours(sub: np.ndarray, li: int, k: int, copies: np.ndarray, skip: np.ndarray) -> list[int]:
    """The `k` nearest models to `li`, not in `skip`, that are not copies of it or of one already taken
    (`copies`: [i, j] in one copy class): copies of one model (its GGUF files) would otherwise fill the
    list and hide a merge's other parent."""
    taken: list[int] = []
    for j in np.argsort(sub[li], kind="stable"):
        if j != li and not skip[j] and not copies[li, j] and not any(copies[j, q] for q in taken):
            taken.append(int(j))
            if len(taken) == k:
                break
    return taken


def not_later(parent: ModelEvidence, child: ModelEvidence) -> bool:
    return parent.released is None or child.released is None or parent.released <= child.released
