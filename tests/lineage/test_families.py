import numpy as np
import pytest

from kb.errors import InputError
from kb.lineage.families import families_from_labels, hdbscan_families


def test_blobs_become_families_and_outliers_singletons():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (10, 8)), rng.normal(5, 0.1, (8, 8)), [[50.0] * 8], [[-50.0] * 8]])
    fam = hdbscan_families(x, min_cluster_size=3)
    labels = fam.labels
    assert len(set(labels[:10])) == 1 and len(set(labels[10:18])) == 1 and labels[0] != labels[10]
    assert labels[18] != labels[19] and fam.n_noise == 2 and fam.n_families == 4
    assert fam.probability[18] == 1.0 and np.all((fam.probability >= 0) & (fam.probability <= 1))
    assert sorted(len(m) for m in fam.members()) == [1, 1, 8, 10]


def test_precomputed_and_epsilon_keep_a_family_whole():
    # a family = two tight pairs 0.3 apart; another far away. Without epsilon EOM splits the pairs.
    pts = np.array([0.0, 0.01, 0.3, 0.31, 5.0, 5.01, 5.3, 5.31])
    d = np.abs(pts[:, None] - pts[None, :])
    split = hdbscan_families(d, metric="precomputed")
    whole = hdbscan_families(d, metric="precomputed", epsilon=1.0)
    assert split.n_families == 4
    assert whole.n_families == 2 and len(set(whole.labels[:4])) == 1


def test_tiny_and_degenerate_inputs():
    assert hdbscan_families(np.zeros((1, 4))).labels.tolist() == [0]
    assert hdbscan_families(np.zeros((2, 4))).labels.tolist() == [0, 0]
    assert hdbscan_families(np.array([[0.0], [1.0]])).labels.tolist() == [0, 1]
    same = hdbscan_families(np.ones((6, 3)))
    assert same.n_families == 1
    with pytest.raises(InputError, match="min_cluster_size"):
        hdbscan_families(np.zeros((3, 2)), min_cluster_size=1)
    with pytest.raises(InputError, match="NaN"):
        hdbscan_families(np.array([[np.nan], [1.0], [2.0]]))


def test_labels_wrapper_makes_noise_singletons():
    fam = families_from_labels(np.array([3, 3, -1, 7, -1]))
    assert fam.labels.tolist() == [0, 0, 2, 1, 3]


def _same_data_bases(n_others: int = 12) -> list:
    """x/base, y/base: one architecture and shape, independently initialised, each with two fine-tunes,
    all trained on the same data (log-likelihood profiles alike across the pair as within a family);
    then `n_others` unrelated models of other architectures (what unrelated behaviour looks like)."""
    from kb.lineage.evidence import ModelEvidence

    rng = np.random.default_rng(2)
    n = 8 * 256
    behaviour = rng.normal(size=64)
    evs = []
    for base in ("x", "y"):
        w = rng.normal(size=n)
        for k, name in enumerate(("base", "ft1", "ft2")):
            weights = w if k == 0 else w + 0.3 * rng.normal(size=n)
            evs.append(ModelEvidence(f"{base}/{name}", {"text": rng.normal(size=16),
                                                        "loglik": behaviour + 0.2 * rng.normal(size=64),
                                                        "weights": weights},
                                     signature="same-shape", precision="f32", fmt="hf"))
    for k in range(n_others):
        evs.append(ModelEvidence(f"z/other{k}", {"text": rng.normal(size=16), "loglik": rng.normal(size=64),
                                                 "weights": rng.normal(size=n // 2)},
                                 signature=f"other{k}", precision="f32"))
    return evs


def test_independent_initialisations_stay_apart_however_alike_they_behave():
    """The two bases behave alike, but their weights are independent (√2 apart), and independent
    initialisations share no history."""
    from kb.lineage.infer import infer_lineage

    result = infer_lineage(_same_data_bases(), trees=False, use_declared=False)
    family = {m.model: m.family for m in result.memberships}
    assert family["x/ft1"] == family["x/ft2"] == family["x/base"]
    assert family["y/ft1"] == family["y/ft2"] == family["y/base"]
    assert family["x/base"] != family["y/base"]
    assert not [e for e in result.edges if e.child[0] != e.parent[0] and "z" not in (e.child[0], e.parent[0])]


def test_an_edge_the_evidence_calls_unrelated_is_cut_even_where_clustering_joined_the_two():
    """Clustering may put the two independently initialised bases (with their fine-tunes) and a model
    of another architecture that behaves no closer than the same-data null in one family, and the
    family's arborescence must then reach them all. The evidence says they share no history, so
    those edges are cut: each heads a family of its own, and every fine-tune keeps its base."""
    from kb.lineage.families import families_from_labels
    from kb.lineage.infer import infer_lineage

    joined = families_from_labels(np.array([0] * 7 + list(range(1, 12))))  # x, y and z/other0 together
    result = infer_lineage(_same_data_bases(), trees=False, use_declared=False, families=joined)
    parent = {e.child: e.parent for e in result.edges}
    assert {c: parent.get(c) for c in ("x/ft1", "x/ft2", "y/ft1", "y/ft2")} == {
        "x/ft1": "x/base", "x/ft2": "x/base", "y/ft1": "y/base", "y/ft2": "y/base"}
    assert "x/base" not in parent and "y/base" not in parent and "z/other0" not in parent
    family = {m.model: m.family for m in result.memberships}
    assert len({family["x/base"], family["y/base"], family["z/other0"]}) == 3
    assert {f.id: f.root for f in result.families}[family["y/ft1"]] == "y/base"


def test_families_split_only_where_an_edge_is_missing():
    from kb.lineage.families import families_from_labels, split_at_roots

    fams = families_from_labels(np.array([1, 1, 0, 0, 0]))
    kept = split_at_roots(fams, [(1, 0), (3, 2), (4, 2)])
    assert kept.labels.tolist() == fams.labels.tolist()
    cut = split_at_roots(fams, [(1, 0), (4, 2)])  # model 3 lost its edge
    assert cut.labels.tolist() == [2, 2, 0, 1, 0] and cut.n_families == 3
