import networkx as nx
import numpy as np
import pytest

from kb.channels.weights import SKETCH_K as SKETCH_BLOCK
from kb.lineage.evidence import ModelEvidence, channel_distances, pair_distances
from kb.lineage.infer import infer_lineage
from kb.lineage.families import families_from_labels
from kb.lineage.arborescence import edmonds_dense as _edmonds_dense
from kb.lineage.costs import channel_scales
from kb.lineage.merges import find_merges
from kb.lineage.parents import ParentOptions, family_parents, infer_parents
from kb.lineage.synthetic import synthetic_lineage


def ev(id: str, text=None, weights=None, loglik=None, **facts) -> ModelEvidence:
    """Evidence with the given channel vectors (None: the model lacks that channel)."""
    vectors = {"text": text, "weights": weights, "loglik": loglik}
    return ModelEvidence(id, {k: v for k, v in vectors.items() if v is not None}, **facts)


K2 = SKETCH_BLOCK * SKETCH_BLOCK


@pytest.mark.parametrize("seed", range(5))
def test_dense_edmonds_matches_networkx(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        m = int(rng.integers(2, 25))
        cost = rng.random((m, m))
        cost[rng.random((m, m)) < 0.3] = np.inf
        cost[:, 0] = 5 + rng.random(m)  # node 0 reaches everyone: an arborescence exists
        parent = _edmonds_dense(cost, 0)
        graph = nx.DiGraph()
        graph.add_weighted_edges_from((p, c, cost[c, p]) for c in range(1, m) for p in range(m)
                                      if c != p and np.isfinite(cost[c, p]))
        best = sum(d["weight"] for *_, d in nx.minimum_spanning_arborescence(graph).edges(data=True))
        assert parent[0] == -1
        assert sum(cost[c, parent[c]] for c in range(1, m)) == pytest.approx(best)


def _accuracy(lineage, edges):
    ids = [e.id for e in lineage.evidence]
    truth: dict[str, set[str]] = {}
    for c, p, _ in lineage.truth:
        truth.setdefault(c, set()).add(p)
    first: dict[str, str] = {}
    for e in edges:
        first.setdefault(ids[e.child], ids[e.parent])
    return np.mean([first.get(c) in ps for c, ps in truth.items()])


@pytest.mark.parametrize("sketches,dates,floor", [(True, True, 0.95), (True, False, 0.8),
                                                  (False, True, 0.85), (False, False, 0.75)])
def test_parents_on_a_synthetic_lineage(sketches, dates, floor):
    lin = synthetic_lineage(150, mean_family=12, sketches=sketches, dates=dates, seed=4)
    edges = infer_parents(lin.evidence, families_from_labels(lin.family))
    assert _accuracy(lin, edges) >= floor
    children = [e.child for e in edges if e.method == "arborescence"]
    assert len(children) == len(set(children)) == 150 - lin.family.max() - 1  # one root per family


def test_relations_from_weights():
    lin = synthetic_lineage(200, mean_family=12, sketches=True, seed=5)
    ids = [e.id for e in lin.evidence]
    truth = {(c, p): r for c, p, r in lin.truth}
    edges = infer_parents(lin.evidence, families_from_labels(lin.family))
    right = [truth[(ids[e.child], ids[e.parent])] == e.relation for e in edges
             if (ids[e.child], ids[e.parent]) in truth]
    assert np.mean(right) >= 0.9
    assert {e.channel for e in edges} <= {"weights", "loglik", "text"}
    assert all(e.channel != "weights" for e in edges if e.relation == "distill")


def _ev(name, sketch, precision="f32", released=None, text=None, sig="s"):
    return ev(name, text=np.zeros(4) if text is None else text, weights=sketch,
                         signature=sig, precision=precision, released=released)


def test_quantized_copy_is_the_child_even_without_dates():
    rng = np.random.default_rng(0)
    base = rng.normal(size=4 * K2)
    evs = [_ev("q4", base + 0.01 * rng.normal(size=base.size), "q4_0"), _ev("base", base, "bf16"),
           _ev("ft", base + 0.1 * rng.normal(size=base.size), "bf16")]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in edges}
    assert got == {"q4": ("base", "quantized"), "ft": ("base", "finetune")}


def test_merge_gets_two_parents_and_dates_bind():
    rng = np.random.default_rng(1)
    base = rng.normal(size=4 * K2)
    a = base + 0.2 * rng.normal(size=base.size)
    b = base + 0.2 * rng.normal(size=base.size)
    evs = [_ev("base", base, released="2023-01-01"), _ev("a", a, released="2023-02-01"),
           _ev("b", b, released="2023-03-01"), _ev("m", 0.4 * a + 0.6 * b, released="2023-04-01")]
    merges = find_merges(evs, channel_distances(evs))
    assert set(merges) == {3} and set(merges[3][:2]) == {1, 2}
    edges = family_parents(evs, channel_scales(evs))
    parents = {(evs[e.child].id, evs[e.parent].id): e.relation for e in edges}
    assert parents == {("a", "base"): "finetune", ("b", "base"): "finetune",
                       ("m", "a"): "merge", ("m", "b"): "merge"}
    # a merge released before one of its parents cannot be one
    evs[3].released = "2023-02-15"
    assert find_merges(evs, channel_distances(evs)) == {}


