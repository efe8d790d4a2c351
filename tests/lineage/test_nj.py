from io import StringIO

import numpy as np
import pytest

from kb.errors import InputError
from kb.lineage.nj import (
    genealogy_splits,
    neighbor_joining,
    newick_splits,
    restrict_splits,
    robinson_foulds,
)

# Saitou & Nei's method on the 5-taxon example of Wikipedia's "Neighbor joining" article:
# a–u 2, b–u 3, u–v 3, c–v 4, v–w 2, d–w 2, e–w 1.
WIKI = np.array([[0, 5, 9, 9, 8], [5, 0, 10, 10, 9], [9, 10, 0, 8, 7],
                 [9, 10, 8, 0, 3], [8, 9, 7, 3, 0]], dtype=float)


def _bio_nj(d, names):
    from Bio import Phylo
    from Bio.Phylo.TreeConstruction import DistanceMatrix, DistanceTreeConstructor

    lower = [[float(d[i, j]) for j in range(i + 1)] for i in range(len(names))]
    tree = DistanceTreeConstructor().nj(DistanceMatrix(list(names), lower))
    out = StringIO()
    Phylo.write(tree, out, "newick")
    return out.getvalue()


def _branch_lengths(newick):
    from Bio import Phylo

    tree = Phylo.read(StringIO(newick), "newick")
    return {c.name: c.branch_length for c in tree.get_terminals()}


def test_published_five_taxon_example():
    tree = neighbor_joining(WIKI, list("abcde"))
    assert _branch_lengths(tree) == {"a": 2, "b": 3, "c": 4, "d": 2, "e": 1}
    leaves, splits = newick_splits(tree)
    assert splits == {frozenset("cde"), frozenset("de")}  # ab|cde and abc|de, sides without "a"
    assert tree.count("(") == 3  # unrooted: a trifurcation at the top


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_tree_as_biopython_ignoring_node_order(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, 5))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    names = [f"m{i}" for i in range(12)]
    ours = newick_splits(neighbor_joining(d, names))
    theirs = newick_splits(_bio_nj(d, names))
    assert ours[0] == theirs[0]
    assert robinson_foulds(ours[1], theirs[1]) == (0, 0.0)


def test_additive_tree_is_recovered():
    # genealogy root r with children a, b; a has children c, d: models as leaves, unit branches
    names = ["r", "a", "b", "c", "d", "e"]
    parent = {"a": "r", "b": "r", "c": "a", "d": "a", "e": "b"}
    def depth_path(x):
        path = [x]
        while path[-1] in parent:
            path.append(parent[path[-1]])
        return path
    d = np.zeros((6, 6))
    for i, x in enumerate(names):
        for j, y in enumerate(names):
            px, py = depth_path(x), depth_path(y)
            common = next(z for z in px if z in py)
            d[i, j] = px.index(common) + py.index(common)
    _, splits = newick_splits(neighbor_joining(d + 0.01 * (1 - np.eye(6)), names))
    truth = genealogy_splits(parent, names)
    assert truth <= splits  # every true split found (NJ also resolves the polytomies)


def test_small_inputs_and_names():
    assert neighbor_joining(np.zeros((1, 1)), ["x"]) == "(x);"
    assert neighbor_joining(np.array([[0, 2.0], [2.0, 0]]), ["a b", "c"]) == "('a b':1,c:1);"
    tree = neighbor_joining(WIKI, ["org/m:1", "it's", "c", "d", "e"])
    leaves, _ = newick_splits(tree)
    assert leaves == {"org/m:1", "it's", "c", "d", "e"}
    with pytest.raises(InputError, match="symmetric"):
        neighbor_joining(np.array([[0, 1.0], [2.0, 0]]), ["a", "b"])


def test_restricted_splits_and_normalised_rf():
    leaves, splits = newick_splits("((a,b),(c,d),(e,f));")
    kept = restrict_splits(splits, leaves, frozenset("abcd"))
    assert kept == {frozenset("cd")} or kept == {frozenset("ab")}
    assert robinson_foulds({frozenset("ab")}, {frozenset("ab"), frozenset("abc")}) == (1, 1 / 3)
