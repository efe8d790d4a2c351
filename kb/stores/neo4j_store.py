"""The server store: Neo4j 5 over Bolt with the official driver.

Every batch is one managed write transaction (`execute_write`), so it lands whole or not at all,
and the driver retries it on transient failures (a server restart mid-ingest). Writes are
`UNWIND $rows` statements; the schema (a unique constraint on Model.id, a vector index on
Model.dna) is created idempotently on open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

import numpy as np

from kb.errors import InputError, NotFoundError, StoreError, StoreUnavailableError
from kb.faults import fault_point
from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord
import kb.stores.cypher as q
from kb.stores.base import (
    BATCH_SIZE,
    DESCENDANT_FIELDS,
    PARENT_EDGE_TYPES,
    VECTOR_FIELDS,
    GraphStore,
    check_fingerprints,
    check_memberships,
    check_model_batch,
    chunks,
    model_row,
    parse_protocol_dims,
    protocol_dims_after,
)

VECTOR_INDEX = "model_dna"
WRITERS = 2  # concurrent write transactions in a bulk write

# The vector index keeps full floats: int8 quantization (Neo4j's default) scores candidates
# approximately and stores a second copy of every vector. Its HNSW graph is built with a short
# candidate list (ef_construction 12 instead of 100: 5x faster inserts) and searched with a long
# one (`nearest` asks for 4k+400 candidates), which recalls as many true neighbours as the defaults
# did with 4k+16 (0.88 of the 10 nearest on random DNAs). Transaction size (BATCH_SIZE) trades
# insert rate against `nearest` latency: each commit leaves an index segment that every query
# searches until merged (bench/RESULTS.md, "Stores"). Its width is the DNA width of the KB's first
# protocol, so it is made when the first DNA is stored (a DNA of another width is not indexed).
def vector_index_schema(dim: int) -> str:
    return (
        f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (m:Model) ON m.dna OPTIONS "
        f"{{indexConfig: {{`vector.dimensions`: {int(dim)}, "
        "`vector.similarity_function`: 'euclidean', `vector.quantization.enabled`: false, "
        "`vector.hnsw.m`: 16, `vector.hnsw.ef_construction`: 12}}"
    )


SCHEMA = (
    "CREATE CONSTRAINT model_id IF NOT EXISTS FOR (m:Model) REQUIRE m.id IS UNIQUE",
    "CREATE CONSTRAINT family_id IF NOT EXISTS FOR (f:Family) REQUIRE f.id IS UNIQUE",
    "CREATE CONSTRAINT meta_key IF NOT EXISTS FOR (k:Meta) REQUIRE k.key IS UNIQUE",
)

# Vectors travel as one 2-d array parameter per field, rows carry their row index: the driver
# packs an ndarray in one go but a list of floats one value at a time (5,000 DNAs: 0.06 s, 0.8 s).
def _upsert_models_query(vector_fields: Sequence[str], new: bool) -> str:
    """CREATE (new ids) or MATCH (stored ids) each row's model, then set its properties and the
    named stacked vector fields, which every row of the statement carries."""
    find = "CREATE (m:Model {id: r.id})" if new else "MATCH (m:Model {id: r.id})"
    return f"UNWIND $rows AS r {find} SET m += r.props" + "".join(
        f", m.{f} = ${f}[r.{f}]" for f in vector_fields
    )


_INFERRED_PROPS = "distance: r.distance, support: r.support, method: r.method, relation: r.relation, " \
    "channel: r.channel, provisional: r.provisional, flag: r.flag, reason: r.reason, direction: r.direction"


def _model_params(models: Sequence[ModelRecord]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows (non-null properties) and the stacked vectors of `_upsert_models_query`.

    A vector field whose vectors share one length goes as one array, rows holding their index in
    it; otherwise each vector goes with its row's properties as a float list. float32 values are
    exact in float64, so a DNA round-trips exactly.
    """
    full = [model_row(m) for m in models]
    rows: list[dict[str, Any]] = [
        {"id": m.id, "props": {k: v for k, v in row.items() if v is not None and k != "id" and k not in VECTOR_FIELDS}}
        for m, row in zip(models, full)
    ]
    arrays: dict[str, Any] = {}
    for field in VECTOR_FIELDS:
        present = [(row, values[field]) for row, values in zip(rows, full) if values[field] is not None]
        if len({len(v) for _, v in present}) == 1:
            arrays[field] = np.stack([v for _, v in present]).astype(np.float64)
            for position, (row, _) in enumerate(present):
                row[field] = position
        else:
            for row, vector in present:
                row["props"][field] = vector.tolist()
    return rows, arrays