def test_dates_forbid_later_parents_and_declarations_count():
    t = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    evs = [ev(n, text=t[i], released=d) for i, (n, d) in
           enumerate([("x", "2024-03-01"), ("y", "2024-01-01"), ("z", "2024-02-01")])]
    edges = family_parents(evs, channel_scales(evs))
    got = {evs[e.child].id: evs[e.parent].id for e in edges}
    assert got == {"z": "y", "x": "y"}  # y, earliest, is the root though x is nearer to it
    # two equidistant candidates: the declared one wins
    evs = [ev("p1", text=np.array([0.0, 1.0])), ev("p2", text=np.array([0.0, -1.0])),
           ev("c", text=np.array([0.0, 0.0]), declared_parents=[("p2", "finetune")])]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    assert {evs[e.child].id: evs[e.parent].id for e in edges}["c"] == "p2"


def test_gguf_copies_and_a_distilled_student_attach_like_the_zoo():
    """The zoo's pattern: f16 and q8_0 GGUFs of an f32 base, a q4_0 made from the f16 GGUF, a
    fine-tune, and a student of the same architecture distilled from the base (far in weights)."""
    rng = np.random.default_rng(3)
    n = 63 * K2
    base = rng.normal(size=n)
    f16 = base + 5e-4 * rng.normal(size=n)
    text = rng.normal(size=32)
    evs = [
        _ev("base", base, "F32", text=text),
        _ev("base-f16", f16, "F16", text=text + 1e-4 * rng.normal(size=32)),
        _ev("base-q8_0", base + 4e-3 * rng.normal(size=n), "Q8_0", text=text + 1e-3 * rng.normal(size=32)),
        _ev("base-q4_0", f16 + 0.1 * rng.normal(size=n), "Q4_0", text=text + 0.05 * rng.normal(size=32)),
        _ev("ft", base + 0.2 * rng.normal(size=n), "F32", text=text + 1.0 * rng.normal(size=32)),
        _ev("student", rng.normal(size=n), "F32", text=text + 0.3 * rng.normal(size=32)),
        _ev("other", rng.normal(size=n), "F32", text=rng.normal(size=32) * 1.5),
    ]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in edges}
    assert got["base-f16"] == ("base", "quantized")
    assert got["base-q8_0"] == ("base", "quantized")
    assert got["base-q4_0"] == ("base-f16", "quantized")
    assert got["ft"] == ("base", "finetune")
    assert got["student"] == ("base", "distill")
    assert "base" not in got


