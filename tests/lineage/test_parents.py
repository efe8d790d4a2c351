import networkx as nx
import numpy as np
import pytest

from kb.errors import InputError
from kb.channels.weights import SKETCH_K as SKETCH_BLOCK
from kb.lineage.evidence import ModelEvidence, channel_distances, pair_distances
from kb.lineage.infer import infer_lineage
from kb.lineage.families import families_from_labels
from kb.lineage.arborescence import arborescence, edmonds_dense as _edmonds_dense, edmonds_sparse
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


@pytest.mark.parametrize("seed", range(5))
def test_sparse_edmonds_finds_the_dense_optimum(seed):
    """Integer costs make ties (and cycles of equal edges) common: the sum must still be the optimum."""
    rng = np.random.default_rng(seed)
    for trial in range(60):
        m = int(rng.integers(2, 40))
        cost = rng.random((m, m)) if trial % 2 else rng.integers(0, 4, (m, m)).astype(float)
        cost[rng.random((m, m)) < 0.5] = np.inf
        cost[:, 0] = 5 + rng.random(m)
        np.fill_diagonal(cost, np.inf)
        cs, ps = np.nonzero(np.isfinite(cost))
        parent = edmonds_sparse(m, cs, ps, cost[cs, ps], 0)
        dense = _edmonds_dense(cost, 0)
        assert parent[0] == -1
        for c in range(1, m):  # a tree: every chain reaches the root
            chain = {c}
            node = int(parent[c])
            while node != 0:
                assert node not in chain
                chain.add(node)
                node = int(parent[node])
        assert sum(cost[c, parent[c]] for c in range(1, m)) == pytest.approx(
            sum(cost[c, dense[c]] for c in range(1, m)))


def test_sparse_edmonds_refuses_an_unreachable_node():
    with pytest.raises(InputError, match="no spanning arborescence"):
        edmonds_sparse(3, np.array([1]), np.array([0]), np.array([1.0]), 0)


def test_a_large_family_takes_the_sparse_path_to_the_same_tree():
    """Above `dense_max` the solve runs on each child's nearest candidates: on a tree metric the
    nearest parents hold the optimum, so the tree is the dense one."""
    rng = np.random.default_rng(3)
    m = 200
    parent_true = np.array([-1] + [int(rng.integers(0, c)) for c in range(1, m)])
    x = np.zeros((m, 8))
    for c in range(1, m):
        x[c] = x[parent_true[c]] + rng.normal(size=8)
    cost = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(cost, np.inf)
    root_cost = np.arange(m, dtype=float)
    dense = arborescence(cost, root_cost)
    sparse = arborescence(cost, root_cost, dense_max=10, k_candidates=15)
    assert (sparse == dense).all()


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
    merges = find_merges(evs, channel_distances(evs), classes=np.arange(4))  # no two are copies
    assert set(merges) == {3} and set(merges[3][:2]) == {1, 2}
    edges = family_parents(evs, channel_scales(evs))
    parents = {(evs[e.child].id, evs[e.parent].id): e.relation for e in edges}
    assert parents == {("a", "base"): "finetune", ("b", "base"): "finetune",
                       ("m", "a"): "merge", ("m", "b"): "merge"}
    # a merge released before one of its parents cannot be one
    evs[3].released = "2023-02-15"
    assert find_merges(evs, channel_distances(evs), classes=np.arange(4)) == {}


def _bf16_merge(precision: str = "bf16") -> list[ModelEvidence]:
    """Three fine-tunes of a real-sized base (0.5% apart, as 40 steps at lr 1e-4 move SmolLM2-135M) and
    the 50/50 merge of two of them, rounded once to its number format (bf16: 0.13% of the weights)."""
    rng = np.random.default_rng(31)
    base = rng.normal(size=16 * K2)
    fts = [base + 5e-3 * rng.normal(size=base.size) for _ in range(3)]
    merge = (fts[0] + fts[1]) / 2 + 1.3e-3 * rng.normal(size=base.size)
    text = rng.normal(size=8)
    return [ev(n, text=text + i, weights=w, signature="s", precision=precision if n == "m" else "bf16", fmt="hf")
            for i, (n, w) in enumerate((("base", base), ("a", fts[0]), ("b", fts[1]), ("c", fts[2]), ("m", merge)))]


def test_a_merge_saved_in_bf16_lies_on_its_segment_up_to_bf16_rounding():
    """Between fine-tunes of a real model the segment is only a few roundings long: the rounding of the
    merge's own format is allowed for, and only that (the same height in an f32 file is not a merge)."""
    evs, distinct = _bf16_merge(), np.arange(5)  # no two are copies (copies.copy_classes)
    merges = find_merges(evs, channel_distances(evs), use_dates=False, classes=distinct)
    assert set(merges) == {4} and set(merges[4][:2]) == {1, 2}
    assert find_merges(_bf16_merge("f32"), channel_distances(evs), use_dates=False, classes=distinct) == {}


def test_a_segment_as_short_as_the_rounding_calls_nothing_a_merge():
    """A short fine-tune of a real model (0.24% of the weights) and its seed twin, saved in bf16: the
    twin sits 0.7 of the segment's length off it, below the 0.71 that rounding alone would allow, yet
    it is a sibling. Where rounding could lift a model half-way up, the segment decides nothing."""
    rng = np.random.default_rng(41)
    base = rng.normal(size=16 * K2)
    step = rng.normal(size=base.size)
    step *= 0.00242 * np.linalg.norm(base) / np.linalg.norm(step)
    off = rng.normal(size=base.size)
    off -= (off @ step) / (step @ step) * step
    off *= 0.7 * np.linalg.norm(step) / np.linalg.norm(off)
    text = rng.normal(size=8)
    evs = [ev(n, text=text + i, weights=w, signature="s", precision="bf16", fmt="hf")
           for i, (n, w) in enumerate((("base", base), ("ft", base + step), ("twin", base + 0.3 * step + off)))]
    assert find_merges(evs, channel_distances(evs), use_dates=False, classes=np.arange(3)) == {}


