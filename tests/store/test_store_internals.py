"""Store pieces that need no server: Neo4j's write lanes, the embedded store's format check."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.errors import StoreError
from kb.templates import run_template
from kb.records import DeclaredEdge
from kb.stores.embedded import EmbeddedStore
from kb.stores.neo4j_store import edge_lanes


def _nodes(lane: list[list[DeclaredEdge]]) -> set[str]:
    return {n for batch in lane for e in batch for n in (e.child, e.parent)}


def _flat(lanes: list[list[list[DeclaredEdge]]]) -> list[str]:
    return sorted(repr(e) for lane in lanes for batch in lane for e in batch)


def test_edge_lanes_share_no_model_and_hold_every_edge_once() -> None:
    edges = [DeclaredEdge(f"t{t}/c{i}", f"t{t}/root") for t in range(30) for i in range(1, t % 7 + 2)]
    lanes = edge_lanes(edges, 2, 10)
    assert len(lanes) == 2 and _flat(lanes) == sorted(map(repr, edges))
    assert not _nodes(lanes[0]) & _nodes(lanes[1])
    assert all(len(batch) <= 10 for lane in lanes for batch in lane)
    assert abs(sum(map(len, lanes[0])) - sum(map(len, lanes[1]))) <= 7  # balanced within one family


def test_one_big_family_stays_in_one_lane() -> None:
    chain = [DeclaredEdge(f"m{i}", f"m{i - 1}") for i in range(1, 26)]
    lanes = edge_lanes(chain, 2, 10)
    assert [[len(b) for b in lane] for lane in lanes] == [[10, 10, 5]]
    assert _flat(lanes) == sorted(map(repr, chain))


def test_a_store_from_the_float_list_era_is_refused(tmp_path: Path) -> None:
    import ladybug

    path = tmp_path / "old-kb"
    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    conn.execute("CREATE NODE TABLE Model(id STRING PRIMARY KEY, name STRING, dna FLOAT[])")
    conn.close()
    db.close()
    with pytest.raises(StoreError, match="made by an older dnakb"):
        EmbeddedStore(path)


def test_a_store_from_before_the_lineage_index_gains_it(tmp_path: Path) -> None:
    """Model tables made before the descendant counts existed get the columns, counted on demand."""
    import ladybug

    from kb.stores.embedded import SCHEMA

    path = tmp_path / "kb"
    db = ladybug.Database(str(path))
    conn = ladybug.Connection(db)
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute("CREATE (:Model {id: 'base'}), (:Model {id: 'tune'})")
    conn.execute("MATCH (c:Model {id: 'tune'}), (p:Model {id: 'base'}) CREATE (c)-[:DECLARED_PARENT]->(p)")
    conn.close()
    db.close()
    with EmbeddedStore(path) as store:
        assert not store.lineage_index_fresh()
        assert run_template(store, "descendant-count", {"model": "base"})[0]["descendants"] == 1


def test_an_engine_error_in_a_write_is_one_line_and_writes_nothing(tmp_path) -> None:
    """The engine's own errors in a write transaction become one StoreError line; the transaction
    rolls back."""
    from kb.errors import StoreError
    from kb.records import ModelRecord
    from kb.stores import StoreConfig, open_store

    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as store:
        store.upsert_models([ModelRecord(id="a")])

        def work() -> None:
            store._conn.execute("CREATE (:Model {id: 'b'})")
            store._conn.execute("CREATE (:Model {id: 'a'})")  # the primary key exists

        with pytest.raises(StoreError, match=r"^the embedded store refused the write: .*\S$") as raised:
            store._in_transaction(work)
        assert "\n" not in str(raised.value)
        assert store.model_ids() == ["a"]
