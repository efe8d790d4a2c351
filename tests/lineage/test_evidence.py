import numpy as np
import pytest

from kb.errors import InputError
from kb.lineage.evidence import (
    SKETCH_BLOCK,
    ModelEvidence,
    channel_distances,
    difference_rank_profile,
    is_low_rank_difference,
    pair_distances,
    precision_rank,
)
from kb.records import DeclaredEdge, ModelRecord

K2 = SKETCH_BLOCK * SKETCH_BLOCK


def test_block_size_agrees_with_the_producer():
    from kb.evidence_math import SKETCH_K

    assert SKETCH_BLOCK == SKETCH_K


def test_channels_apply_only_where_both_models_have_them():
    rng = np.random.default_rng(0)
    a = ModelEvidence("a", text_dna=rng.normal(size=8), sketch=rng.normal(size=2 * K2), signature="s")
    b = ModelEvidence("b", text_dna=rng.normal(size=8), sketch=rng.normal(size=2 * K2), signature="s")
    c = ModelEvidence("c", text_dna=rng.normal(size=8), sketch=rng.normal(size=2 * K2), signature="t")
    d = ModelEvidence("d", text_dna=rng.normal(size=8), loglik=rng.normal(size=4))
    ch = channel_distances([a, b, c, d])
    assert np.isfinite(ch["weights"][0, 1]) and np.isnan(ch["weights"][0, 2]) and np.isnan(ch["weights"][0, 3])
    assert np.isnan(ch["loglik"][0, 3]) and ch["loglik"][3, 3] == 0
    assert np.allclose(ch["text"], ch["text"].T) and np.all(np.isfinite(ch["text"]))
    assert set(pair_distances(a, b)) == {"text", "weights"}
    assert set(pair_distances(a, c)) == {"text"}
    assert pair_distances(a, b)["text"] == pytest.approx(np.linalg.norm(a.text_dna - b.text_dna))


def test_weight_distance_is_scale_free_and_unrelated_is_sqrt2():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=64 * K2), rng.normal(size=64 * K2)
    d1 = pair_distances(ModelEvidence("a", sketch=x, signature="s"), ModelEvidence("b", sketch=y, signature="s"))
    d2 = pair_distances(ModelEvidence("a", sketch=10 * x, signature="s"), ModelEvidence("b", sketch=10 * y, signature="s"))
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
    assert np.isnan(prof[0]) and np.isnan(prof[3]) and np.isnan(prof[4])  # untouched, vector block
    assert prof[1] == 2 and prof[2] == 2
    assert is_low_rank_difference(prof)
    full_prof = difference_rank_profile(full.ravel(), base.ravel())
    assert np.nanmedian(full_prof) >= 12 and not is_low_rank_difference(full_prof)


def test_bad_sketches_are_refused_with_the_layout_named():
    with pytest.raises(InputError, match="SKETCH_BLOCK=16"):
        difference_rank_profile(np.ones(K2 + 3), np.ones(K2 + 3))
    with pytest.raises(InputError, match="signature"):
        ModelEvidence("a", sketch=np.ones(K2))
    with pytest.raises(InputError, match="NaN"):
        ModelEvidence("a", text_dna=np.array([1.0, np.nan]))


def test_from_record_keeps_only_its_own_declarations():
    rec = ModelRecord(id="c", dna=[0.0, 1.0], protocol="p", sketch=[0.0] * K2, signature="s",
                      precision="Q4_0", released="2024-01-02")
    ev = ModelEvidence.from_record(rec, [DeclaredEdge("c", "p", "quantized"), DeclaredEdge("x", "y")])
    assert ev.declared_parents == [("p", "quantized")]
    assert ev.sketch.size == K2 and ev.loglik is None and ev.signature == "s"
    assert precision_rank(ev.precision) < precision_rank("f16") < precision_rank("F32")


def test_weight_distance_weighs_matrices_alike_and_ignores_the_vector_block():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(5, K2))
    base[-1] *= 100  # the folded 1-D tensors (norms ≈ 1 everywhere) dwarf the matrix blocks
    child = base.copy()
    child[:-1] += 0.1 * rng.normal(size=(4, K2))
    sibling = base.copy()
    sibling[:-1] += 0.1 * rng.normal(size=(4, K2))
    child[-1] += 5 * rng.normal(size=K2)  # both shift their norms the same way
    sibling[-1] = child[-1]
    d = channel_distances([ModelEvidence(n, sketch=v.ravel(), signature="s")
                           for n, v in (("base", base), ("child", child), ("sibling", sibling))])["weights"]
    assert d[1, 0] < d[1, 2]  # the parent is nearer than the sibling
    assert d[1, 0] == pytest.approx(0.1, rel=0.1)  # RMS of per-matrix relative distances