@pytest.mark.parametrize("seed", range(3))
def test_a_merge_is_never_an_ancestor_of_its_own_parents(seed):
    """Undated, the merge of two fine-tunes is the medoid of their family, and a seed twin of one parent
    (same data: a correlated update) sits nearer the merge than the base does. Cheapest, the tree hangs
    the twin, the parent and the base below the merge; both merge parents must still come before it."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=16 * K2)
    da, db = (5e-3 * rng.normal(size=base.size) for _ in range(2))
    models = (("base", base), ("a", base + da), ("b", base + db),
              ("twin", base + 0.7 * da + 3.5e-3 * rng.normal(size=base.size)),
              ("m", base + (da + db) / 2 + 1.3e-3 * rng.normal(size=base.size)))
    evs = [ev(n, text=np.full(4, float(i)), weights=w, signature="s", precision="bf16", fmt="hf")
           for i, (n, w) in enumerate(models)]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    parents: dict[str, set[str]] = {}
    for e in edges:
        parents.setdefault(evs[e.child].id, set()).add(evs[e.parent].id)
    assert parents["m"] == {"a", "b"}
    for start in ("a", "b"):
        node = start
        while node in parents:
            node = min(parents[node])
            assert node != "m"


def test_no_cycle_through_a_merges_second_parent():
    """Tree edges (child <- parent): ft <- m2, m1 <- base, x <- m1, y <- x, m2 <- base, where m1 merges
    base and ft and m2 merges base and y. The tree has no cycle, and no merge parent sits on a tree
    path below its merge; with the merges' second edges (m1 <- ft, m2 <- y) the lineage runs
    m2 -> ft -> m1 -> x -> y -> m2. The cycle must be found, and a tree edge on it cut."""
    from kb.lineage.parents import _merge_parents_below

    base, ft, m1, x, y, m2 = range(6)
    parent = np.array([-1, m2, base, m1, x, base])
    merges = {m1: (base, ft, 0.5, 0.0), m2: (base, y, 0.5, 0.0)}
    cuts = _merge_parents_below(parent, merges, np.arange(6))
    assert cuts and set(cuts) <= {(ft, m2), (x, m1), (y, x)}


@pytest.mark.parametrize("seed", range(4))
def test_inferred_lineage_is_acyclic_with_merges_and_without_dates(seed):
    lin = synthetic_lineage(120, mean_family=15, sketches=True, dates=False, seed=seed)
    edges = infer_parents(lin.evidence, families_from_labels(lin.family), options=ParentOptions(use_dates=False))
    assert any(e.relation == "merge" for e in edges)
    graph = nx.DiGraph([(e.parent, e.child) for e in edges])
    assert nx.is_directed_acyclic_graph(graph)


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
    fine-tune, and a smaller student distilled from the base (another architecture signature)."""
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
        _ev("student", rng.normal(size=n // 3), "F32", text=text + 0.3 * rng.normal(size=32), sig="small"),
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


@pytest.mark.parametrize("dates", [True, False])
def test_a_real_sized_fine_tune_is_not_a_copy_however_close(dates):
    """A fine-tune of a real checkpoint moves its weights less than q8_0 rounding does (SmolLM2-135M:
    0.5% after 40 steps at lr 1e-4, q8_0 ~0.4%). Two bf16 checkpoints are still never copies of one
    another (saving again in one dtype gives the same bytes), and each q8_0 file stays with the
    checkpoint it rounds, not with the other checkpoint it lies just as near."""
    rng = np.random.default_rng(21)
    base = rng.normal(size=16 * K2)
    ft = base + 5e-3 * rng.normal(size=base.size)
    text = rng.normal(size=8)
    evs = [ev("r/base", text=text, weights=base, signature="s", precision="bf16", fmt="hf"),
           ev("r/ft", text=text + 0.5, weights=ft, signature="s", precision="bf16", fmt="hf"),
           ev("r/base-q8_0", text=text, weights=base + 4e-3 * rng.normal(size=base.size), signature="s",
              precision="q8_0", fmt="gguf"),
           ev("r/ft-q8_0", text=text + 0.5, weights=ft + 4e-3 * rng.normal(size=base.size), signature="s",
              precision="q8_0", fmt="gguf")]
    if dates:
        for e, day in zip(evs, ("2024-01-01", "2024-02-01", "2024-01-02", "2024-02-02")):
            e.released = day
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=dates))
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in edges}
    assert got["r/base-q8_0"] == ("r/base", "quantized") and got["r/ft-q8_0"] == ("r/ft", "quantized")
    assert got["r/ft"][0] == "r/base" and got["r/ft"][1] != "quantized"


def test_two_files_of_one_type_are_both_copies_of_the_checkpoint():
    """Two q8_0 GGUFs of one checkpoint (two converters): neither was made from the other, whichever
    is nearer by rounding noise or comes first by id."""
    rng = np.random.default_rng(12)
    base = rng.normal(size=16 * K2)
    text = rng.normal(size=8)
    evs = [ev("c/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("c/base-a-q8_0", text=text, weights=base + 4e-3 * rng.normal(size=base.size), signature="s",
              precision="q8_0", fmt="gguf"),
           ev("c/base-b-q8_0", text=text, weights=base + 4e-3 * rng.normal(size=base.size), signature="s",
              precision="q8_0", fmt="gguf")]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    assert {(evs[e.child].id, evs[e.parent].id) for e in edges} == {("c/base-a-q8_0", "c/base"),
                                                                     ("c/base-b-q8_0", "c/base")}


def test_a_quantized_file_is_never_made_from_one_of_its_own_type():
    """Two f16 files of one checkpoint (two converters) and a q4_0 quantized from each: the two q4_0
    hold the same weights, further from either f16 than from each other (4-bit rounding of identical
    input). The later one still comes from a float file: the quantize tool refuses quantized input."""
    rng = np.random.default_rng(19)
    base = rng.normal(size=16 * K2)
    text = rng.normal(size=8)
    q4 = base + 0.06 * rng.normal(size=base.size)
    files = [("f/base-a-f16", base + 1e-4 * rng.normal(size=base.size), "f16", "2023-02-25"),
             ("f/base-a-q4_0", q4, "q4_0", "2023-02-25"),
             ("f/base-b-f16", base + 1e-4 * rng.normal(size=base.size), "f16", "2023-03-22"),
             ("f/base-b-q4_0", q4 + 1e-6 * rng.normal(size=base.size), "q4_0", "2023-03-22")]
    evs = [ev("f/base", text=text, weights=base, signature="s", precision="f32", fmt="hf", released="2023-01-01")]
    evs += [ev(name, text=text, weights=w, signature="s", precision=p, fmt="gguf", released=day, made_by=made)
            for name, w, p, day in files for made in ["quantize" if p == "q4_0" else "convert"]]
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in family_parents(evs, channel_scales(evs))}
    assert got["f/base-b-q4_0"][0] in {"f/base-a-f16", "f/base-b-f16"} and got["f/base-b-q4_0"][1] == "quantized"


