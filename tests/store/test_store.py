"""Every store operation, run against both stores by the same test."""

from __future__ import annotations

import numpy as np
import pytest

from kb.errors import ConflictError, InputError, NotFoundError
from kb.faults import InjectedFault
from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord
from kb.stores import GraphStore

PROTOCOL = "p-test"


def dna(seed: int, dim: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def zoo(n: int = 6) -> list[ModelRecord]:
    return [
        ModelRecord(id=f"org/m{i}", dna=dna(i), protocol=PROTOCOL, fingerprint=f"fp{i}",
                    released=f"2024-01-{i + 1:02d}", params=1000 * i, tags=["t"])
        for i in range(n)
    ]


def snapshot(store: GraphStore) -> tuple:
    models = [m.as_row() for m in store.get_models()]
    return (
        models, store.declared_edges(), store.inferred_edges(), store.memberships(),
        store.families(), store.stats(),
    )


def test_dna_round_trips_exactly(store: GraphStore) -> None:
    models = zoo()
    store.upsert_models(models)
    ids, matrix = store.dna_matrix(PROTOCOL)
    assert ids == sorted(m.id for m in models)
    assert matrix.dtype == np.float32 and matrix.shape == (6, 128)
    for model in models:
        assert np.array_equal(matrix[ids.index(model.id)], model.dna)
    stored = {m.id: m for m in store.get_models(["org/m3"])}
    assert np.array_equal(stored["org/m3"].dna, models[3].dna)
    assert stored["org/m3"].released == "2024-01-04" and stored["org/m3"].params == 3000


def test_what_the_weights_say_about_a_file_round_trips(store: GraphStore) -> None:
    store.upsert_models([ModelRecord(id="org/q", signature="sig", precision="q8_0", made_by="quantize",
                                     metadata_digest="0123abcd"),
                         ModelRecord(id="org/h", signature="sig", precision="f32")])
    got = {m.id: (m.signature, m.precision, m.made_by, m.metadata_digest) for m in store.get_models()}
    assert got == {"org/q": ("sig", "q8_0", "quantize", "0123abcd"), "org/h": ("sig", "f32", None, None)}


def test_upserting_twice_changes_nothing(store: GraphStore) -> None:
    models = zoo()
    edges = [DeclaredEdge(f"org/m{i}", "org/m0", "finetune") for i in range(1, 6)]
    store.upsert_models(models)
    store.upsert_declared_edges(edges)
    before = snapshot(store)
    store.upsert_models(zoo())
    store.upsert_declared_edges(edges)
    assert snapshot(store) == before


def test_metadata_upsert_keeps_dna_and_updates_fields(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    store.upsert_models([ModelRecord(id="org/m1", org="acme", license="mit")])
    (model,) = store.get_models(["org/m1"])
    assert model.org == "acme" and model.license == "mit"
    assert np.array_equal(model.dna, dna(1)) and model.fingerprint == "fp1"


def test_one_batch_of_stored_and_new_models_with_and_without_vectors(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    store.upsert_models([
        ModelRecord(id="org/m0", org="acme"),  # stored, no vector: keeps its DNA
        ModelRecord(id="org/m1", dna=dna(7), protocol=PROTOCOL, channels={"loglik": dna(8, 64)}),  # stored, new vectors
        ModelRecord(id="org/new-dna", dna=dna(9), protocol=PROTOCOL),
        ModelRecord(id="org/new-card", name="card only"),
    ])
    got = {m.id: m for m in store.get_models()}
    assert got["org/m0"].org == "acme" and np.array_equal(got["org/m0"].dna, dna(0))
    assert np.array_equal(got["org/m1"].dna, dna(7)) and np.array_equal(got["org/m1"].vector("loglik"), dna(8, 64))
    assert np.array_equal(got["org/new-dna"].dna, dna(9)) and got["org/new-dna"].vector("loglik") is None
    assert got["org/new-card"].dna is None and got["org/new-card"].name == "card only"


def test_metadata_only_models_have_no_dna(store: GraphStore) -> None:
    store.upsert_models([ModelRecord(id="hf/only-card")])
    assert store.protocols() == {}
    assert store.dna_matrix(PROTOCOL)[0] == []
    assert store.stats().models == 1 and store.stats().models_with_dna == 0


def test_batch_failing_midway_leaves_store_unchanged(store: GraphStore, monkeypatch) -> None:
    store.upsert_models(zoo(3))
    before = snapshot(store)
    monkeypatch.setenv("DNAKB_FAULT", "store.write")
    changed = [ModelRecord(id="org/m1", org="new-org"), ModelRecord(id="org/new", dna=dna(9), protocol=PROTOCOL)]
    with pytest.raises(InjectedFault, match="injected fault"):
        store.upsert_models(changed)
    monkeypatch.delenv("DNAKB_FAULT")
    assert snapshot(store) == before


def test_wrong_dna_length_is_refused_and_nothing_written(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    before = snapshot(store)
    bad = [ModelRecord(id="org/ok", dna=dna(5), protocol=PROTOCOL),
           ModelRecord(id="org/short", dna=dna(6, 64), protocol=PROTOCOL)]
    with pytest.raises(InputError, match="64 values"):
        store.upsert_models(bad)
    assert snapshot(store) == before


def test_same_id_other_weights_is_a_conflict(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    before = snapshot(store)
    with pytest.raises(ConflictError, match="other weights"):
        store.upsert_models([ModelRecord(id="org/new"), ModelRecord(id="org/m1", fingerprint="other")])
    assert snapshot(store) == before


def test_declared_edges_need_both_models(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    with pytest.raises(NotFoundError, match="org/ghost"):
        store.upsert_declared_edges([DeclaredEdge("org/m1", "org/ghost")])
    assert store.declared_edges() == []


def test_declared_edge_relation_is_updated_not_duplicated(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    store.upsert_declared_edges([DeclaredEdge("org/m1", "org/m0", "finetune", "card")])
    store.upsert_declared_edges([DeclaredEdge("org/m1", "org/m0", "adapter", "manifest")])
    assert store.declared_edges() == [DeclaredEdge("org/m1", "org/m0", "adapter", "manifest")]


def test_duplicates(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    store.mark_duplicate("org/m1", "org/m0")
    store.mark_duplicate("org/m1", "org/m0")
    assert store.stats().duplicate_edges == 1
    rows = store.cypher("MATCH (a:Model)-[:DUPLICATE_OF]->(b:Model) RETURN a.id AS dup, b.id AS orig")
    assert rows == [{"dup": "org/m1", "orig": "org/m0"}]


def test_duplicates_name_their_original_and_date(store: GraphStore) -> None:
    models = zoo(4)
    models[3].released = None
    store.upsert_models(models)
    for dup in ("org/m2", "org/m3"):
        store.mark_duplicate(dup, "org/m0")
    assert store.duplicates() == {"org/m2": ("org/m0", "2024-01-03"), "org/m3": ("org/m0", None)}


def test_replace_inferred_swaps_everything(store: GraphStore) -> None:
    store.upsert_models(zoo(4))
    store.replace_inferred(
        [Family("fam-a", 2, root="org/m0")],
        [Membership("org/m0", "fam-a", 1.0), Membership("org/m1", "fam-a", 0.8)],
        [InferredEdge("org/m1", "org/m0", 0.25, support=0.9, relation="finetune", channel="weights")],
    )
    assert store.families() == [Family("fam-a", 2, root="org/m0")]
    assert store.inferred_edges()[0].support == 0.9
    store.replace_inferred(
        [Family("fam-b", 2, root="org/m2")],
        [Membership("org/m2", "fam-b", 1.0), Membership("org/m3", "fam-b", 1.0)],
        [InferredEdge("org/m3", "org/m2", 0.5)],
    )
    assert [f.id for f in store.families()] == ["fam-b"]
    assert [(e.child, e.parent) for e in store.inferred_edges()] == [("org/m3", "org/m2")]
    assert [m.model for m in store.memberships()] == ["org/m2", "org/m3"]


def test_provisional_edges_are_added_beside_the_others(store: GraphStore) -> None:
    store.upsert_models(zoo(3))
    store.replace_inferred([Family("f", 2)], [Membership("org/m0", "f", 1.0), Membership("org/m1", "f", 1.0)],
                           [InferredEdge("org/m1", "org/m0", 0.2)])
    store.add_inferred_edges([InferredEdge("org/m2", "org/m1", 0.3, provisional=True)],
                             [Membership("org/m2", "f", 0.5)])
    edges = {(e.child, e.parent): e for e in store.inferred_edges()}
    assert set(edges) == {("org/m1", "org/m0"), ("org/m2", "org/m1")}
    assert edges[("org/m2", "org/m1")].provisional is True
    assert len(store.memberships()) == 3


def test_delete_model_removes_its_edges(store: GraphStore) -> None:
    store.upsert_models(zoo(3))
    store.upsert_declared_edges([DeclaredEdge("org/m1", "org/m0"), DeclaredEdge("org/m2", "org/m1")])
    assert store.delete_model("org/m1") is True
    assert store.delete_model("org/m1") is False
    assert store.model_ids() == ["org/m0", "org/m2"] and store.declared_edges() == []


def test_protocols_and_stats(store: GraphStore) -> None:
    store.upsert_models(zoo(3) + [ModelRecord(id="x/other", dna=dna(7), protocol="p-other")])
    assert store.protocols() == {PROTOCOL: 3, "p-other": 1}
    stats = store.stats()
    assert (stats.models, stats.models_with_dna, stats.store) == (4, 4, store.kind)


def test_read_only_cypher_refuses_writes(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    with pytest.raises(InputError, match="write clause DETACH"):
        store.cypher("MATCH (m:Model) DETACH DELETE m")
    rows = store.cypher("MATCH (m:Model) WHERE m.name = 'CREATE' RETURN count(m) AS n")
    assert rows == [{"n": 0}]
    store.cypher("MATCH (m:Model {id: $id}) SET m.org = 'w'", {"id": "org/m0"}, write=True)
    assert store.get_models(["org/m0"])[0].org == "w"


def test_malformed_cypher_is_a_clear_error(store: GraphStore) -> None:
    with pytest.raises(InputError, match="query failed"):
        store.cypher("MATCH (m:Model RETURN m")


def test_many_models_in_several_batches(store: GraphStore) -> None:
    models = [ModelRecord(id=f"bulk/{i}", dna=dna(i), protocol=PROTOCOL) for i in range(12_000)]
    store.upsert_models(models)
    edges = [DeclaredEdge(f"bulk/{i}", f"bulk/{(i - 1) // 2}") for i in range(1, 12_000)]
    store.upsert_declared_edges(edges)
    stats = store.stats()
    assert (stats.models, stats.declared_edges) == (12_000, 11_999)
    rows = store.cypher(
        "MATCH (d:Model)-[:DECLARED_PARENT*1..40]->(r:Model {id: 'bulk/0'}) RETURN count(DISTINCT d) AS n"
    )
    assert rows == [{"n": 11_999}]


def test_vectors_come_back_from_cypher_as_float_lists(store: GraphStore) -> None:
    model = ModelRecord(id="org/v", dna=dna(1), protocol=PROTOCOL, channels={"loglik": dna(2, 7)})
    store.upsert_models([model])
    (row,) = store.cypher("MATCH (m:Model {id: 'org/v'}) RETURN m.dna AS dna, m.loglik AS loglik, m.sketch AS sketch")
    assert row["dna"] == model.dna.tolist() and row["loglik"] == model.vector("loglik").tolist() and row["sketch"] is None


def test_vectors_of_different_lengths_in_one_batch(store: GraphStore) -> None:
    models = [ModelRecord(id=f"org/l{i}", channels={"loglik": dna(i, 5 + i), "weights": dna(i, 3) if i else None})
              for i in range(3)]
    store.upsert_models(models)
    stored = {m.id: m for m in store.get_models()}
    for model in models:
        assert np.array_equal(stored[model.id].vector("loglik"), model.vector("loglik"))
        assert (stored[model.id].vector("weights") is None) == (model.vector("weights") is None)
    assert np.array_equal(stored["org/l2"].vector("weights"), models[2].vector("weights"))


def test_lineage_with_an_edge_to_nowhere_is_refused(store: GraphStore) -> None:
    store.upsert_models(zoo(2))
    models = [ModelRecord(id="org/new", org="x"), ModelRecord(id="org/m1", org="changed")]
    edges = [DeclaredEdge("org/new", "org/m0"), DeclaredEdge("org/new", "org/ghost")]
    before = snapshot(store)
    with pytest.raises(NotFoundError, match="org/ghost"):
        store.upsert_lineage(models, edges)
    assert store.declared_edges() == []
    if store.kind == "embedded":  # one transaction: the models did not land either
        assert snapshot(store) == before


def test_bulk_edges_of_many_families(store: GraphStore) -> None:
    """More than one write batch of edges in many small trees (Neo4j writes them concurrently)."""
    n = 24_000
    store.upsert_models([ModelRecord(id=f"f/{i}") for i in range(n)])
    edges = [DeclaredEdge(f"f/{i}", f"f/{i - i % 4}") for i in range(n) if i % 4]  # 6,000 families
    store.upsert_lineage([], edges)
    assert store.stats().declared_edges == len(edges)
    assert sorted((e.child, e.parent) for e in store.declared_edges()) == sorted((e.child, e.parent) for e in edges)


def test_lineage_index_counts_and_is_not_marked_current_under_an_old_stamp(store: GraphStore) -> None:
    store.upsert_models([ModelRecord(id=m) for m in ("base", "tune", "merge", "late")])
    store.upsert_declared_edges([DeclaredEdge("tune", "base"), DeclaredEdge("merge", "base"),
                                 DeclaredEdge("merge", "tune")])
    assert store.refresh_lineage_index() == 2  # base and tune gained descendants; leaves stay 0
    assert store.cypher("MATCH (m:Model {id: 'base'}) RETURN m.descendants AS n")[0]["n"] == 2
    # a recount that read the stamp before another write landed must leave the index stale
    stamp, _ = store._lineage_marks()
    store.upsert_declared_edges([DeclaredEdge("late", "merge")])
    store._write_descendant_counts([], np.zeros((0, 3), np.int64), stamp)
    assert not store.lineage_index_fresh()
    assert store.refresh_lineage_index() == 3 and store.lineage_index_fresh()
    assert store.cypher("MATCH (m:Model {id: 'base'}) RETURN m.descendants AS n")[0]["n"] == 3


def test_a_protocol_of_another_dna_width_is_stored_and_searched(store: GraphStore) -> None:
    """The DNA width is the protocol's, not a constant: 64-value DNAs are stored, read back and
    searched (on Neo4j through a vector index made at that width)."""
    from kb.templates import run_template

    models = [ModelRecord(id=f"w/{i}", dna=dna(i, 64), protocol="p64") for i in range(6)]
    store.upsert_models(models)
    assert store.protocol_dims() == {"p64": 64}
    ids, matrix = store.dna_matrix("p64")
    assert matrix.shape == (6, 64)
    distances = np.linalg.norm(matrix - matrix[0], axis=1)
    expected = [ids[i] for i in np.argsort(distances)[1:3]]
    assert [row["id"] for row in run_template(store, "nearest", {"model": "w/0", "k": 2})] == expected
    with pytest.raises(InputError, match="protocol p64 uses 64"):
        store.upsert_models([ModelRecord(id="w/bad", dna=dna(9, 128), protocol="p64")])
