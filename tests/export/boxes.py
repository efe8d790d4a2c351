"""Label boxes as quadrilaterals (rotated text has rotated boxes) and an exact overlap test for them
(separating axis theorem), shared by the figure tests and the browser tests."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Quad = np.ndarray  # 4 x 2 corners in order


def overlap_depth(a: Quad, b: Quad) -> float:
    """How far two convex quads overlap along their least-overlapping axis (≤ 0: they do not)."""
    depth = math.inf
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            norm = np.hypot(*edge)
            if norm == 0:
                continue
            axis = np.array([-edge[1], edge[0]]) / norm
            pa, pb = a @ axis, b @ axis
            depth = min(depth, min(pa.max(), pb.max()) - max(pa.min(), pb.min()))
            if depth <= 0:
                return depth
    return depth


def overlapping_pairs(quads: Sequence[Quad], tolerance: float = 0.5) -> list[tuple[int, int, float]]:
    """Pairs (i, j, depth) overlapping by more than `tolerance` (pixels or points); bounding boxes prune first."""
    q = np.asarray(quads, dtype=float)
    if len(q) < 2:
        return []
    lo, hi = q.min(axis=1), q.max(axis=1)
    candidates = np.argwhere(np.triu(
        (lo[:, None, 0] < hi[None, :, 0]) & (lo[None, :, 0] < hi[:, None, 0])
        & (lo[:, None, 1] < hi[None, :, 1]) & (lo[None, :, 1] < hi[:, None, 1]), k=1))
    found = []
    for i, j in candidates:
        depth = overlap_depth(q[i], q[j])
        if depth > tolerance:
            found.append((int(i), int(j), float(depth)))
    return found


def test_overlap_depth_on_known_shapes():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    assert overlap_depth(square, square + [1, 0]) == 1.0
    assert overlap_depth(square, square + [3, 0]) < 0
    diamond = np.array([[3.2, 1], [4.2, 2], [3.2, 3], [2.2, 2]], float)  # rotated 45°, its AABB meets the square's
    assert overlap_depth(square, diamond) < 0
    assert overlapping_pairs([square, square + [1, 1], square + [5, 5]]) == [(0, 1, 1.0)]