@pytest.mark.parametrize("q4_noise", [1e-2, 4e-2])
def test_an_edge_among_copies_the_weights_cannot_tell_apart_says_how_many(q4_noise):
    """A q8_0 can be written by the converter from the checkpoint or quantized from its f16 GGUF; a
    q4_k_m only by the quantize tool, from either of two f16 GGUFs (two converters): each edge is one
    guess among two, also where 4-bit rounding puts the q4_k_m outside the copy class (tiny models:
    4e-2 of the weights, above `COPY_NEAR`). The f16 files themselves come from the checkpoint alone."""
    rng = np.random.default_rng(14)
    base = rng.normal(size=16 * K2)
    text = rng.normal(size=8)
    near = lambda scale: base + scale * rng.normal(size=base.size)  # noqa: E731
    evs = [ev("q/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("q/base-a-f16", text=text, weights=near(1e-4), signature="s", precision="f16", fmt="gguf"),
           ev("q/base-b-f16", text=text, weights=near(1e-4), signature="s", precision="f16", fmt="gguf"),
           ev("q/base-q8_0", text=text, weights=near(4e-3), signature="s", precision="q8_0", fmt="gguf"),
           ev("q/base-q4_k_m", text=text, weights=near(q4_noise), signature="s", precision="q4_k_m", fmt="gguf")]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    among = {evs[e.child].id: (evs[e.parent].id, e.among) for e in edges}
    assert among["q/base-a-f16"] == ("q/base", 1) and among["q/base-b-f16"] == ("q/base", 1)
    assert among["q/base-q8_0"][1] == 3  # the checkpoint or either f16 file
    assert among["q/base-q4_k_m"][0] in ("q/base-a-f16", "q/base-b-f16") and among["q/base-q4_k_m"][1] == 2
    reasons = {e.child: e.reason for e in infer_lineage(evs, use_dates=False, use_declared=False).edges}
    assert "one of 3 copies the weights cannot tell apart" in reasons["q/base-q8_0"]
    assert "cannot tell apart" not in reasons["q/base-a-f16"]


@pytest.mark.parametrize("made_by,source,among", [("convert", "q/base", 1), ("quantize", "q/base-a-f16", 2),
                                                  (None, "q/base", 3)])
def test_a_files_tensor_order_says_what_it_was_made_from(made_by, source, among):
    """A q8_0 file can be written by the converter from the checkpoint or by the quantize tool from an
    f16 GGUF, and its weights cannot tell which; the tensor order it was written in can
    (`ingest.weights.gguf_writer`). Unknown order: one guess among the three."""
    rng = np.random.default_rng(14)
    base = rng.normal(size=16 * K2)
    text = rng.normal(size=8)
    near = lambda scale: base + scale * rng.normal(size=base.size)  # noqa: E731
    evs = [ev("q/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("q/base-a-f16", text=text, weights=near(1e-4), signature="s", precision="f16", fmt="gguf",
              made_by="convert"),
           ev("q/base-b-f16", text=text, weights=near(1e-4), signature="s", precision="f16", fmt="gguf",
              made_by="convert"),
           ev("q/base-q8_0", text=text, weights=near(4e-3), signature="s", precision="q8_0", fmt="gguf",
              made_by=made_by)]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got = {evs[e.child].id: (evs[e.parent].id, e.among) for e in edges}
    assert got["q/base-q8_0"] == (source, among)


@pytest.mark.parametrize("digest,source,among", [("b", "q/base-b-f16", 1), ("a", "q/base-a-f16", 1),
                                                 ("other", "q/base-a-f16", 2), (None, "q/base-a-f16", 2)])
def test_a_quantized_file_comes_from_the_float_file_whose_metadata_it_carries(digest, source, among):
    """Two f16 files of one checkpoint, written by two converters: their weights are equal, so the
    q4_0 the quantize tool made from one of them cannot say which by its weights. The tool copies the
    metadata of the file it reads: the q4_0 takes the f16 whose metadata digest it carries; with no
    digest, or one neither has (the user overrode a key), one guess among the two as before."""
    rng = np.random.default_rng(15)
    base = rng.normal(size=16 * K2)
    text = rng.normal(size=8)
    f16 = base + 1e-4 * rng.normal(size=base.size)
    evs = [ev("q/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("q/base-a-f16", text=text, weights=f16, signature="s", precision="f16", fmt="gguf",
              made_by="convert", metadata_digest="a"),
           ev("q/base-b-f16", text=text, weights=f16, signature="s", precision="f16", fmt="gguf",
              made_by="convert", metadata_digest="b"),
           ev("q/base-q4_0", text=text, weights=f16 + 0.03 * rng.normal(size=base.size), signature="s",
              precision="q4_0", fmt="gguf", made_by="quantize", metadata_digest=digest)]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got = {evs[e.child].id: (evs[e.parent].id, e.among) for e in edges}
    assert got["q/base-q4_0"] == (source, among)


def test_a_child_kin_by_weights_is_not_moved_to_a_grandparent_only_behaviour_links():
    """A base linked by behaviour to a model of another architecture (below the same-data null: a
    distillation, say), and a fine-tune of that base which behaves even more like the other model.
    Behaviour's tree metric alone would make the fine-tune a sibling of its base; the weights say it
    is the base's child, and behaviour does not outweigh shared weights."""
    rng = np.random.default_rng(21)
    n = 8 * K2
    z, a = rng.normal(size=64), 0.3 * rng.normal(size=64)
    w = rng.normal(size=n)
    others = [ev(f"u/{k}", text=rng.normal(size=8), weights=rng.normal(size=n // 4), loglik=rng.normal(size=64) * 1.2,
                 signature=f"u{k}", precision="f32") for k in range(8)]
    trio = [ev("g/teacher", text=rng.normal(size=8), weights=rng.normal(size=n // 2), loglik=z, signature="g",
               precision="f32", released="2023-01-01"),
            ev("s/base", text=rng.normal(size=8), weights=w, loglik=z + a, signature="s", precision="f32",
               released="2023-06-01"),
            ev("s/ft", text=rng.normal(size=8), weights=w + 0.3 * rng.normal(size=n), loglik=z + 0.9 * a,
               signature="s", precision="f32", released="2023-09-01")]
    edges = family_parents(trio, channel_scales(trio + others))
    got = {trio[e.child].id: trio[e.parent].id for e in edges}
    assert got == {"s/base": "g/teacher", "s/ft": "s/base"}


def test_the_sibling_test_never_moves_a_child_to_a_grandparent_the_evidence_calls_unrelated():
    """A student of another architecture that behaves almost like the fine-tune it was distilled from
    (below the same-data null), and a little more like that fine-tune's base (but no closer than shared
    data explains). Behaviour's tree metric calls the student a sibling of the fine-tune; moving it to
    the base would make an edge the evidence calls unrelated, so it stays with the fine-tune."""
    rng = np.random.default_rng(8)
    n = 8 * K2
    behaviour = rng.normal(size=64)
    twins = [ev(f"t/{k}", text=rng.normal(size=8), weights=rng.normal(size=n), loglik=behaviour + 0.5 * rng.normal(size=64),
                signature="t", precision="f32") for k in range(4)]  # measure the same-data null
    others = [ev(f"u/{k}", text=rng.normal(size=8), weights=rng.normal(size=n // 2), loglik=rng.normal(size=64) * 1.2,
                 signature=f"u{k}", precision="f32") for k in range(8)]
    z, a, w = rng.normal(size=64) * 1.2, rng.normal(size=64) * 1.6, rng.normal(size=n)
    trio = [ev("s/base", text=rng.normal(size=8), weights=w, loglik=z, signature="s", precision="f32",
               released="2023-01-01"),
            ev("s/ft", text=rng.normal(size=8), weights=w + 0.3 * rng.normal(size=n), loglik=z + a, signature="s",
               precision="f32", released="2023-06-01"),
            ev("x/student", text=rng.normal(size=8), weights=rng.normal(size=n // 4), loglik=z + 0.9 * a,
               signature="x", precision="f32", released="2023-09-01")]
    scales = channel_scales(trio + twins + others)
    edges = family_parents(trio, scales)
    assert {trio[e.child].id: trio[e.parent].id for e in edges} == {"s/ft": "s/base", "x/student": "s/ft"}


def test_an_undated_checkpoint_existed_by_the_date_of_its_own_file():
    """A base with no release date, its f16 GGUF dated, two dated fine-tunes of the base: the file was
    made from the checkpoint, so the checkpoint existed by the file's date and the family starts there."""
    rng = np.random.default_rng(15)
    base = rng.normal(size=16 * K2)
    text = rng.normal(size=8)
    ft = [base + 0.2 * rng.normal(size=base.size) for _ in range(2)]
    evs = [ev("u/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("u/base-f16", text=text, weights=base + 1e-4 * rng.normal(size=base.size), signature="s",
              precision="f16", fmt="gguf", released="2024-01-10"),
           ev("u/ft-a", text=text + 1, weights=ft[0], signature="s", precision="f32", fmt="hf", released="2024-02-01"),
           ev("u/ft-b", text=text - 1, weights=ft[1], signature="s", precision="f32", fmt="hf", released="2024-03-01")]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=True))
    assert {(evs[e.child].id, evs[e.parent].id) for e in edges} == {
        ("u/base-f16", "u/base"), ("u/ft-a", "u/base"), ("u/ft-b", "u/base")}


@pytest.mark.parametrize("dates", [True, False])
def test_a_checkpoint_never_descends_from_its_own_file(dates):
    """A fine-tune and its f32 GGUF (same precision, same weights): the GGUF is the copy, the fine-tune
    takes its own parent, whichever of the two carries a date."""
    rng = np.random.default_rng(13)
    base = rng.normal(size=16 * K2)
    ft = base + 0.2 * rng.normal(size=base.size)
    text = rng.normal(size=8)
    day = "2024-03-01" if dates else None  # the file is released with the checkpoint: dates cannot order them
    evs = [ev("f/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("f/ft", text=text + 1, weights=ft, signature="s", precision="f32", fmt="hf", released=day),
           ev("f/ft-f32", text=text + 1, weights=ft * 0.995, signature="s", precision="f32", fmt="gguf",
              released=day)]  # the conversion's rounding shrank the norms a little (as if ft grew from it)
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=dates))
    assert {(evs[e.child].id, evs[e.parent].id, e.relation) for e in edges} == {
        ("f/ft", "f/base", "finetune"), ("f/ft-f32", "f/ft", "quantized")}


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


@pytest.mark.parametrize("frozen", [0, 2])
def test_frozen_matrices_beside_a_full_rank_update_make_an_adapter(frozen):
    """A rank-32 LoRA is full-rank in a 16 x 16 sketch, but it leaves the matrices it does not target
    bit-identical, which a full fine-tune never does: with `frozen` untouched blocks the edge is an
    adapter, with none a fine-tune."""
    rng = np.random.default_rng(6)
    base = rng.normal(size=(8, 16, 16))
    child = base + 0.05 * rng.normal(size=base.shape)  # full rank in every block
    child[:frozen] = base[:frozen]
    text = rng.normal(size=8)
    evs = [ev("f/base", text=text, weights=base.ravel(), signature="s", precision="bf16", released="2024-01-01"),
           ev("f/child", text=text + 0.1, weights=child.ravel(), signature="s", precision="bf16",
              released="2024-02-01")]
    [edge] = family_parents(evs, channel_scales(evs))
    assert (edge.child, edge.parent) == (1, 0)
    assert edge.relation == ("adapter" if frozen else "finetune")


@pytest.mark.parametrize("dates", [True, False])
def test_an_adapter_hangs_on_the_model_it_was_added_to_not_a_nearer_sibling(dates):
    """Two rank-7 LoRAs of one base trained on like data, the second further along the shared
    direction: it lies nearer the first than the base, and the tree metric calls it the first's child
    (so the sibling rule keeps it there), but it differs from the first at rank 8–9 (99% energy) and
    from the base at rank 4–6 with the untargeted blocks identical."""
    rng = np.random.default_rng(8)
    base = rng.normal(size=(8, 16, 16))
    shared = [rng.normal(size=(16, 2)) @ rng.normal(size=(2, 16)) for _ in range(8)]

    def lora(along: float) -> np.ndarray:
        out = base.copy()
        for b in range(1, 7):  # blocks 0 and 7 untargeted
            out[b] += 0.3 * along * shared[b] + 0.06 * rng.normal(size=(16, 5)) @ rng.normal(size=(5, 16))
        return out

    first, second = lora(0.5), lora(1.0)
    text = rng.normal(size=8)
    evs = [ev("a/base", text=text, weights=base.ravel(), signature="s", precision="f32", released="2024-01-01"),
           ev("a/lora-1", text=text + 0.1, weights=first.ravel(), signature="s", precision="f32", released="2024-02-01"),
           ev("a/lora-2", text=text + 0.1, weights=second.ravel(), signature="s", precision="f32", released="2024-03-01")]
    assert np.linalg.norm(second - first) < np.linalg.norm(second - base)  # distance prefers the sibling
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=dates))
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in edges}
    assert got["a/lora-2"] == ("a/base", "adapter")


