"""Walks over parent edges: each checked against networkx on constructed and random graphs."""

from __future__ import annotations

import doctest
import importlib
import itertools

import networkx as nx
import numpy as np
import pytest

from kb.lineage.walk import ParentEdge, ancestor_depths, children_of, downstream, parents_of, roots_by_model


def E(child: str, parent: str, kind: str = "declared", support: float | None = None) -> ParentEdge:
    return ParentEdge(child, parent, kind, "finetune", support)


@pytest.mark.parametrize("module", ["kb.licenses"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_downstream_prefers_shortest_then_strongest_then_ids():
    edges = [
        E("a", "root", "inferred", 0.3), E("b", "root", "inferred", 0.9), E("c", "a"), E("c", "b"),
        E("d", "c"), E("d", "root", "inferred", 0.2),  # d: one generation, however weak
        E("e", "a"), E("e", "b", "inferred", 0.3),  # e: both paths weakest 0.3 -> ids: root, a, e
        E("f", "b", "inferred", None), E("f", "a", "inferred", 0.1),  # unmeasured ranks as 0
    ]
    found = downstream("root", children_of(edges))
    assert found["c"].path == ("root", "b", "c") and found["c"].weakest == 0.9
    assert found["c"].weakest_edge == ("b", "root") and found["c"].inferred == 1
    assert found["d"].path == ("root", "d") and found["d"].weakest == 0.2
    assert found["e"].path == ("root", "a", "e") and found["e"].weakest == 0.3
    assert found["f"].path == ("root", "a", "f") and found["f"].weakest == 0.1
    assert set(found) == {"a", "b", "c", "d", "e", "f"}


def test_downstream_declared_paths_count_as_support_one_and_fewer_inferred_edges_win():
    edges = [E("a", "root"), E("a", "root", "inferred", 1.0), E("b", "a")]
    found = downstream("root", children_of(edges))
    assert found["a"].inferred == 0 and found["a"].weakest == 1.0
    assert found["b"].path == ("root", "a", "b") and found["b"].weakest_edge == ("a", "root")


def test_downstream_min_support_and_depth_and_cycles():
    edges = [E("a", "root", "inferred", 0.4), E("b", "root"), E("c", "b", "inferred", None),
             E("root", "c", "inferred", 0.9)]  # a cycle back to the start
    assert set(downstream("root", children_of(edges), min_support=0.5)) == {"b"}
    assert set(downstream("root", children_of(edges))) == {"a", "b", "c"}
    assert set(downstream("root", children_of(edges), max_depth=1)) == {"a", "b"}


def _random_dag(seed: int, n: int = 14) -> list[ParentEdge]:
    rng = np.random.default_rng(seed)
    edges = []
    for child in range(1, n):
        for parent in rng.choice(child, size=min(child, int(rng.integers(1, 3))), replace=False):
            kind = "declared" if rng.random() < 0.4 else "inferred"
            support = None if kind == "declared" else float(rng.choice([0.2, 0.5, 0.8, 1.0]))
            edges.append(E(f"m{child:02d}", f"m{parent:02d}", kind, support))
    return edges


@pytest.mark.parametrize("seed", range(12))
def test_downstream_matches_every_simple_path_enumerated(seed):
    edges = _random_dag(seed)
    graph = nx.MultiDiGraph()
    for e in edges:
        graph.add_edge(e.parent, e.child, strength=e.strength)
    found = downstream("m00", children_of(edges))
    assert set(found) == nx.descendants(graph, "m00")
    for node, reach in found.items():
        best = None
        for path in nx.all_simple_paths(graph, "m00", node):
            for choice in itertools.product(*(
                [d["strength"] for d in graph.get_edge_data(u, v).values()] for u, v in zip(path, path[1:])
            )):
                key = (len(path), -min(choice), tuple(path))
                best = key if best is None or key < best else best
        assert (len(reach.path), -reach.weakest, reach.path) == best, node


def test_ancestor_depths_is_shortest_generation():
    edges = [E("c", "b"), E("b", "a"), E("c", "a", "inferred", 0.5), E("a", "z")]
    assert ancestor_depths("c", parents_of(edges)) == {"b": 1, "a": 1, "z": 2}
    assert ancestor_depths("c", parents_of(edges), max_depth=1) == {"b": 1, "a": 1}
    assert ancestor_depths("z", parents_of(edges)) == {}


def test_roots_pick_the_largest_tree_then_the_id():
    edges = [E("a1", "A"), E("a2", "A"), E("a3", "a1"), E("b1", "B"), E("m", "a3"), E("m", "b1"),
             E("x", "y"), E("y", "x")]  # a cycle: no parentless ancestor
    roots = roots_by_model(["A", "a1", "a2", "a3", "B", "b1", "m", "lonely", "x", "y"], parents_of(edges))
    assert roots["m"] == "A" and roots["b1"] == "B" and roots["a3"] == "A" and roots["lonely"] == "lonely"
    assert roots["x"] in ("x", "y") and roots["y"] in ("x", "y")
    tie = roots_by_model(["m", "P", "Q"], parents_of([E("m", "Q"), E("m", "P")]))
    assert tie["m"] == "P"


def test_groups_inferred_family_then_nearest_ancestor_family_then_declared_root():
    from kb.lineage.groups import group_models

    edges = [E("meta-ft", "dna-base"), E("meta-ft2", "meta-ft"), E("other", "root0"), E("dna-base", "hub")]
    groups = group_models(["dna-base", "hub", "meta-ft", "meta-ft2", "other", "root0"],
                          {"dna-base": "family:dna-base"}, {"family:dna-base": "dna-base"}, parents_of(edges))
    assert groups.of == {"dna-base": "family:dna-base", "hub": "root:hub", "meta-ft": "family:dna-base",
                         "meta-ft2": "family:dna-base", "other": "root:root0", "root0": "root:root0"}
    assert groups.root == {"family:dna-base": "dna-base", "root:hub": "hub", "root:root0": "root0"}
    assert groups.resolve("meta-ft2") == "family:dna-base" and groups.members("root:root0") == ["other", "root0"]