@pytest.mark.parametrize("noise", [3e-12, -3e-12])
def test_a_tie_up_to_float_noise_is_decided_the_same_way_whatever_the_noise(noise):
    """Two copies of one model, equally far from a child up to rounding (as two machines' float
    arithmetic may leave them): the same parent and root either way, the first by id."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=4 * K2)
    child = base + 0.1 * rng.normal(size=base.size)
    copy = base.copy()
    copy[:K2] *= 1 + noise
    evs = [ev(n, text=np.zeros(3), weights=v, signature="s", precision="f16")
           for n, v in (("m/a", base), ("m/b", copy), ("m/c", child))]
    edges = family_parents(evs, channel_scales(evs))
    assert sorted((evs[e.child].id, evs[e.parent].id) for e in edges) == [("m/b", "m/a"), ("m/c", "m/a")]


def _copies(fmt_f16: str | None = "gguf"):
    """An f32 checkpoint, its f16 GGUF, a q4_0 quantized from the f16 GGUF, and a fine-tune of the
    checkpoint; the q4_0 is as near the f32 as the f16 up to its own rounding, either way round."""
    rng = np.random.default_rng(11)
    n = 16 * K2
    base = rng.normal(size=n)
    f16 = base + 1e-4 * rng.normal(size=n)
    q4 = base + 0.08 * rng.normal(size=n)  # no closer to f16 than to the checkpoint
    text = rng.normal(size=16)
    return [ev("m/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
            ev("m/base-f16", text=text, weights=f16, signature="s", precision="f16", fmt=fmt_f16),
            ev("m/base-q4_0", text=text, weights=q4, signature="s", precision="q4_0", fmt="gguf"),
            ev("m/ft", text=text + 1.0, weights=base + 0.2 * rng.normal(size=n), signature="s",
               precision="f32", fmt="hf")]


@pytest.mark.parametrize("dates", [True, False])
def test_copies_are_told_apart_by_how_files_are_made_not_by_rounding_noise(dates):
    """Among copies of one model a quantized GGUF comes from the float GGUF, a fine-tune from the
    checkpoint, and a copy is never the root while its source is present."""
    evs = _copies()
    if dates:
        for e, day in zip(evs, ("2024-01-01", "2024-01-02", "2024-01-03", "2024-02-01")):
            e.released = day
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=dates))
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in edges}
    assert got == {"m/base-f16": ("m/base", "quantized"), "m/base-q4_0": ("m/base-f16", "quantized"),
                   "m/ft": ("m/base", "finetune")}


def test_near_identical_weights_in_the_same_format_are_no_quantization():
    """Closeness alone is not a quantization (a real model's fine-tune moves its weights by a small
    fraction): the same format and precision make it a fine-tune, a format change a conversion."""
    evs = _copies(fmt_f16="hf")
    evs[1].precision = "f32"
    edges = family_parents(evs[:2], channel_scales(evs[:2]), ParentOptions(use_dates=False))
    assert [(evs[e.child].id, e.relation) for e in edges] == [("m/base-f16", "finetune")]
    evs[1].fmt = "gguf"
    edges = family_parents(evs[:2], channel_scales(evs[:2]), ParentOptions(use_dates=False))
    assert [(evs[e.child].id, e.relation) for e in edges] == [("m/base-f16", "quantized")]


def test_a_strong_merged_lora_is_kin_by_its_low_rank_difference():
    """A merged LoRA can move the weights as far as an unrelated model; its difference stays low-rank,
    which independent models never show: one family, the right parent, an adapter."""
    rng = np.random.default_rng(5)
    blocks = 8
    base = rng.normal(size=(blocks, 16, 16))
    lora = base.copy()
    for b in range(blocks):  # rank 2 in every block, as large as the weights themselves
        lora[b] += 1.5 * rng.normal(size=(16, 2)) @ rng.normal(size=(2, 16)) / np.sqrt(2)
    other = rng.normal(size=(blocks, 16, 16))
    text = rng.normal(size=8)
    evs = [ev("l/base", text=text, weights=base.ravel(), signature="s", precision="f32", released="2024-01-01"),
           ev("l/lora", text=text + 1.0, weights=lora.ravel(), signature="s", precision="f32", released="2024-02-01"),
           ev("l/other", text=text + 3 * rng.normal(size=8), weights=other.ravel(), signature="s",
              precision="f32", released="2024-01-15")]
    scales = channel_scales(evs)
    assert pair_distances(evs[0], evs[1])["weights"] / np.sqrt(2) > 0.6  # far by distance alone
    result = infer_lineage(evs, use_declared=False)
    got = {(e.child, e.parent, e.relation) for e in result.edges}
    assert ("l/lora", "l/base", "adapter") in got
    family = {m.model: m.family for m in result.memberships}
    assert family["l/lora"] == family["l/base"] != family["l/other"]
    assert scales["weights"] == pytest.approx(np.sqrt(2))


@pytest.mark.parametrize("dates", [True, False])
def test_seed_twins_are_siblings_not_parent_and_child(dates):
    """Two fine-tunes of one base on the same data with other seeds move alike (each nearer the other
    than the base), and a chain of fine-tunes stays a chain: the tree metric tells them apart."""
    rng = np.random.default_rng(9)
    n = 16 * K2
    base = rng.normal(size=n)
    shared = 0.3 * rng.normal(size=n)  # the data's direction, common to both twins
    twin_a = base + shared + 0.12 * rng.normal(size=n)
    twin_b = base + shared + 0.12 * rng.normal(size=n)
    step1 = base + 0.3 * rng.normal(size=n)
    step2 = step1 + 0.3 * rng.normal(size=n)
    text = rng.normal(size=8)
    models = [("t/base", base, "2024-01-01"), ("t/twin-a", twin_a, "2024-02-01"), ("t/twin-b", twin_b, "2024-02-09"),
              ("t/step1", step1, "2024-02-03"), ("t/step2", step2, "2024-03-01")]
    evs = [ev(name, text=text + k, weights=w, signature="s", precision="f32", released=day if dates else None)
           for k, (name, w, day) in enumerate(models)]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=dates))
    got = {evs[e.child].id: evs[e.parent].id for e in edges}
    assert got["t/twin-a"] == got["t/twin-b"] == "t/base"
    assert got["t/step2"] == "t/step1" and got["t/step1"] == "t/base"


def test_each_edge_says_what_set_its_direction():
    """Without dates only a copy's (and a merge's) direction is known; the rest say "uncertain"."""
    evs = _copies()
    undated = {evs[e.child].id: e.direction for e in family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))}
    assert undated == {"m/base-f16": "copy", "m/base-q4_0": "copy", "m/ft": "uncertain"}
    for e, day in zip(evs, ("2024-01-01", "2024-01-01", "2024-01-03", "2024-02-01")):
        e.released = day
    dated = {evs[e.child].id: e.direction for e in family_parents(evs, channel_scales(evs), ParentOptions())}
    assert dated == {"m/base-f16": "copy", "m/base-q4_0": "date", "m/ft": "date"}