@pytest.mark.parametrize("dates", [True, False])
def test_a_full_rank_adapter_leaves_a_nearer_fine_tune_for_the_base_it_kept_matrices_of(dates):
    """A rank-32 LoRA is full-rank in the sketch, and trained along a sibling fine-tune's direction it
    lies nearer that fine-tune than its base, with the tree metric calling it the fine-tune's child.
    But it kept two of the base's matrices bit-identical, which the fine-tune (changing all) did not."""
    rng = np.random.default_rng(11)
    base = rng.normal(size=(8, 16, 16))
    step = 0.25 * rng.normal(size=base.shape)  # the fine-tune's update, full rank, every block
    tuned = base + step
    lora = base + step + 0.4 * rng.normal(size=base.shape)  # x = 0.77 (real variant 3: 0.74)
    lora[[0, 7]] = base[[0, 7]]  # untargeted
    text = rng.normal(size=8)
    evs = [ev("a/base", text=text, weights=base.ravel(), signature="s", precision="bf16", released="2024-01-01"),
           ev("a/ft", text=text + 0.1, weights=tuned.ravel(), signature="s", precision="bf16", released="2024-02-01"),
           ev("a/lora", text=text + 0.1, weights=lora.ravel(), signature="s", precision="bf16", released="2024-03-01")]
    assert np.linalg.norm(lora - tuned) < np.linalg.norm(lora - base)
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=dates))
    got = {evs[e.child].id: (evs[e.parent].id, e.relation) for e in edges}
    assert got["a/lora"] == ("a/base", "adapter")


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