def round_robin(batches: list[Any], lanes: int) -> list[list[Any]]:
    """Independent batches dealt to at most `lanes` lanes."""
    return [batches[i::lanes] for i in range(min(lanes, len(batches)))]


def edge_lanes(edges: Sequence[DeclaredEdge], lanes: int, size: int) -> list[list[list[DeclaredEdge]]]:
    """Edges split into `lanes` node-disjoint lanes of batches, for concurrent writers.

    Creating an edge locks both its nodes, so two concurrent transactions that share a node can
    deadlock (Neo4j aborts one; the driver retries it a second later). Lanes hold whole connected
    components, so no two lanes share a node; within a lane the batches run one after another.
    Components go largest first to the lane with the fewest edges.
    """
    root: dict[str, str] = {}

    def find(node: str) -> str:
        while root.setdefault(node, node) != node:
            root[node] = root[root[node]]
            node = root[node]
        return node

    for edge in edges:
        root[find(edge.child)] = find(edge.parent)
    components: dict[str, list[DeclaredEdge]] = {}
    for edge in edges:
        components.setdefault(find(edge.child), []).append(edge)
    lane_edges: list[list[DeclaredEdge]] = [[] for _ in range(lanes)]
    for component in sorted(components.values(), key=len, reverse=True):
        min(lane_edges, key=len).extend(component)
    return [[lane[i : i + size] for i in range(0, len(lane), size)] for lane in lane_edges if lane]


