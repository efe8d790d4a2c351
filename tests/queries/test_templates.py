"""Every template answers its question correctly on both stores: checked against networkx/numpy
oracles computed from the graph definition, never through a store."""

from __future__ import annotations

import pytest

from kb.records import DeclaredEdge, InferredEdge, ModelRecord
from kb.templates import load_catalogue, run_template
from tests.queries import graph as g
from tests.queries.graph import BRACE, QUOTE, TICK, UNICODE

MODELS = list(g.PARENTS)


@pytest.mark.parametrize("edges", ["declared", "inferred", "both"])
def test_descendants_every_model_every_edge_kind(kb, edges):
    for model in MODELS:
        assert run_template(kb, "descendants", {"model": model, "edges": edges}) == g.descendants(
            model, 10, edges
        ), model


@pytest.mark.parametrize("edges", ["declared", "inferred", "both"])
def test_descendant_count_every_model_every_edge_kind(kb, edges):
    for model in MODELS:
        rows = run_template(kb, "descendant-count", {"model": model, "edges": edges})
        assert rows == g.descendant_count(model, edges), model


def test_descendant_count_follows_every_kind_of_edge_write(kb):
    """Each write that changes parent edges leaves the lineage index stale until it is recounted."""
    def count(model: str = "org/base-a", edges: str = "both") -> int:
        return run_template(kb, "descendant-count", {"model": model, "edges": edges})[0]["descendants"]

    before = count()
    assert kb.lineage_index_fresh() and kb.refresh_lineage_index() == 0
    kb.upsert_models([ModelRecord(id="new/a"), ModelRecord(id="new/b")])
    assert kb.lineage_index_fresh()  # models without edges change no count
    kb.upsert_declared_edges([DeclaredEdge("new/a", "org/deep")])
    assert not kb.lineage_index_fresh()
    assert count() == before + 1 and count("org/deep", "declared") == 1
    kb.add_inferred_edges([InferredEdge("new/b", "new/a", 0.1, 0.9, "nj")])
    assert count() == before + 2 and count("new/a", "inferred") == 1 and count("new/a", "declared") == 0
    kb.cypher("MATCH (c:Model {id: 'new/b'})-[e:INFERRED_PARENT]->() DELETE e", write=True)
    assert count() == before + 1
    kb.delete_model("new/a")
    assert count() == before
    kb.replace_inferred([], [], [])
    assert count("org/base-a", "inferred") == 0


@pytest.mark.parametrize("max_depth", [1, 2, 3])
def test_descendants_max_depth(kb, max_depth):
    rows = run_template(kb, "descendants", {"model": "org/base-a", "max_depth": max_depth})
    assert rows == g.descendants("org/base-a", max_depth)
    assert max(r["depth"] for r in rows) == max_depth


@pytest.mark.parametrize("edges", ["declared", "inferred", "both"])
def test_ancestors_path_to_root(kb, edges):
    for model in MODELS:
        assert run_template(kb, "ancestors", {"model": model, "edges": edges}) == g.ancestors(
            model, 30, edges
        ), model
    chain = run_template(kb, "ancestors", {"model": "org/deep", "edges": "declared"})
    assert [r["id"] for r in chain] == [QUOTE, "org/ft1-ft", "org/ft1", "org/base-a"]
    assert [r["is_root"] for r in chain] == [False, False, False, True]


def test_children_and_parent_carry_edge_kind_and_evidence(kb):
    children = run_template(kb, "children", {"model": "org/base-a"})
    assert [(r["id"], r["edge"], r["relation"]) for r in children] == [
        ("org/ad1", "declared", "adapter"), ("org/b-ft", "inferred", "finetune"),
        ("org/ft1", "declared", "finetune"), ("org/ft1", "inferred", "finetune"),
        ("org/meta-only", "declared", "finetune"),
        ("org/q1", "declared", "quantized"), ("org/q1", "inferred", "quantized"),
    ]
    inferred = {r["id"]: r for r in children if r["edge"] == "inferred"}
    assert inferred["org/ft1"]["support"] == pytest.approx(0.9)
    assert inferred["org/ft1"]["distance"] == pytest.approx(0.81)
    assert [r["id"] for r in run_template(kb, "children", {"model": "org/base-a", "edges": "inferred"})] == [
        "org/b-ft", "org/ft1", "org/q1"
    ]
    parents = run_template(kb, "parent", {"model": "org/m1"})
    assert [(r["id"], r["edge"], r["relation"], r["source"]) for r in parents] == [
        ("org/base-b", "declared", "merge", "card"), ("org/ft1", "declared", "merge", "card"),
        ("org/base-b", "inferred", "merge", None),
    ]
    deep = run_template(kb, "parent", {"model": "org/deep", "edges": "inferred"})
    assert [(r["id"], r["support"], r["provisional"]) for r in deep] == [(QUOTE, None, True)]
    assert run_template(kb, "parent", {"model": "org/base-a"}) == []