def test_a_sibling_moved_up_takes_the_nearer_parent_the_tree_metric_allows():
    """A fine-tune of an adapter, trained on the data a sibling branch was trained on, lies nearest
    that branch's fine-tune. The tree metric calls it that fine-tune's sibling; of the models it may
    move to, the adapter (which the same test calls its parent) is nearer than the base. The branch's
    q4 file passes that test trivially (it is nearly its parent) but is no checkpoint to train from."""
    rng = np.random.default_rng(17)
    blocks = 16
    base = rng.normal(size=blocks * K2)
    shared = 0.3 * rng.normal(size=base.size)  # the corpus both fine-tunes were trained on
    low_rank = np.concatenate([(rng.normal(size=(16, 2)) @ rng.normal(size=(2, 16))).ravel() for _ in range(blocks)])
    low_rank *= np.sqrt(0.02 * base.size) / np.linalg.norm(low_rank)
    adapter = base + low_rank
    models = [("a/base", base, "2024-01-01"), ("a/ft", base + shared + 0.12 * rng.normal(size=base.size), "2024-02-01"),
              ("a/adapter", adapter, "2024-03-01"),
              ("a/adapter-ft", adapter + shared + 0.12 * rng.normal(size=base.size), "2024-04-01")]
    text = rng.normal(size=8)
    evs = [ev(name, text=text + k, weights=w, signature="s", precision="f32", fmt="hf", released=day)
           for k, (name, w, day) in enumerate(models)]
    evs.append(ev("a/ft-q4_0", text=text + 1, weights=models[1][1] + 0.03 * rng.normal(size=base.size),
                  signature="s", precision="q4_0", fmt="gguf", released="2024-02-02"))
    d = channel_distances(evs)["weights"]
    assert d[3, 1] < d[3, 2]  # nearest the sibling branch's fine-tune
    got = {evs[e.child].id: evs[e.parent].id for e in family_parents(evs, channel_scales(evs))}
    assert got == {"a/ft": "a/base", "a/adapter": "a/base", "a/adapter-ft": "a/adapter", "a/ft-q4_0": "a/ft"}


def test_each_edge_says_what_set_its_direction():
    """Without dates a copy's direction comes from its format, a fine-tune's from weight growth."""
    evs = _copies()
    undated = {evs[e.child].id: e.direction for e in family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))}
    assert undated == {"m/base-f16": "copy", "m/base-q4_0": "copy", "m/ft": "growth"}
    for e, day in zip(evs, ("2024-01-01", "2024-01-01", "2024-01-03", "2024-02-01")):
        e.released = day
    dated = {evs[e.child].id: e.direction for e in family_parents(evs, channel_scales(evs), ParentOptions())}
    assert dated == {"m/base-f16": "copy", "m/base-q4_0": "date", "m/ft": "date"}


