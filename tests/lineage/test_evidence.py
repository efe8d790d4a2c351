import numpy as np
import pytest

from kb.errors import InputError
from kb.channels.weights import SKETCH_K as SKETCH_BLOCK
from kb.channels.weights import difference_rank_profile, is_low_rank_difference
from kb.lineage.evidence import ModelEvidence, channel_distances, pair_distances, precision_rank
from kb.records import DeclaredEdge, ModelRecord


def ev(id: str, text=None, weights=None, loglik=None, **facts) -> ModelEvidence:
    """Evidence with the given channel vectors (None: the model lacks that channel)."""
    vectors = {"text": text, "weights": weights, "loglik": loglik}
    return ModelEvidence(id, {k: v for k, v in vectors.items() if v is not None}, **facts)

K2 = SKETCH_BLOCK * SKETCH_BLOCK


def test_channels_apply_only_where_both_models_have_them():
    rng = np.random.default_rng(0)
    a = ev("a", text=rng.normal(size=8), weights=rng.normal(size=2 * K2), signature="s")
    b = ev("b", text=rng.normal(size=8), weights=rng.normal(size=2 * K2), signature="s")
    c = ev("c", text=rng.normal(size=8), weights=rng.normal(size=2 * K2), signature="t")
    d = ev("d", text=rng.normal(size=8), loglik=rng.normal(size=4))
    ch = channel_distances([a, b, c, d])
    assert np.isfinite(ch["weights"][0, 1]) and np.isnan(ch["weights"][0, 2]) and np.isnan(ch["weights"][0, 3])
    assert np.isnan(ch["loglik"][0, 3]) and ch["loglik"][3, 3] == 0
    assert np.allclose(ch["text"], ch["text"].T) and np.all(np.isfinite(ch["text"]))
    assert set(pair_distances(a, b)) == {"text", "weights"}
    assert set(pair_distances(a, c)) == {"text"}
    assert pair_distances(a, b)["text"] == pytest.approx(np.linalg.norm(a.text - b.text))


def test_weight_distance_is_scale_free_and_unrelated_is_sqrt2():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=64 * K2), rng.normal(size=64 * K2)
    d1 = pair_distances(ev("a", weights=x, signature="s"), ev("b", weights=y, signature="s"))
    d2 = pair_distances(ev("a", weights=10 * x, signature="s"), ev("b", weights=10 * y, signature="s"))
    assert d1["weights"] == pytest.approx(d2["weights"])
    assert d1["weights"] == pytest.approx(np.sqrt(2), rel=0.02)


def test_rank_profile_tells_an_adapter_from_a_finetune():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(5, SKETCH_BLOCK, SKETCH_BLOCK))
    lora = base.copy()
    lora[1] += rng.normal(size=(SKETCH_BLOCK, 2)) @ rng.normal(size=(2, SKETCH_BLOCK))  # rank 2
    lora[2] += rng.normal(size=(SKETCH_BLOCK, 2)) @ rng.normal(size=(2, SKETCH_BLOCK))
    full = base + 0.1 * rng.normal(size=base.shape)
    prof = difference_rank_profile(lora.ravel(), base.ravel())
    assert np.isnan(prof[0]) and np.isnan(prof[3]) and np.isnan(prof[4])  # untouched matrices
    assert prof[1] == 2 and prof[2] == 2
    assert is_low_rank_difference(prof)
    full_prof = difference_rank_profile(full.ravel(), base.ravel())
    assert np.nanmedian(full_prof) >= 12 and not is_low_rank_difference(full_prof)


def test_bad_sketches_are_refused_with_the_layout_named():
    with pytest.raises(InputError, match="not a whole number of 16x16 blocks"):
        difference_rank_profile(np.ones(K2 + 3), np.ones(K2 + 3))
    with pytest.raises(InputError, match="signature"):
        ev("a", weights=np.ones(K2))
    with pytest.raises(InputError, match="NaN"):
        ev("a", text=np.array([1.0, np.nan]))


def test_from_record_keeps_only_its_own_declarations():
    rec = ModelRecord(id="c", dna=[0.0, 1.0], protocol="p", channels={"weights": [0.0] * K2}, signature="s",
                      precision="Q4_0", released="2024-01-02")
    ev = ModelEvidence.from_record(rec, [DeclaredEdge("c", "p", "quantized"), DeclaredEdge("x", "y")])
    assert ev.declared_parents == [("p", "quantized")]
    assert ev.vector("weights").size == K2 and ev.vector("loglik") is None and ev.signature == "s"
    assert precision_rank(ev.precision) < precision_rank("f16") < precision_rank("F32")


def test_weight_distance_weighs_matrices_alike():
    """One matrix with large weights (norms would be such, were they sketched) cannot dominate: every
    block counts by its relative distance."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(5, K2))
    base[-1] *= 100
    child = base.copy()
    child[:-1] += 0.1 * rng.normal(size=(4, K2))
    sibling = base.copy()
    sibling[:-1] += 0.1 * rng.normal(size=(4, K2))
    d = channel_distances([ev(n, weights=v.ravel(), signature="s")
                           for n, v in (("base", base), ("child", child), ("sibling", sibling))])["weights"]
    assert d[1, 0] < d[1, 2]  # the parent is nearer than the sibling
    assert d[1, 0] == pytest.approx(0.1 * np.sqrt(4 / 5), rel=0.1)  # RMS over 5 blocks, 4 moved by 0.1