def test_siblings(kb):
    rows = run_template(kb, "siblings", {"model": "org/ft1"})
    assert [(r["id"], r["shared_parent"]) for r in rows] == [
        ("org/ad1", "org/base-a"), ("org/b-ft", "org/base-a"), ("org/meta-only", "org/base-a"),
        ("org/q1", "org/base-a"),
    ]
    rows = run_template(kb, "siblings", {"model": "org/m1", "edges": "declared"})
    assert [(r["id"], r["shared_parent"]) for r in rows] == [
        ("org/b-ft", "org/base-b"), ("org/ft1-ft", "org/ft1"),
    ]


@pytest.mark.parametrize("edges", ["declared", "both"])
def test_mrca_against_oracle_for_all_pairs(kb, edges):
    pairs = [("org/m1", TICK), ("org/deep", BRACE), (QUOTE, "org/m1"), ("org/ad1", "org/q1"),
             (UNICODE, "org/b-ft"), ("org/b-ft", "org/ft1"), (BRACE, UNICODE), ("org/deep", "org/base-a"),
             ("org/base-a", "org/base-b"), ("org/meta-only", "org/deep")]
    for a, b in pairs:
        assert run_template(kb, "mrca", {"a": a, "b": b, "edges": edges}) == g.mrca(a, b, edges), (a, b)
    assert run_template(kb, "mrca", {"a": TICK, "b": TICK})[0]["id"] == TICK
    assert run_template(kb, "mrca", {"a": BRACE, "b": "org/base-b", "edges": "declared"}) == []


def test_family_and_family_summary(kb):
    rows = run_template(kb, "family", {"model": UNICODE})
    assert [r["id"] for r in rows] == sorted(m for m, f in g.FAMILY_OF.items() if f == "fam-b")
    assert {r["family"] for r in rows} == {"fam-b"}
    assert [r["id"] for r in rows if r["is_root"]] == ["org/base-b"]
    summary = run_template(kb, "family-summary", {})
    assert summary == [
        {"family": "fam-a", "size": 10, "root": "org/base-a", "depth": 4, "finetunes": 6,
         "adapters": 1, "quantized": 1, "merges": 1, "distills": 0},
        {"family": "fam-b", "size": 4, "root": "org/base-b", "depth": 2, "finetunes": 1,
         "adapters": 1, "quantized": 0, "merges": 0, "distills": 1},
    ]
    only_b = run_template(kb, "family-summary", {"family": "fam-b", "edges": "declared"})
    assert [(r["family"], r["depth"]) for r in only_b] == [("fam-b", 2)]


def test_undocumented_and_contradicted(kb):
    rows = run_template(kb, "undocumented", {})
    assert [(r["model"], r["inferred_parent"], r["relation"]) for r in rows] == [
        (BRACE, "org/q1", "finetune"), (UNICODE, "org/base-b", "distill"),
    ]
    assert [r["model"] for r in run_template(kb, "undocumented", {"min_support": 0.8})] == [UNICODE]
    rows = run_template(kb, "contradicted", {})
    assert [(r["model"], r["declared_parent"], r["inferred_parent"], r["reason"]) for r in rows] == [
        ("org/b-ft", "org/base-b", "org/base-a", "closer to org/base-a"),
    ]
    assert run_template(kb, "contradicted", {"min_support": 0.5}) == []


@pytest.mark.parametrize("model", ["org/base-a", QUOTE, UNICODE, TICK])
def test_nearest_matches_brute_force(kb, model):
    rows = run_template(kb, "nearest", {"model": model, "k": 4})
    expected = g.nearest(model, 4)
    assert [r["id"] for r in rows] == [m for m, _ in expected]
    assert [r["distance"] for r in rows] == pytest.approx([d for _, d in expected], rel=1e-6)
    everything = run_template(kb, "nearest", {"model": model, "k": 1000})
    assert len(everything) == len(g.dnas()) - 1  # all with a DNA, except the model itself


def test_every_template_has_a_header_and_runs(kb):
    catalogue = load_catalogue()
    expected = {"descendants", "descendant-count", "ancestors", "children", "parent", "siblings",
                "family", "mrca", "nearest", "undocumented", "contradicted", "family-summary"}
    assert expected <= set(catalogue)
    for template in catalogue.values():
        assert template.description, template.name
        params = {p.name: {"model": "org/ft1", "dna_model": "org/ft1", "family": "fam-a"}.get(p.type, p.default)
                  for p in template.params}
        if template.name == "mrca":
            params = {"a": "org/m1", "b": "org/q1"}
        assert isinstance(run_template(kb, template.name, params), list)


def test_nearest_follows_writes_to_the_store(kb):
    """The embedded store caches its DNA matrix: adding a model or moving a DNA must show at once."""
    base = g.dnas()["org/base-a"].astype(float)
    before = run_template(kb, "nearest", {"model": "org/base-a", "k": 2})
    kb.upsert_models([ModelRecord(id="new/twin", dna=(base + 0.001).tolist(), protocol=g.PROTOCOL)])
    rows = run_template(kb, "nearest", {"model": "org/base-a", "k": 2})
    assert rows[0]["id"] == "new/twin" and rows[1]["id"] == before[0]["id"]
    kb.upsert_models([ModelRecord(id="new/twin", dna=(base + 50.0).tolist(), protocol=g.PROTOCOL)])
    assert run_template(kb, "nearest", {"model": "org/base-a", "k": 2}) == before
