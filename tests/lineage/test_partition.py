"""A family too large for dense arrays is solved in parts (kb/lineage/partition.py)."""

import networkx as nx
import numpy as np
import pytest

from kb.lineage.costs import channel_scales
from kb.lineage.evidence import ModelEvidence
from kb.lineage.families import families_from_labels
from kb.lineage.metrics import parent_accuracy
from kb.lineage.parents import ParentOptions, infer_parents
from kb.lineage.partition import embedding, nearest, tree_parts
from kb.lineage.synthetic import synthetic_lineage


def test_nearest_rows_come_nearest_first_with_ties_to_the_lower_index():
    x = np.array([[0.0], [1.0], [-1.0], [3.0], [10.0]])
    assert nearest(x, np.array([0, 4]), 3).tolist() == [[1, 2, 3], [3, 1, 0]]


def test_a_chain_is_cut_into_connected_runs_no_larger_than_the_cap():
    x = np.arange(10, dtype=float)[:, None] ** 1.1  # points on a line: the spanning tree is the chain
    parts = tree_parts(x, cap=4)
    assert sorted(int(i) for p in parts for i in p) == list(range(10))
    assert all(p.size <= 4 for p in parts)
    assert all(np.all(np.diff(np.sort(p)) == 1) for p in parts)  # each part a run of the chain
    assert len(parts) == 3


def test_two_far_groups_are_cut_apart_and_not_inside():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (6, 2)), rng.normal(50, 0.1, (6, 2))])
    parts = tree_parts(x, cap=6)
    assert sorted(sorted(int(i) for i in p) for p in parts) == [list(range(6)), list(range(6, 12))]


def test_a_distilled_student_sits_near_its_teacher_in_the_embedding_by_behaviour():
    # weights: the student is independent of everyone (a fresh initialisation); its behaviour is the
    # teacher's. Side by side, its nearest member is the teacher, not whoever the weights' noise favours.
    rng = np.random.default_rng(1)
    k2 = 16 * 16
    w = [rng.normal(0, 1, 4 * k2) for _ in range(4)]
    t = [rng.normal(0, 3, 64) for _ in range(3)]
    evs = [ModelEvidence(f"m{i}", {"text": t[i], "weights": w[i]}, signature="s") for i in range(3)]
    evs.append(ModelEvidence("student", {"text": t[1] + rng.normal(0, 0.1, 64), "weights": w[3]}, signature="s"))
    x = embedding(evs, channel_scales(evs))
    assert nearest(x, np.array([3]), 1)[0, 0] == 1


@pytest.mark.parametrize("dates", [True, False])
def test_a_family_solved_in_parts_keeps_one_root_no_cycle_and_nearly_the_dense_accuracy(dates):
    n = 240
    lin = synthetic_lineage(n, mean_family=n, sketches=True, dates=dates, seed=5)
    ids = [e.id for e in lin.evidence]
    labels = families_from_labels(np.zeros(n, int))

    def solve(part_max):
        edges = infer_parents(lin.evidence, labels, options=ParentOptions(use_dates=dates, part_max=part_max))
        accuracy = parent_accuracy([(ids[e.child], ids[e.parent], e.relation) for e in edges], lin.truth, ids)
        return edges, accuracy.accuracy

    dense_edges, dense = solve(n)
    parted_edges, parted = solve(60)
    assert nx.is_directed_acyclic_graph(nx.DiGraph([(e.child, e.parent) for e in parted_edges]))
    assert {e.child for e in parted_edges} == {e.child for e in dense_edges}  # the same roots (distillations cut)
    assert parted >= dense - 0.05
    assert parted_edges != dense_edges  # the parts did run


def test_a_part_root_takes_its_dated_parent_across_the_cut():
    # a dated chain m0 -> m1 -> ... -> m9 of fine-tunes, cut into parts of 4: every member but m0 still
    # gets its predecessor, the parts' roots through the joining arborescence
    rng = np.random.default_rng(2)
    k2 = 16 * 16
    w, t = [rng.normal(0, 1, 4 * k2)], [rng.normal(0, 1, 32)]
    for _ in range(9):
        w.append(w[-1] + rng.normal(0, 0.15, w[-1].size))
        t.append(t[-1] + rng.normal(0, 0.3, 32))
    evs = [ModelEvidence(f"m{i}", {"text": t[i], "weights": w[i]}, signature="s", precision="f32",
                         released=f"2024-01-{i + 1:02d}") for i in range(10)]
    assert len(tree_parts(embedding(evs, channel_scales(evs)), cap=4)) >= 3
    edges = infer_parents(evs, families_from_labels(np.zeros(10, int)), options=ParentOptions(part_max=4))
    assert sorted((e.child, e.parent) for e in edges) == [(i, i - 1) for i in range(1, 10)]


def test_a_merge_whose_parents_fell_in_two_parts_takes_both():
    # two dated chains from one base, far apart in weight space, and the average of their tips: the
    # merge lies near the base, in a part without at least one of its parents
    rng = np.random.default_rng(3)
    k2 = 16 * 16
    base = rng.normal(0, 1, 4 * k2)
    text0 = rng.normal(0, 1, 32)
    chains = {}
    for name in "ac":
        w, t = [base], [text0]
        for _ in range(3):
            w.append(w[-1] + rng.normal(0, 0.25, base.size))
            t.append(t[-1] + rng.normal(0, 0.3, 32))
        chains[name] = (w[1:], t[1:])
    evs = [ModelEvidence("base", {"text": text0, "weights": base}, signature="s", precision="f32",
                         released="2024-01-01")]
    for name, (ws, ts) in chains.items():
        evs += [ModelEvidence(f"{name}{i}", {"text": t, "weights": w}, signature="s", precision="f32",
                              released=f"2024-0{i + 2}-01") for i, (w, t) in enumerate(zip(ws, ts))]
    (wa, ta), (wc, tc) = chains["a"], chains["c"]
    evs.append(ModelEvidence("merge", {"text": (ta[-1] + tc[-1]) / 2, "weights": (wa[-1] + wc[-1]) / 2},
                             signature="s", precision="f32", released="2024-09-01"))
    parts = tree_parts(embedding(evs, channel_scales(evs)), cap=4)
    part_of = {evs[i].id: k for k, p in enumerate(parts) for i in p}
    assert part_of["a2"] != part_of["c2"]  # the merge's parents are in two parts
    for part_max in (4, len(evs)):
        edges = infer_parents(evs, families_from_labels(np.zeros(len(evs), int)),
                              options=ParentOptions(part_max=part_max))
        got = sorted((evs[e.parent].id, e.relation) for e in edges if evs[e.child].id == "merge")
        assert got == [("a2", "merge"), ("c2", "merge")], part_max


def test_infer_says_when_a_family_was_solved_in_parts(monkeypatch):
    import functools
    import importlib

    infer = importlib.import_module("kb.lineage.infer")  # the module, not the function kb.lineage exports

    lin = synthetic_lineage(120, mean_family=120, sketches=True, seed=6)
    monkeypatch.setattr(infer, "ParentOptions", functools.partial(ParentOptions, part_max=50))
    result = infer.infer_lineage(lin.evidence, families=families_from_labels(np.zeros(120, int)), trees=False)
    assert "family of 120 models: parents found in parts of at most 50 members, joined after" in result.messages
    assert len({e.child for e in result.edges}) >= 118
