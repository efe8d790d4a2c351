"""Descendant counts of the lineage index against networkx, on forests, merges and cycles."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from kb.lineage.reach import descendant_counts


def oracle(n: int, children: list[int], parents: list[int]) -> list[int]:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(parents, children))  # parent -> child: descendants are reachable
    return [len(nx.descendants(graph, node)) for node in range(n)]


def test_small_shapes():
    assert descendant_counts(3, [], []).tolist() == [0, 0, 0]
    # chain 2 -> 1 -> 0 (child -> parent)
    assert descendant_counts(3, [1, 2], [0, 1]).tolist() == [2, 1, 0]
    # diamond: 3 merges 1 and 2, both fine-tunes of 0; 3 is counted once under 0
    assert descendant_counts(4, [1, 2, 3, 3], [0, 0, 1, 2]).tolist() == [3, 1, 1, 0]
    # a cycle 0 <-> 1 with a child 2 of 1: each cycle member has the other and 2 below it
    assert descendant_counts(3, [0, 1, 2], [1, 0, 1]).tolist() == [2, 2, 0]
    # repeated edges and self-loops change nothing
    assert descendant_counts(2, [1, 1, 0], [0, 0, 0]).tolist() == [1, 0]


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_match_networkx(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    if seed % 3 == 0:  # anything: cycles, many parents
        m = int(rng.integers(0, 3 * n))
        children, parents = rng.integers(0, n, m).tolist(), rng.integers(0, n, m).tolist()
    else:  # a random forest, shuffled ids, with a few merges (and sometimes a cycle) on top
        order = rng.permutation(n)
        children = [int(order[i]) for i in range(1, n) if rng.random() < 0.9]
        parents = [int(order[rng.integers(0, np.flatnonzero(order == c)[0])]) for c in children]
        extra = int(rng.integers(0, 5))
        children += rng.integers(0, n, extra).tolist()
        parents += rng.integers(0, n, extra).tolist()
    assert descendant_counts(n, children, parents).tolist() == oracle(n, children, parents)