def _grown(base: np.ndarray, rng: np.random.Generator, step: float) -> np.ndarray:
    """A fine-tune: a full-rank update orthogonal to the weights, so the norm grows by ~step²/2 per matrix."""
    blocks = base.reshape(-1, K2)
    noise = rng.normal(size=blocks.shape)
    noise -= (np.sum(noise * blocks, axis=1) / np.sum(blocks * blocks, axis=1))[:, None] * blocks
    noise *= step * np.linalg.norm(blocks, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
    return (blocks + noise).ravel()


def test_without_dates_weight_growth_orders_a_chain():
    """base -> a -> b, each a fine-tune whose weights grew: without dates, with the root-centrality and
    centroid root guess pointing the wrong way (the chain's centre is a or b), growth sets the root
    and every direction."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=12 * K2)
    a = _grown(base, rng, 0.25)
    b = _grown(a, rng, 0.25)
    c = _grown(b, rng, 0.25)
    text = rng.normal(size=8)
    evs = [ev(name, text=text + k, weights=w, signature="s", precision="f32", fmt="hf")
           for k, (name, w) in enumerate((("g/base", base), ("g/a", a), ("g/b", b), ("g/c", c)))]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got = {evs[e.child].id: (evs[e.parent].id, e.direction) for e in edges}
    assert got == {"g/a": ("g/base", "growth"), "g/b": ("g/a", "growth"), "g/c": ("g/b", "growth")}


def test_growth_below_rounding_leaves_direction_uncertain():
    """A child whose weight norm did not grow (an update along the weights' own scale cancelled it) has
    no growth evidence: its edge says "uncertain", never "growth"."""
    rng = np.random.default_rng(4)
    base = rng.normal(size=12 * K2)
    child = _grown(base, rng, 0.25).reshape(-1, K2)
    child *= (np.linalg.norm(base.reshape(-1, K2), axis=1) / np.linalg.norm(child, axis=1))[:, None]
    text = rng.normal(size=8)
    evs = [ev("u/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("u/child", text=text + 1, weights=child.ravel(), signature="s", precision="f32", fmt="hf")]
    (edge,) = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    assert edge.direction == "uncertain"


def test_dates_outrank_growth():
    """Where both dates are known they order the pair, even against the weights."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=12 * K2)
    grown = _grown(base, rng, 0.25)
    text = rng.normal(size=8)
    evs = [ev("d/early", text=text, weights=grown, signature="s", precision="f32", fmt="hf", released="2024-01-01"),
           ev("d/late", text=text + 1, weights=base, signature="s", precision="f32", fmt="hf", released="2024-05-01")]
    (edge,) = family_parents(evs, channel_scales(evs), ParentOptions())
    assert (evs[edge.child].id, evs[edge.parent].id, edge.direction) == ("d/late", "d/early", "date")


def test_a_merge_is_found_among_its_parents_copies_and_its_own_files_are_copies():
    """Each parent of a merge has several GGUF files, enough to fill a model's nearest-neighbour list;
    the merge's own f16 file lies on the same segment. The merge still gets both parents, and its file
    is its copy, not a second merge."""
    rng = np.random.default_rng(21)
    n = 8 * K2
    base = rng.normal(size=n)
    a, b = base + 0.3 * rng.normal(size=n), base + 0.3 * rng.normal(size=n)
    merge = 0.4 * a + 0.6 * b
    text = rng.normal(size=8)
    evs = [ev("m/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("m/a", text=text + 1, weights=a, signature="s", precision="f32", fmt="hf"),
           ev("m/b", text=text + 2, weights=b, signature="s", precision="f32", fmt="hf"),
           ev("m/merge", text=text + 1.5, weights=merge, signature="s", precision="f32", fmt="hf"),
           ev("m/merge-f16", text=text + 1.5, weights=merge + 1e-4 * rng.normal(size=n), signature="s",
              precision="f16", fmt="gguf")]
    for parent, w in (("m/a", a), ("m/b", b)):
        for k, q in enumerate(("f16", "q8_0", "q6_k", "q5_0", "q4_0")):
            evs.append(ev(f"{parent}-{q}", text=text, weights=w + (k + 1) * 1e-3 * rng.normal(size=n),
                          signature="s", precision=q, fmt="gguf"))
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got = {(evs[e.child].id, evs[e.parent].id, e.relation) for e in edges}
    assert {("m/merge", "m/a", "merge"), ("m/merge", "m/b", "merge"), ("m/merge-f16", "m/merge", "quantized")} <= got


def test_a_merge_is_found_when_its_parents_files_lie_outside_the_copy_classes():
    """A merge of an independently initialised model with a fine-tune whose family has many GGUF files
    quantized below 8 bits, each far enough from its checkpoint not to count as a copy (q4_0 of a tiny
    model: 0.08): the files must not fill the merge's neighbour list and hide its other, farther parent."""
    rng = np.random.default_rng(23)
    n = 8 * K2
    base = rng.normal(size=n)
    kin = [base + 0.3 * rng.normal(size=n) for _ in range(4)]
    other = rng.normal(size=n)  # independently initialised
    merge = 0.68 * kin[0] + 0.32 * other
    text = rng.normal(size=8)
    evs = [ev("f/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("f/other", text=text + 9, weights=other, signature="s", precision="f32", fmt="hf"),
           ev("f/merge", text=text + 2, weights=merge, signature="s", precision="f32", fmt="hf")]
    for k, w in enumerate(kin):
        evs.append(ev(f"f/ft{k}", text=text + 1, weights=w, signature="s", precision="f32", fmt="hf"))
        evs += [ev(f"f/ft{k}-{q}", text=text + 1, weights=w + 0.06 * rng.normal(size=n), signature="s",
                   precision=q, fmt="gguf") for q in ("q5_0", "q4_0")]
    merges = find_merges(evs, channel_distances(evs), use_dates=False, classes=np.arange(len(evs)))
    assert {evs[i].id for i in merges[2][:2]} == {"f/ft0", "f/other"}


def test_behaviour_links_other_architectures_only_when_closer_than_shared_data_explains():
    """Two independently initialised same-shape models behave as alike as log-likelihood cost c0 (the
    KB's same-data null). A model of another architecture is linked by behaviour when clearly closer
    than c0 (a distillation), and left unrelated when no closer."""
    from kb.lineage.costs import SAME_DATA_NULL, pair_costs

    rng = np.random.default_rng(8)
    n = 8 * K2
    behaviour = rng.normal(size=64)
    twins = [behaviour + 0.5 * rng.normal(size=64) for _ in range(4)]  # independent, trained alike
    evs = [ev(f"t/{k}", text=rng.normal(size=8), weights=rng.normal(size=n), loglik=v, signature="s",
              precision="f32") for k, v in enumerate(twins)]
    evs += [ev(f"u/{k}", text=rng.normal(size=8), weights=rng.normal(size=n // 2), loglik=rng.normal(size=64) * 1.2,
               signature=f"u{k}", precision="f32") for k in range(8)]  # what unrelated behaviour looks like
    evs.append(ev("x/student", text=rng.normal(size=8), weights=rng.normal(size=n // 4), loglik=twins[0] + 0.05 * rng.normal(size=64),
                  signature="small", precision="f32"))
    evs.append(ev("x/lookalike", text=rng.normal(size=8), weights=rng.normal(size=n // 4), loglik=behaviour + 0.8 * rng.normal(size=64),
                  signature="small2", precision="f32"))
    scales = channel_scales(evs)
    null = scales[SAME_DATA_NULL]
    assert 0.2 < null < 1.0  # measured on the twins, not the default
    cost = pair_costs(evs, scales).cost
    assert cost[-2, 0] < null  # the student: closer than shared data explains
    assert cost[-1, :4].min() >= 1.0  # the look-alike of another shape: no closer, so unrelated


def test_every_child_pays_for_copies_in_its_own_preference_order():
    """`equalise` prices one order per kind of child; each child's order over the copies it may use
    must still be `preference` over just those, at the price of the cheapest."""
    from kb.lineage.copies import PREFERENCE_STEP, equalise, preference

    rng = np.random.default_rng(4)
    files = [("hf", "bf16", None), ("gguf", "f16", "convert"), ("gguf", "f32", None), ("gguf", "q8_0", None),
             ("gguf", "q4_0", "quantize"), ("gguf", "q4_k_m", None), ("hf", "f32", None)]
    evs = [ev(f"m/{i}", text=np.ones(2), fmt=f, precision=p, made_by=w,
              released=["2024-01-01", None][i % 2]) for i, (f, p, w) in enumerate(files * 3)]
    m = len(evs)
    classes = np.repeat([0, 1, 2], len(files))
    edge = rng.random((m, m)) + 1.0
    allowed = rng.random((m, m)) < 0.8
    out = equalise(edge, allowed, classes, evs)
    for c in range(m):
        for label in range(3):
            usable = [p for p in np.flatnonzero(classes == label) if p != c and allowed[c, p]]
            if len(usable) < 2:
                continue
            order = preference(evs[c], usable, evs, copy=bool(classes[c] == label))
            best = min(edge[c, p] for p in usable)
            assert [out[c, p] for p in order] == pytest.approx(
                [best * (1 + PREFERENCE_STEP * i) for i in range(len(order))], rel=1e-12)


def test_an_adapter_merged_into_a_model_is_not_hung_below_that_merges_fine_tune():
    """Undated: a LoRA of a base (two matrices untouched), the 30/70 merge of base and LoRA, and a
    full fine-tune of the merge (held-out random zoo 10002). The merge lies near the LoRA and the
    fine-tune near the merge, so the cheapest tree hangs the LoRA below the fine-tune, below the
    merge it is a parent of. Cutting the fine-tune's edge to the merge would leave the LoRA there and
    move the fine-tune to the base; the LoRA's bit-identical matrices say where it belongs (the base),
    and once it hangs there no merge parent sits below the merge."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(8, 16, 16))
    lora = base.copy()
    for b in range(1, 7):  # blocks 0 and 7 untargeted
        lora[b] += 0.5 * rng.normal(size=(16, 2)) @ rng.normal(size=(2, 16))
    merge = 0.3 * base + 0.7 * lora
    tuned = merge + 0.04 * rng.normal(size=base.shape)
    text = rng.normal(size=8)
    models = (("a/base", base), ("a/lora", lora), ("a/merge", merge), ("a/ft", tuned))
    evs = [ev(n, text=text + 0.1 * i, weights=w.ravel(), signature="s", precision="f32")
           for i, (n, w) in enumerate(models)]
    assert np.linalg.norm(lora - tuned) < np.linalg.norm(lora - base)  # distance puts the LoRA below ft
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=False))
    got: dict[str, set[str]] = {}
    for e in edges:
        got.setdefault(evs[e.child].id, set()).add(evs[e.parent].id)
    assert got["a/ft"] == {"a/merge"} and got["a/lora"] == {"a/base"}
    assert got["a/merge"] == {"a/base", "a/lora"}


def test_a_merge_path_never_breaks_at_a_files_edge_to_its_checkpoint():
    """Tree edges (child <- parent): m2 <- base, m1 <- base, m1f <- m1, y <- m1f, a <- y, where m2
    merges base and a, m1 merges base and m2, and m1f is a file of m1 (its copy class). The merge
    parent a lies below m2 through y, m1's file, m1 and m1's second edge (and m2, a parent of m1,
    below m1's file through a); of the tree edges on the first path the last is the file's edge to
    its own checkpoint, which rounding proves. The cut is the edge above y instead."""
    from kb.lineage.parents import _merge_parents_below

    base, a, m1, m1f, y, m2 = range(6)
    parent = np.array([-1, y, base, m1, m1f, base])
    merges = {m2: (base, a, 0.5, 0.0), m1: (base, m2, 0.5, 0.0)}
    classes = np.array([0, 1, 2, 2, 4, 5])
    assert _merge_parents_below(parent, merges, np.arange(6)) == [(m1f, m1)]  # one class per model
    assert _merge_parents_below(parent, merges, classes) == [(y, m1f)]


def test_a_merge_takes_its_parents_checkpoint_not_a_file_of_it_where_growth_would_say_otherwise():
    """A merge of an undated fine-tune and a dated sibling, beside a dated f16 file of the fine-tune.
    Undated, the fine-tune's larger norm reads as grown from the merge (averaging shrinks norms), a
    reading dates rule out for its file alone; but a merge's parents never grew from it, so growth does
    not choose between the copies and the merge takes the checkpoint, as merge tools read checkpoints
    (held-out 14001: the f16 file, at support 0.99)."""
    rng = np.random.default_rng(41)
    text = rng.normal(size=8)
    base = rng.normal(size=16 * K2)
    ft = 1.3 * base + 0.3 * rng.normal(size=base.size)  # trained on: the norm grew
    other = base + 0.3 * rng.normal(size=base.size)  # a sibling, its norm about the base's
    evs = [ev("m/base", text=text, weights=base, signature="s", precision="f32", fmt="hf", released="2023-01-01"),
           ev("m/ft", text=text + 1, weights=ft, signature="s", precision="f32", fmt="hf"),
           ev("m/ft-f16", text=text + 1, weights=ft + 1e-4 * rng.normal(size=base.size), signature="s",
              precision="f16", fmt="gguf", made_by="convert", released="2023-03-01"),
           ev("m/other", text=text + 2, weights=other, signature="s", precision="f32", fmt="hf",
              released="2023-02-01"),
           ev("m/merge", text=text + 3, weights=0.4 * ft + 0.6 * other, signature="s", precision="f32", fmt="hf",
              released="2023-06-01")]
    edges = family_parents(evs, channel_scales(evs))
    merge_parents = {evs[e.parent].id for e in edges if evs[e.child].id == "m/merge"}
    assert merge_parents == {"m/ft", "m/other"}


def test_an_undated_checkpoint_existed_by_the_date_of_a_duplicate_of_its_file():
    """An undated checkpoint, its undated f16 file whose byte-identical duplicate is dated
    (`existed_by`), a q8_0 of it dated later and a q5_0 dated with the duplicate (4-bit rounding puts it
    outside the copy class). The weights existed by the duplicate's date, so the checkpoint did too,
    and the family starts at the checkpoint, not at the q5_0 (held-out 13001, at support 0.93)."""
    rng = np.random.default_rng(43)
    base = rng.normal(size=16 * K2)
    f16 = base + 1e-4 * rng.normal(size=base.size)
    text = rng.normal(size=8)
    evs = [ev("u/base", text=text, weights=base, signature="s", precision="f32", fmt="hf"),
           ev("u/base-f16", text=text, weights=f16, signature="s", precision="f16", fmt="gguf", made_by="convert",
              existed_by="2024-05-22"),
           ev("u/base-q8_0", text=text, weights=f16 + 3e-3 * rng.normal(size=base.size), signature="s",
              precision="q8_0", fmt="gguf", made_by="quantize", released="2024-05-24"),
           ev("u/base-q5_0", text=text, weights=f16 + 0.03 * rng.normal(size=base.size), signature="s",
              precision="q5_0", fmt="gguf", made_by="quantize", released="2024-05-22")]
    edges = family_parents(evs, channel_scales(evs), ParentOptions(use_dates=True))
    assert {evs[e.child].id: evs[e.parent].id for e in edges} == {
        "u/base-f16": "u/base", "u/base-q8_0": "u/base-f16", "u/base-q5_0": "u/base-f16"}


def test_a_merge_on_one_line_with_others_says_which_parent_the_weights_cannot_tell():
    """base, its fine-tune ft, m1 = merge(base, ft) and m2 = merge(ft, m1): all four lie on one line,
    and m2 lies as well on the segment between base and ft. ft is a parent in every pair that fits,
    the other parent is one of two the weights cannot tell apart (held-out 13000, 13002, 16004: the
    wrong one at support 0.9-1.0). A merge of two siblings fits one pair only."""
    rng = np.random.default_rng(47)
    text = rng.normal(size=8)
    base = rng.normal(size=16 * K2)
    ft = base + 0.3 * rng.normal(size=base.size)
    sib = base + 0.3 * rng.normal(size=base.size)
    m1 = 0.5 * base + 0.5 * ft
    evs = [ev(n, text=text + k, weights=w, signature="s", precision="f32", fmt="hf", released=f"2023-0{k + 1}-01")
           for k, (n, w) in enumerate((("base", base), ("ft", ft), ("sib", sib), ("m1", m1),
                                       ("m2", 0.5 * ft + 0.5 * m1), ("m3", 0.5 * ft + 0.5 * sib)))]
    among = {(evs[e.child].id, evs[e.parent].id): e.among for e in family_parents(evs, channel_scales(evs))
             if e.relation == "merge" and evs[e.child].id in ("m2", "m3")}
    second = [(p, n) for (c, p), n in among.items() if c == "m2" and p != "ft"]
    assert among[("m2", "ft")] == 1 and len(second) == 1 and second[0][0] in ("base", "m1") and second[0][1] == 2
    assert among[("m3", "ft")] == among[("m3", "sib")] == 1
    reasons = {(e.child, e.parent): e.reason for e in infer_lineage(evs, use_declared=False).edges}
    assert "one of 2 pairs of models on one line" in reasons[("m2", second[0][0])]
    assert "one of" not in reasons[("m2", "ft")]


def test_a_child_the_tree_metric_cannot_tell_from_a_sibling_says_so():
    """g, its fine-tune p, and c whose step from g repeats half of p's and adds its own: x = 0.6, where
    children and siblings both occur on the development zoos. c stays on p (x above the midpoint) as
    one of two explanations, its reason says why; a clear child of p (x near 1) keeps full weight."""
    rng = np.random.default_rng(53)
    text = rng.normal(size=8)
    g = rng.normal(size=16 * K2)
    step = 0.2 * rng.normal(size=g.size)
    p = g + step
    c = g + 0.6 * step + 0.271 * rng.normal(size=g.size)
    d = p + 0.2 * rng.normal(size=g.size)
    evs = [ev(n, text=text + k, weights=w, signature="s", precision="f32", fmt="hf", released=f"2023-0{k + 1}-01")
           for k, (n, w) in enumerate((("g", g), ("p", p), ("c", c), ("d", d)))]
    edges = {evs[e.child].id: e for e in family_parents(evs, channel_scales(evs))}
    assert evs[edges["c"].parent].id == "p" and edges["c"].among == 2
    assert "cannot tell whether it is a child or a sibling of p (x = 0.59" in edges["c"].doubt
    assert evs[edges["d"].parent].id == "p" and edges["d"].among == 1


def test_an_undated_file_is_no_older_than_its_checkpoint():
    """A fine-tune released after a model c, and an undated f16 file of it: the file was made from the
    fine-tune, so it is no older and cannot be c's parent either, however near (held-out 17003: a
    sibling fine-tune put on the f16 file of a sibling released three days after it)."""
    rng = np.random.default_rng(59)
    text = rng.normal(size=8)
    base = rng.normal(size=16 * K2)
    step = 0.3 * rng.normal(size=base.size)
    ft = base + step
    c = base + 0.7 * step + 0.3 * rng.normal(size=base.size)  # nearer ft than base: trained alike
    evs = [ev("s/base", text=text, weights=base, signature="s", precision="f32", fmt="hf", released="2023-01-01"),
           ev("s/ft", text=text + 1, weights=ft, signature="s", precision="f32", fmt="hf", released="2023-03-01"),
           ev("s/ft-f16", text=text + 1, weights=ft + 1e-4 * rng.normal(size=base.size), signature="s",
              precision="f16", fmt="gguf", made_by="convert"),
           ev("s/c", text=text + 2, weights=c, signature="s", precision="f32", fmt="hf", released="2023-02-01")]
    edges = {evs[e.child].id: evs[e.parent].id for e in family_parents(evs, channel_scales(evs))}
    assert edges == {"s/c": "s/base", "s/ft": "s/base", "s/ft-f16": "s/ft"}
