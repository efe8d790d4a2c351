"""Read-only is enforced by the database, not by a pattern: every write form below is refused on both
stores, with and without the friendly pattern check, and the store stays byte-for-byte the same."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import kb.stores.base as base
from kb.errors import InputError
from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord
from kb.templates import load_catalogue, run_template

WRITE_FORMS = [
    "CREATE (:Model {id: 'x'})",
    "create (:Model {id: 'x'})",
    "CrEaTe (:Model {id: 'x'})",
    "\tCREATE\n(:Model {id: 'x'})",
    "MERGE (m:Model {id: 'x'})",
    "MERGE (m:Model {id: 'org/a'}) ON MATCH SET m.name = 'x'",
    "MATCH (m:Model) SET m.name = 'x'",
    "MATCH (m:Model) SET m.tags = ['x']",
    "MATCH (m:Model) SET m += {name: 'x'}",
    "MATCH (m:Model) SET m:Other",
    "MATCH (m:Model) REMOVE m.name",
    "MATCH (m:Model) DELETE m",
    "MATCH (m:Model) DETACH DELETE m",
    "MATCH ()-[e:DECLARED_PARENT]->() DELETE e",
    "MATCH (a:Model {id: 'org/a'}), (b:Model {id: 'org/b'}) CREATE (b)-[:DECLARED_PARENT {relation: 'merge'}]->(a)",
    "MATCH (m:Model) WITH count(m) AS c WHERE c > 0CREATE (:Model {id: 'x'})",
    "MATCH (m:Model) WITH count(m) AS c WHERE c > 0SET m.name = 'x'",
    "MATCH (m:Model) WITH m, count(m) AS c WHERE c > 0DELETE m",
    "MATCH (m:Model) WITH count(m) AS c WHERE c > 0MERGE (:Model {id: 'x'})",
    "MATCH (m:Model) FOREACH (x IN [1] | SET m.name = 'x')",
    "UNWIND [1, 2] AS i CREATE (:Model {id: toString(i)})",
    "CALL { CREATE (:Model {id: 'x'}) }",
    "MATCH (m:Model) CALL { WITH m SET m.name = 'x' }",
    "MATCH (m:Model) CALL (m) { SET m.name = 'x' }",
    "/* read */ CREATE (:Model {id: 'x'})",
    "// read\nCREATE (:Model {id: 'x'})",
    "MATCH (m:Model {id: 'a;b'}) RETURN m.id AS id; CREATE (:Model {id: 'x'})",
    "COMMIT; CREATE (:Model {id: 'x'})",
    "ROLLBACK; MATCH (m:Model) SET m.name = 'x'",
    "RETURN 1 AS a UNION ALL CREATE (:Model {id: 'x'}) RETURN 2 AS a",
    "LOAD CSV FROM 'file:///etc/hostname' AS row CREATE (:Model {id: row[0]})",
    "LOAD FROM '/etc/hostname' RETURN *",
    "COPY Model FROM '/tmp/dnakb-nothing.csv'",
    "COPY (MATCH (m:Model) RETURN m.id) TO '/tmp/dnakb-ro-out.csv'",
    "CREATE INDEX ro_idx FOR (m:Model) ON (m.name)",
    "CREATE CONSTRAINT ro_c FOR (m:Model) REQUIRE m.name IS UNIQUE",
    "DROP INDEX model_dna",
    "DROP CONSTRAINT model_id",
    "CREATE NODE TABLE X(id STRING PRIMARY KEY)",
    "DROP TABLE Meta",
    "ALTER TABLE Model ADD x STRING",
    "CHECKPOINT",
    "BEGIN TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "CALL db.createLabel('X')",
    "CALL db.createProperty('x')",
    "INSTALL json",
    "EXPORT DATABASE '/tmp/dnakb-ro-export'",
    "IMPORT DATABASE '/tmp/dnakb-ro-export'",
    "ATTACH '/tmp/dnakb-other' AS other",
    "CREATE USER x SET PASSWORD 'password1'",
    "STOP DATABASE neo4j",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
]


NOT_STORE_WRITES = {
    "COPY (MATCH (m:Model) RETURN m.id) TO '/tmp/dnakb-ro-out.csv'",  # LadybugDB: a read, to a file
    "EXPORT DATABASE '/tmp/dnakb-ro-export'",
    "COMMIT", "ROLLBACK",  # end our read-only transaction, and nothing else runs (one statement only)
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",  # Neo4j: an admin command, no data
}
"""Forms a database runs in a read-only transaction because they do not change the store; the pattern
check refuses them all the same (files and admin are not what `dnakb cypher` is for)."""


def fill(store) -> None:
    store.upsert_models([
        ModelRecord(id=f"org/{c}", dna=np.full(8, i, np.float32), protocol="p", org="o", license="mit")
        for i, c in enumerate("abc")
    ])
    store.upsert_declared_edges([DeclaredEdge("org/b", "org/a")])
    store.replace_inferred([Family("family:org/a", 3, "org/a")],
                           [Membership(f"org/{c}", "family:org/a", 1.0) for c in "abc"],
                           [InferredEdge("org/c", "org/a", 0.5, 0.9)])
    store.set_meta("k", "v")
    store.refresh_lineage_index()  # a cache the descendant-count template keeps current


def fingerprint(store) -> str:
    """A hash of every node, edge, meta value and schema object of the store."""
    parts = {
        "models": [m.as_row() for m in store.get_models()],
        "declared": [vars(e) for e in store.declared_edges()],
        "inferred": [vars(e) for e in store.inferred_edges()],
        "members": [vars(m) for m in store.memberships()], "families": [vars(f) for f in store.families()],
        "meta": store.get_meta("k"), "stats": vars(store.stats()),
        "schema": sorted(json.dumps(r, sort_keys=True, default=str) for r in (
            store._read("CALL show_tables() RETURN *") if store.kind == "embedded"
            else store._read("SHOW INDEXES YIELD name RETURN name") + store._read("SHOW CONSTRAINTS YIELD name RETURN name")
            + store._read("CALL db.labels() YIELD label RETURN label") + store._read("CALL db.propertyKeys() YIELD propertyKey RETURN propertyKey"))),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def test_there_are_enough_write_forms() -> None:
    assert len(WRITE_FORMS) >= 40


@pytest.mark.parametrize("pattern", [True, False], ids=["with-pattern", "engine-only"])
def test_no_write_without_write_on_either_store(store, monkeypatch, pattern: bool) -> None:
    fill(store)
    before = fingerprint(store)
    if not pattern:  # the engine alone must refuse them
        monkeypatch.setattr(base, "write_clause_in", lambda query: None)
    accepted = []
    for query in WRITE_FORMS:
        try:
            store.cypher(query)
            accepted.append(query)
        except InputError:
            pass
        assert fingerprint(store) == before, query
    assert set(accepted) <= (NOT_STORE_WRITES if not pattern else set()), accepted


def test_templates_read_and_the_pattern_names_the_clause(store) -> None:
    fill(store)
    before = fingerprint(store)
    with pytest.raises(InputError, match="write clause CREATE; pass --write"):
        store.cypher("MATCH (m:Model) WITH count(m) AS c WHERE c > 0CREATE (:Model {id: 'x'})")
    for name, template in load_catalogue().items():
        if all(not p.required or p.type in ("model", "dna_model") for p in template.params):
            params = {p.name: "org/b" for p in template.params if p.required}
            run_template(store, name, params)
    store.cypher("MATCH (m:Model) RETURN m.id AS id")
    assert fingerprint(store) == before
