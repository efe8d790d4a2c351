"""The whole-KB tree: rooting against Bio.Phylo, Newick round trips, selection, the time signal and
the RF score against a known genealogy."""

from __future__ import annotations

import doctest
import io

import numpy as np
import pytest
from Bio import Phylo

from kb.errors import InputError
from kb.lineage import rooting
from kb.lineage.kbtree import (Selection, build_tree, choose_root, kb_splits, selected, time_signal, tree_distances,
                               whole_tree_nrf)
from kb.lineage.nj import neighbor_joining
from kb.lineage.rooting import parse_newick, root_midpoint, root_outgroup
from kb.lineage.synthetic import synthetic_lineage


def test_doctests():
    result = doctest.testmod(rooting)
    assert result.attempted > 0 and result.failed == 0


def _random_matrix(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) * rng.uniform(0.2, 3, size=(n, 1))
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    return d, [f"m{i:03d}/{'q' if i % 7 == 0 else 'x'}'s" for i in range(n)]


def _tip_depths(newick: str) -> dict[str, float]:
    tree = Phylo.read(io.StringIO(newick), "newick")
    return {t.name: tree.distance(t) for t in tree.get_terminals()}


@pytest.mark.parametrize("seed", range(6))
def test_midpoint_rooting_matches_bio_phylo(seed):
    d, names = _random_matrix(25 + seed * 7, seed)
    text = neighbor_joining(d, names)
    ours = root_midpoint(parse_newick(text))
    theirs = Phylo.read(io.StringIO(text), "newick")
    theirs.root_at_midpoint()
    want = {t.name: theirs.distance(t) for t in theirs.get_terminals()}
    got = _tip_depths(ours.newick())
    assert got.keys() == want.keys()
    assert max(abs(got[k] - want[k]) for k in got) < 1e-6
    depth = ours.depths()
    tips = sorted(depth[i] for i in ours.leaves())
    assert tips[-1] == pytest.approx(max(want.values()))  # the two farthest leaves sit at half the diameter


def test_outgroup_rooting_puts_the_outgroup_alone_under_the_root():
    d, names = _random_matrix(12, 3)
    tree = root_outgroup(parse_newick(neighbor_joining(d, names)), names[5])
    kids = tree.children()
    assert len(kids[tree.root]) == 2
    assert names[5] in {tree.names[c] for c in kids[tree.root]}
    parsed = Phylo.read(io.StringIO(tree.newick()), "newick")
    assert len(parsed.root.clades) == 2 and names[5] in {c.name for c in parsed.root.clades}
    assert sorted(t.name for t in parsed.get_terminals()) == sorted(names)  # quoted labels survive
    unrooted_length = sum(w for adj in parse_newick(neighbor_joining(d, names)).adjacent for _, w in adj) / 2
    assert sum(tree.length) == pytest.approx(unrooted_length)  # rooting moves no length


def test_leaf_order_is_ladderized_and_deterministic():
    d, names = _random_matrix(30, 9)
    tree = root_midpoint(parse_newick(neighbor_joining(d, names)))
    assert [tree.names[i] for i in tree.leaves()] == [tree.names[i] for i in tree.leaves()]
    assert sorted(tree.names[i] for i in tree.leaves()) == sorted(names)


def test_choose_root():
    released = {"a": "2023-05-01", "b": "2021-01-01", "c": None}
    assert choose_root("auto", released, ["a", "b", "c"]) == ("earliest", "b")
    assert choose_root("auto", {}, ["a", "b"]) == ("midpoint", None)
    assert choose_root("outgroup:c", released, ["a", "b", "c"]) == ("outgroup", "c")
    with pytest.raises(InputError, match=r"^--root outgroup:z: 'z' is not among the tree's models$"):
        choose_root("outgroup:z", released, ["a"])
    with pytest.raises(InputError, match=r"no model in the tree has a release date"):
        choose_root("earliest", {}, ["a"])
    with pytest.raises(InputError, match=r"^--root must be auto, earliest, midpoint or outgroup:MODEL"):
        choose_root("oldest", released, ["a"])


def test_small_trees():
    one = build_tree(np.zeros((1, 1)), ["solo"])
    assert one.newick() == "solo;"
    two = build_tree(np.array([[0, 2.0], [2.0, 0]]), ["a", "b"], "midpoint")
    assert _tip_depths(two.newick()) == {"a": pytest.approx(1.0), "b": pytest.approx(1.0)}
    with pytest.raises(InputError, match="no models"):
        build_tree(np.zeros((0, 0)), [])


def test_selection():
    facts = {"a": {"family": "F", "released": "2023-01-01", "org": "Acme"},
             "b": {"family": "G", "released": None, "org": "acme"},
             "c": {"family": "F", "released": "2024-06-01", "org": "other"}}
    assert selected(facts, Selection()) == ["a", "b", "c"]
    assert selected(facts, Selection(families=("F",))) == ["a", "c"]
    assert selected(facts, Selection(since="2023-06-01")) == ["c"]
    assert selected(facts, Selection(until="2023-06-01")) == ["a"]
    assert selected(facts, Selection(orgs=("ACME",))) == ["a", "b"]


def test_a_synthetic_kb_tree_recovers_families_and_lines_up_with_time():
    lineage = synthetic_lineage(120, mean_family=20, seed=4)
    evs = lineage.evidence
    names = [e.id for e in evs]
    released = {e.id: e.released for e in evs}
    tree = build_tree(tree_distances(evs, "text"), names, "midpoint", released)
    nrf = whole_tree_nrf(tree.newick(), lineage.truth)
    assert 0.0 <= nrf < 0.6
    # every true family is one clade of the tree (families are far apart in the synthetic process)
    truth_splits = kb_splits(lineage.truth, names)
    from kb.lineage.nj import newick_splits

    leaves, splits = newick_splits(tree.newick())
    fams = {}
    for e, f in zip(evs, lineage.family):
        fams.setdefault(int(f), set()).add(e.id)
    for members in fams.values():
        if 2 <= len(members) <= len(names) - 2:
            side = frozenset(members)
            canon = (frozenset(leaves) - side) if min(leaves) in side else side
            assert canon in splits and canon in truth_splits
    rho, dated = time_signal(tree, released)
    assert dated == len(names) and rho is not None and -1 <= rho <= 1


def test_rf_is_zero_for_the_truth_itself_and_larger_for_a_shuffled_tree():
    truth = [("b", "a", "finetune"), ("c", "a", "finetune"), ("d", "b", "finetune"), ("e", "b", "finetune"),
             ("y", "x", "finetune"), ("z", "x", "finetune")]
    exact = "(((b,'d','e'),a,c),(x,y,z));"  # models as leaves: b's clade holds b itself
    assert whole_tree_nrf(exact, truth) == 0.0
    assert whole_tree_nrf("((d,x),(e,y),(a,z),(b,c));", truth) > 0.5