class Neo4jStore(GraphStore):
    kind = "neo4j"

    def __init__(self, uri: str, user: str, password: str | None) -> None:
        import neo4j
        from neo4j.exceptions import AuthError, DriverError, ServiceUnavailable

        self.location = uri
        if not password:
            raise StoreError("no Neo4j password: set NEO4J_PASSWORD or pass --neo4j-password")
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri, auth=(user, password), connection_timeout=10, max_transaction_retry_time=60,
                notifications_min_severity="OFF",  # e.g. "type INFERRED_PARENT does not exist" on an empty KB
            )
            self._driver.verify_connectivity()
        except AuthError:
            raise StoreError(
                f"Neo4j at {uri} refused the credentials of user {user!r}: check NEO4J_PASSWORD"
            ) from None
        except (ServiceUnavailable, OSError, ValueError, DriverError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise StoreError(
                f"cannot reach Neo4j at {uri} ({reason}); start it (scripts/neo4j-local start "
                "or docker compose up -d) or set NEO4J_URI"
            ) from None
        with self._driver.session() as session:
            for statement in SCHEMA:
                session.run(statement).consume()
        self._ensure_vector_index()

    def _ensure_vector_index(self) -> None:
        """The vector index over `dna`, at the width of the KB's first protocol (none before a DNA)."""
        dims = self.protocol_dims()
        if not dims:
            return
        with self._server_errors(), self._driver.session() as session:
            session.run(vector_index_schema(next(iter(dims.values())))).consume()
            session.run("CALL db.awaitIndexes(60)").consume()

    # --- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_driver", None) is not None:
            self._driver.close()
            self._driver = None  # type: ignore[assignment]

    def _write(self, work: Callable[[Any], Any], *, changes_lineage: bool = False) -> Any:
        """`work(tx)` in one managed write transaction. `changes_lineage`: the work may change
        parent edges, so the transaction ends by marking the lineage index stale (last, so
        concurrent writers hold the one Meta node's lock only until they commit)."""
        def run(tx: Any) -> Any:
            result = work(tx)
            if changes_lineage:
                self._set_meta_tx(tx, "lineage_generation", self._new_lineage_stamp())
            return result

        with self._server_errors(), self._driver.session() as session:
            return session.execute_write(run)

    def _vector(self, value: Any) -> np.ndarray | None:
        return None if value is None else np.asarray(value, dtype=np.float32)

    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        # An auto-commit query: one round trip instead of a managed transaction's begin, run and
        # commit (a small query: 1.6 ms instead of 3.4 ms). A read has nothing to leave half done.
        from neo4j import READ_ACCESS

        with self._server_errors(), self._driver.session(default_access_mode=READ_ACCESS) as session:
            return [r.data() for r in session.run(query, params or {})]

    @contextmanager
    def _server_errors(self) -> Iterator[None]:
        """Driver and server failures (after the driver's own retries) become one-line StoreErrors;
        query errors (ClientError) pass through for `cypher` to report as bad input."""
        from neo4j.exceptions import ClientError, DriverError, Neo4jError, ServiceUnavailable, SessionExpired, TransientError

        try:
            yield
        except ClientError:
            raise
        except (DriverError, Neo4jError) as error:
            text = getattr(error, "message", None) or str(error) or type(error).__name__
            unavailable = isinstance(error, (ServiceUnavailable, SessionExpired, TransientError)) or \
                type(error).__name__ == "IncompleteCommit"
            kind = StoreUnavailableError if unavailable else StoreError
            raise kind(f"Neo4j at {self.location}: {text.splitlines()[0]}") from None
        except OSError as error:  # a connection dropped below the driver
            raise StoreUnavailableError(f"Neo4j at {self.location}: {error}") from None

    def _existing(self, tx: Any, ids: Sequence[str]) -> dict[str, str | None]:
        # One record holding all pairs: a record per model costs a Bolt message each (~0.1 ms).
        record = tx.run(
            "UNWIND $ids AS id MATCH (m:Model {id: id}) RETURN collect([m.id, m.fingerprint]) AS found",
            ids=list(ids),
        ).single()
        return dict(record["found"]) if record else {}

    def clear(self) -> None:
        def work(tx: Any) -> int:  # in slices: one transaction over 100k nodes exhausts the heap
            return tx.run(
                "MATCH (n) WHERE n:Model OR n:Family OR n:Meta WITH n LIMIT 5000 "
                "DETACH DELETE n RETURN count(*) AS n"
            ).single()["n"]

        while self._write(work):
            pass
        # the vector index goes with the data: the next first DNA sets its width (and today's settings)
        with self._server_errors(), self._driver.session() as session:
            session.run(f"DROP INDEX {VECTOR_INDEX} IF EXISTS").consume()

    # --- writes ----------------------------------------------------------------------------
    def upsert_models(self, models: Sequence[ModelRecord]) -> int:
        models = list(models)
        check_model_batch(models, self.protocol_dims())

        def write_batch(batch: Sequence[ModelRecord]) -> None:
            rows, arrays = _model_params(batch)

            def work(tx: Any) -> None:
                stored = self._existing(tx, [m.id for m in batch])
                check_fingerprints(batch, stored)
                dims = self._protocol_dims_tx(tx)
                check_model_batch(batch, dims)
                # one statement per kind of row: new or stored, and which stacked vectors it has
                groups: dict[tuple[bool, tuple[str, ...]], list[dict[str, Any]]] = {}
                for row in rows:
                    key = (row["id"] not in stored, tuple(f for f in arrays if f in row))
                    groups.setdefault(key, []).append(row)
                for (new, fields), part in groups.items():
                    tx.run(_upsert_models_query(fields, new), rows=part, **{f: arrays[f] for f in fields}).consume()
                fault_point("store.write")
                value = protocol_dims_after(dims, batch)
                if value is not None:
                    self._set_meta_tx(tx, "protocol_dims", value)

            self._write(work)

        had_dims = bool(self.protocol_dims())
        self._in_parallel(write_batch, round_robin(list(chunks(models)), WRITERS))
        if not had_dims:
            self._ensure_vector_index()
        return len(models)

    def _in_parallel(self, write_batch: Callable[[Any], None], lanes: list[list[Any]]) -> None:
        """Each lane in its own thread, its batches one after another (one transaction each).

        A transaction runs on one server core, so lanes use the others. Batches are independent
        (each is all-or-nothing); the first failure is raised once the other lanes have finished.
        """
        def run(lane: list[Any]) -> None:
            for batch in lane:
                write_batch(batch)

        with ThreadPoolExecutor(max_workers=max(1, len(lanes))) as pool:
            futures = [pool.submit(run, lane) for lane in lanes]
            wait(futures)
        for future in futures:
            future.result()

    def _require_models(self, tx: Any, ids: set[str]) -> None:
        found = tx.run("UNWIND $ids AS id MATCH (m:Model {id: id}) RETURN count(m) AS n", ids=list(ids)).single()
        if found["n"] == len(ids):
            return
        missing = sorted(ids - set(self._existing(tx, sorted(ids))))
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise NotFoundError(f"no model {', '.join(map(repr, missing[:3]))}{more} in the store")

    def _write_declared_edges(self, edges: Sequence[DeclaredEdge]) -> int:

        def write_batch(batch: Sequence[DeclaredEdge]) -> None:
            rows = [vars(e) for e in batch]

            def work(tx: Any) -> None:
                self._require_models(tx, {r["child"] for r in rows} | {r["parent"] for r in rows})
                tx.run(
                    "UNWIND $rows AS r MATCH (c:Model {id: r.child}), (p:Model {id: r.parent}) "
                    "MERGE (c)-[e:DECLARED_PARENT]->(p) SET e.relation = r.relation, e.source = r.source",
                    rows=rows,
                ).consume()

            self._write(work, changes_lineage=True)

        self._in_parallel(write_batch, edge_lanes(edges, WRITERS, BATCH_SIZE))
        return len(edges)

    def mark_duplicate(self, duplicate: str, original: str) -> None:
        if duplicate == original:
            raise InputError(f"model {duplicate!r} cannot duplicate itself")

        def work(tx: Any) -> None:
            self._require_models(tx, {duplicate, original})
            tx.run(
                "MATCH (d:Model {id: $d}), (o:Model {id: $o}) MERGE (d)-[:DUPLICATE_OF]->(o)",
                d=duplicate, o=original,
            ).consume()

        self._write(work)

    @staticmethod
    def _write_inferred(tx: Any, edges: Sequence[InferredEdge], memberships: Sequence[Membership]) -> None:
        tx.run(
            "UNWIND $rows AS r MATCH (c:Model {id: r.child}), (p:Model {id: r.parent}) "
            f"MERGE (c)-[e:INFERRED_PARENT]->(p) SET e += {{{_INFERRED_PROPS}}}",
            rows=[vars(e) for e in edges],
        ).consume()
        tx.run(
            "UNWIND $rows AS r MATCH (m:Model {id: r.model}), (f:Family {id: r.family}) "
            "MERGE (m)-[e:MEMBER_OF]->(f) SET e.probability = r.probability",
            rows=[vars(m) for m in memberships],
        ).consume()

    def replace_inferred(
        self,
        families: Sequence[Family],
        memberships: Sequence[Membership],
        edges: Sequence[InferredEdge],
    ) -> None:
        check_memberships(families, memberships)

        def work(tx: Any) -> None:
            ids = {e.child for e in edges} | {e.parent for e in edges} | {m.model for m in memberships}
            self._require_models(tx, ids)
            tx.run("MATCH ()-[e:INFERRED_PARENT]->() DELETE e").consume()
            tx.run("MATCH (f:Family) DETACH DELETE f").consume()
            tx.run(
                "UNWIND $rows AS r CREATE (f:Family) SET f = r",
                rows=[{k: v for k, v in vars(f).items() if v is not None} for f in families],
            ).consume()
            self._write_inferred(tx, edges, memberships)

        self._write(work, changes_lineage=True)

    def add_inferred_edges(
        self, edges: Sequence[InferredEdge], memberships: Sequence[Membership] = ()
    ) -> None:
        def work(tx: Any) -> None:
            ids = {e.child for e in edges} | {e.parent for e in edges} | {m.model for m in memberships}
            self._require_models(tx, ids)
            tx.run(
                "UNWIND $ids AS id MATCH (:Model {id: id})-[e:MEMBER_OF]->() DELETE e",
                ids=sorted({m.model for m in memberships}),
            ).consume()
            self._write_inferred(tx, edges, memberships)

        self._write(work, changes_lineage=True)

    def delete_model(self, model_id: str) -> bool:
        def work(tx: Any) -> bool:
            record = tx.run(
                "MATCH (m:Model {id: $id}) DETACH DELETE m RETURN count(*) AS n", id=model_id
            ).single()
            return bool(record and record["n"])

        return self._write(work, changes_lineage=True)

    @staticmethod
    def _set_meta_tx(tx: Any, key: str, value: str) -> None:
        tx.run(q.SET_META, key=key, value=value).consume()

    @staticmethod
    def _protocol_dims_tx(tx: Any) -> dict[str, int]:
        record = tx.run(q.META_VALUE, key="protocol_dims").single()
        return parse_protocol_dims(record["v"] if record else None)

    def set_meta(self, key: str, value: str) -> None:
        self._write(lambda tx: self._set_meta_tx(tx, key, value))

    # --- reads -----------------------------------------------------------------------------
    def cypher(
        self, query: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> list[dict[str, Any]]:
        from neo4j.exceptions import ClientError

        self.refuse_writes(query, write)
        try:
            if write:  # it may have changed parent edges
                return self._write(lambda tx: [r.data() for r in tx.run(query, params or {})], changes_lineage=True)
            return self._read(query, params)
        except ClientError as error:
            raise InputError(f"query failed: {' '.join((error.message or str(error)).split())}") from None

    # --- lineage index ---------------------------------------------------------------------
    # Each read returns one record of whole columns: a record per row costs a Bolt message each
    # (100k rows: 5 s instead of 0.3 s).
    def _stored_descendant_counts(self) -> tuple[list[str], np.ndarray]:
        columns = ", ".join(f"collect(coalesce(m.{f}, 0))" for f in DESCENDANT_FIELDS.values())
        ids, *counts = self._columns(f"MATCH (m:Model) RETURN collect(m.id), {columns}")
        return ids, np.array(counts, dtype=np.int64).reshape(len(DESCENDANT_FIELDS), -1).T

    def _parent_pairs(self, kind: str) -> tuple[list[str], list[str]]:
        children, parents = self._columns(
            f"MATCH (c:Model)-[:{PARENT_EDGE_TYPES[kind]}]->(p:Model) RETURN collect(c.id), collect(p.id)"
        )
        return children, parents

    def _columns(self, query: str) -> list[list[Any]]:
        return list(self._read(query)[0].values())

    def _write_descendant_counts(self, ids: list[str], counts: np.ndarray, generation: str) -> None:
        sets = ", ".join(f"m.{f} = $counts[i][{j}]" for j, f in enumerate(DESCENDANT_FIELDS.values()))
        query = f"UNWIND range(0, size($ids) - 1) AS i MATCH (m:Model {{id: $ids[i]}}) SET {sets}"

        def write_batch(rows: range) -> None:  # a crash between batches leaves the index stale, not wrong
            self._write(lambda tx: tx.run(query, ids=ids[rows.start : rows.stop],
                                          counts=counts[rows.start : rows.stop]).consume())

        self._in_parallel(write_batch, round_robin(list(chunks(range(len(ids)))), WRITERS))
        self._write(lambda tx: tx.run(
            "OPTIONAL MATCH (g:Meta {key: 'lineage_generation'}) WITH coalesce(g.value, '') AS now "
            "WHERE now = $generation MERGE (k:Meta {key: 'lineage_indexed'}) SET k.value = $generation",
            generation=generation,
        ).consume())
