"""The embedded store: LadybugDB (the maintained fork of Kùzu) in one directory, no server.

Writes go in explicit transactions: new nodes and new edges through `COPY` from Arrow tables
(two orders of magnitude faster than UNWIND in this engine), updates of existing nodes through
one `LOAD FROM ... SET`. The schema is created on first open.

Two ways to hold the KB (the engine lets one process open it for writing at a time, and any number
read-only beside it):
- exclusive (the library default): the handle is held open for the store's life;
- shared (`mode="read"` or `"write"`, what the CLI uses): a handle is opened for each call and
  closed after it (read-only for reads, read-write for the span of a write), so a long ingest holds
  the engine's lock only while it commits a batch and readers see the last committed state at any
  time. An open that meets the lock waits (up to `wait` seconds, saying so) for that one commit.
  `mode="write"` also takes a writer lock file for its whole life: one ingest-like writer per KB,
  a second one is refused at once.
Queries without --write run in a read-only transaction, which the engine itself enforces.

Vectors (dna, loglik, sketch) are stored as BLOBs of little-endian float32: the engine
checkpoints a `FLOAT[]` column at ~25 µs a row (100k DNAs: 5.5 s, against 1.4 s as BLOBs) and
reads it back 3x slower. Everything that reads them here (records, `cypher`) gets float lists.
"""

from __future__ import annotations

import functools
import operator
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kb.errors import InputError, NotFoundError, StoreError
from kb.faults import fault_point
from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord
from kb.stores.base import (
    DESCENDANT_FIELDS,
    MODEL_FIELDS,
    PARENT_EDGE_TYPES,
    VECTOR_FIELDS,
    GraphStore,
    check_fingerprints,
    check_memberships,
    check_model_batch,
    chunks,
    model_row,
    protocol_dims_after,
)
import kb.stores.cypher as q

DECLARED_PARENTS_OF_ONE = (
    "MATCH (c:Model)-[:DECLARED_PARENT]->(p:Model) WHERE c.id = $id RETURN c.id AS c, p.id AS p"
)
POINT_LOOKUPS = 200
MAX_PATH_DEPTH = 1_000  # var-length paths are capped at 30 hops unless raised per connection
COPY_BATCH = 100_000  # rows per transaction: each commit costs the engine a checkpoint-sized pause

_COLUMN_TYPES = {"params": "INT64", "tags": "STRING[]", **{f: "BLOB" for f in VECTOR_FIELDS}}
MODEL_COLUMNS = {f: _COLUMN_TYPES.get(f, "STRING") for f in MODEL_FIELDS}
"""Model table columns: the id first (the primary key); every channel's vector is a BLOB column."""

SCHEMA = (
    "CREATE NODE TABLE IF NOT EXISTS Model(id STRING PRIMARY KEY, "
    + ", ".join(f"{f} {t}" for f, t in MODEL_COLUMNS.items() if f != "id") + ")",
    "CREATE NODE TABLE IF NOT EXISTS Family(id STRING PRIMARY KEY, size INT64, root STRING, "
    "newick STRING)",
    "CREATE NODE TABLE IF NOT EXISTS Meta(key STRING PRIMARY KEY, value STRING)",
    "CREATE REL TABLE IF NOT EXISTS MEMBER_OF(FROM Model TO Family, probability DOUBLE)",
    "CREATE REL TABLE IF NOT EXISTS DECLARED_PARENT(FROM Model TO Model, relation STRING, "
    "source STRING)",
    "CREATE REL TABLE IF NOT EXISTS INFERRED_PARENT(FROM Model TO Model, distance DOUBLE, "
    "support DOUBLE, method STRING, relation STRING, channel STRING, provisional BOOLEAN, "
    "flag STRING, reason STRING, direction STRING)",
    "CREATE REL TABLE IF NOT EXISTS DUPLICATE_OF(FROM Model TO Model)",
)

_ARROW_TYPES: dict[str, pa.DataType] = {"params": pa.int64(), "tags": pa.list_(pa.string())}
_FLOAT32 = np.dtype("<f4")


def _vector_bytes(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, _FLOAT32).tobytes()


def _vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, _FLOAT32).astype(np.float32)


def _plain(value: Any) -> Any:
    """Query results with stored vectors as float lists (the only BLOBs in the schema)."""
    if isinstance(value, bytes):
        return np.frombuffer(value, _FLOAT32).tolist()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class EngineError(StoreError):
    """The engine refused a statement; `engine_message` is its whole message on one line."""

    def __init__(self, engine_message: str) -> None:
        super().__init__(f"the embedded store refused the write: {engine_message}")
        self.engine_message = engine_message


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _engine_error(error: BaseException) -> BaseException:
    """The engine's own errors (plain RuntimeError) as one-line StoreErrors; others as they are."""
    return EngineError(_one_line(error)) if type(error) is RuntimeError else error


def _model_table(models: Sequence[ModelRecord]) -> pa.Table:
    """The rows `model_row` would give, column by column (100k records: 0.3 s instead of 2 s)."""
    rows = [model_row(m) for m in models] if any(m.channels for m in models) else None
    columns = {}
    for name in MODEL_FIELDS:
        if rows is not None:
            values = [row[name] for row in rows]
        elif name == "dna" or name not in VECTOR_FIELDS:
            values = list(map(operator.attrgetter(name), models))
        else:
            values = [None] * len(models)
        if name in VECTOR_FIELDS:
            columns[name] = pa.array([_vector_bytes(v) for v in values], pa.binary())
        elif name == "tags":
            columns[name] = pa.array([v or None for v in values], _ARROW_TYPES[name])
        else:
            columns[name] = pa.array(values, type=_ARROW_TYPES.get(name, pa.string()))
    return pa.table(columns)


@dataclass
class _DnaIndex:
    """One protocol's DNAs as a float32 matrix with float64 squared norms, for exact kNN."""

    token: tuple[int, int]
    ids: list[str]
    row: dict[str, int]
    matrix: np.ndarray
    norms2: np.ndarray


def _reads(method: Callable[..., Any]) -> Callable[..., Any]:
    """The call runs on a read-only handle of its own in shared mode (see the module docstring)."""
    @functools.wraps(method)
    def run(self: "EmbeddedStore", *args: Any, **kwargs: Any) -> Any:
        with self._session(write=False):
            return method(self, *args, **kwargs)

    return run


def _writes(method: Callable[..., Any]) -> Callable[..., Any]:
    """The call (its checks and its transaction) runs on one read-write handle in shared mode."""
    @functools.wraps(method)
    def run(self: "EmbeddedStore", *args: Any, **kwargs: Any) -> Any:
        with self._session(write=True):
            return method(self, *args, **kwargs)

    return run


class EmbeddedStore(GraphStore):
    kind = "embedded"

    def __init__(self, path: Path | str, *, mode: str | None = None, wait: float = 30.0,
                 notice: Callable[[str], None] | None = None) -> None:
        if mode not in (None, "read", "write"):
            raise InputError(f"unknown store mode {mode!r}: read or write")
        self._transaction_open = False
        self._writes = 0  # transactions committed by this handle: the kNN cache's change marker
        self._dna_cache: dict[str, _DnaIndex] = {}
        self._conn: Any = None
        self._db: Any = None
        self._read_only = False
        self._shared, self._wait = mode is not None, wait
        self._notice = notice or (lambda message: print(message, file=sys.stderr, flush=True))
        self._writer_lock: Any = None
        self.location = str(Path(path).expanduser().absolute())
        parent = Path(self.location).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the store directory {parent}: {error.strerror}") from None
        if not os.access(parent, os.W_OK):
            raise StoreError(f"cannot write the embedded store at {self.location}: permission denied")
        if mode == "write":
            self._take_writer_lock()
        self._open(read_only=False)
        try:
            self._create_schema()
        finally:
            if self._shared:
                self._close_handle()

    def _writer_active(self) -> bool:
        """Whether another process holds this store's writer lock (an ingest is running)."""
        import fcntl

        try:
            with open(f"{self.location}.writer.lock") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    return True
                fcntl.flock(handle, fcntl.LOCK_UN)
        except OSError:
            return False
        return False

    def _take_writer_lock(self) -> None:
        import fcntl

        handle = open(f"{self.location}.writer.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(f"the embedded store at {self.location} is being written by {holder}: one writer "
                             "at a time (reads go on); wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._writer_lock = handle

    def _open(self, *, read_only: bool) -> None:
        """Open a handle; a read-write open that meets the engine's lock waits up to `wait` seconds."""
        import ladybug

        pool_mb = int(os.environ.get("DNAKB_BUFFER_POOL_MB", "1024"))
        deadline = time.monotonic() + (self._wait if self._shared else 0.0)
        said = False
        while True:
            try:
                # compression off: with it, float lists COPYed after a checkpoint came back with some
                # values zeroed (LadybugDB 0.22; reproduced, see tests/queries nearest test).
                self._db = ladybug.Database(self.location, buffer_pool_size=pool_mb * 2**20, compression=False,
                                            read_only=read_only)
                self._conn = ladybug.Connection(self._db)
                break
            except RuntimeError as error:
                message = str(error).splitlines()[0]
                # a writer holds the lock, or is checkpointing (a read-only open must then wait too);
                # while a writer works, a reader may also find the file or its WAL mid-write (a header
                # naming pages not yet on disk, an empty WAL): that is work in progress, not damage
                locked = "lock" in message.lower() or "checkpoint" in message.lower()
                writing = read_only and self._writer_active()
                if (locked or writing) and time.monotonic() < deadline:
                    if not said:
                        self._notice(f"the embedded store at {self.location} is committing in another process: "
                                     f"waiting up to {self._wait:g} s")
                        said = True
                    time.sleep(0.05)
                    continue
                if locked:
                    message = "it is in use by another process (one writer at a time)"
                raise StoreError(f"cannot open the embedded store at {self.location}: {message}") from None
        self._read_only = read_only
        self._conn.execute(f"CALL var_length_extend_max_depth={MAX_PATH_DEPTH}")

    def _create_schema(self) -> None:
        for statement in SCHEMA:
            self._conn.execute(statement)
        columns = {row["name"]: row["type"] for row in self._query("CALL table_info('Model') RETURN *")}
        for field in set(DESCENDANT_FIELDS.values()) - set(columns):  # the lineage index came later
            self._conn.execute(f"ALTER TABLE Model ADD {field} INT64 DEFAULT 0")
        for field in [f for f in MODEL_COLUMNS if f not in columns]:  # a channel added since
            self._conn.execute(f"ALTER TABLE Model ADD {field} {MODEL_COLUMNS[field]}")
        edge_columns = {row["name"] for row in self._query("CALL table_info('INFERRED_PARENT') RETURN *")}
        if "direction" not in edge_columns:  # came later
            self._conn.execute("ALTER TABLE INFERRED_PARENT ADD direction STRING")
        if columns.get("dna") != "BLOB":
            self.close()
            raise StoreError(
                f"the embedded store at {self.location} was made by an older dnakb (DNA as "
                f"{columns.get('dna')}); export what you need and start a new one with --db"
            )

    def _close_handle(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._db.close()
            self._conn = self._db = None

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[None]:
        """A handle for one call: the held one, the one an enclosing call opened, or a fresh one."""
        if self._conn is not None:
            if write and self._read_only:
                raise StoreError("internal: a write inside a read-only session")
            yield
            return
        self._open(read_only=not write)
        try:
            yield
        finally:
            self._close_handle()

    # --- plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        self._close_handle()
        if self._writer_lock is not None:
            self._writer_lock.close()  # releases the flock
            self._writer_lock = None

    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._session(write=False):
            return self._query(query, params)

    def _vector(self, value: Any) -> np.ndarray | None:
        return _vector(value)

    def _query(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._conn.execute(query, params or {})
        names = result.get_column_names()
        rows = [dict(zip(names, values)) for values in result.get_all()]
        result.close()
        return rows

    @_writes
    def _in_transaction(self, work: Any, *, changes_lineage: bool = False) -> None:
        """Run `work()` in one transaction: all of it lands or none of it (nested: the outer one).

        `changes_lineage`: the work may change parent edges, so the same transaction marks the
        lineage index stale.
        """
        if changes_lineage:
            work = self._stamping(work)
        if self._transaction_open:
            work()
            return
        self._transaction_open = True
        try:
            self._run_transaction(work)
        finally:
            self._transaction_open = False

    def _stamping(self, work: Any) -> Any:
        def stamped() -> None:
            work()
            self._set_meta_in_tx("lineage_generation", self._new_lineage_stamp())

        return stamped

    # A whole lineage import in one transaction: all or nothing, and one commit (each costs a
    # checkpoint-sized pause).
    _all_or_nothing = _in_transaction

    def _run_transaction(self, work: Any) -> None:
        self._writes += 1
        self._conn.execute("BEGIN TRANSACTION")
        try:
            work()
        except BaseException as error:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:
                pass  # a failed statement already ended the transaction (and rolled it back)
            raise _engine_error(error) from None
        self._conn.execute("COMMIT")

    def _copy(self, table_name: str, data: pa.Table) -> None:
        if data.num_rows:
            # node tables by column name: Model has columns (the lineage index) no record carries
            columns = "" if "from" in data.column_names else f"({', '.join(data.column_names)})"
            self._conn.execute(f"COPY {table_name}{columns} FROM $data", {"data": data})

    def _existing(self, ids: Sequence[str]) -> dict[str, str | None]:
        if not ids:
            return {}
        rows = self._query(  # an index join on the primary key; `IN $list` scans every node
            "LOAD FROM $ids MATCH (m:Model {id: wanted}) RETURN m.id AS id, m.fingerprint AS fp",
            {"ids": pa.table({"wanted": pa.array(list(ids), pa.string())})},
        )
        return {row["id"]: row["fp"] for row in rows}

    @_writes
    def clear(self) -> None:
        def work() -> None:
            for table in ("MEMBER_OF", "DECLARED_PARENT", "INFERRED_PARENT", "DUPLICATE_OF"):
                self._conn.execute(f"MATCH ()-[e:{table}]->() DELETE e")
            for table in ("Model", "Family", "Meta"):
                self._conn.execute(f"MATCH (n:{table}) DELETE n")

        self._in_transaction(work)

    # --- writes ----------------------------------------------------------------------------
    @_writes
    def upsert_models(self, models: Sequence[ModelRecord]) -> int:
        models = list(models)
        dims = self.protocol_dims()
        check_model_batch(models, dims)
        stored = self._existing([m.id for m in models])
        check_fingerprints(models, stored)
        for batch in chunks(models, COPY_BATCH):
            new = [m for m in batch if m.id not in stored]
            old = [m for m in batch if m.id in stored]
            dims_value = protocol_dims_after(dims, batch)

            def work() -> None:
                self._copy("Model", _model_table(new))
                fault_point("store.write")
                if old:
                    self._update_models(old)
                if dims_value is not None:
                    self._set_meta_in_tx("protocol_dims", dims_value)

            self._in_transaction(work)
            dims = self.protocol_dims()
        return len(models)

    def _update_models(self, models: list[ModelRecord]) -> None:
        # No `SET m += map` here; coalesce keeps stored values where the record has None. Records
        # go in as a typed Arrow table: a Python list of dicts would lose the column types.
        sets = ", ".join(f"m.{f} = coalesce(r_{f}, m.{f})" for f in MODEL_FIELDS if f != "id")
        data = _model_table(models).rename_columns([f"r_{f}" for f in MODEL_FIELDS])
        self._conn.execute(f"LOAD FROM $data MATCH (m:Model {{id: r_id}}) SET {sets}", {"data": data})

    def _require_models(self, ids: set[str]) -> None:
        wanted = pa.table({"wanted": pa.array(list(ids), pa.string())})
        found = self._query("LOAD FROM $ids MATCH (m:Model {id: wanted}) RETURN count(*) AS n", {"ids": wanted})
        if found[0]["n"] == len(ids):
            return
        missing = sorted(ids - set(self._existing(sorted(ids))))
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise NotFoundError(f"no model {', '.join(map(repr, missing[:3]))}{more} in the store")

    def _replace_edges(self, table: str, data: pa.Table) -> None:
        """Delete the stored edges between the (from, to) pairs of `data`, then COPY `data`."""
        if data.num_rows:
            keys = data.select(["from", "to"]).rename_columns(["c", "p"])
            self._conn.execute(
                f"LOAD FROM $keys MATCH (a:Model {{id: c}})-[e:{table}]->(b:Model {{id: p}}) DELETE e",
                {"keys": keys},
            )
        self._copy(table, data)

    @_writes
    def _write_declared_edges(self, edges: Sequence[DeclaredEdge]) -> int:
        for batch in chunks(edges, COPY_BATCH):
            data = pa.table({
                "from": [e.child for e in batch], "to": [e.parent for e in batch],
                "relation": [e.relation for e in batch], "source": [e.source for e in batch],
            })
            try:  # COPY itself refuses an edge to a missing model (cheaper than checking first)
                self._in_transaction(lambda: self._replace_edges("DECLARED_PARENT", data), changes_lineage=True)
            except (RuntimeError, StoreError) as error:
                if "Unable to find primary key" in str(error):
                    self._require_models({e.child for e in edges} | {e.parent for e in edges})
                raise _engine_error(error) from None
        return len(edges)

    @_writes
    def mark_duplicate(self, duplicate: str, original: str) -> None:
        if duplicate == original:
            raise InputError(f"model {duplicate!r} cannot duplicate itself")
        self._require_models({duplicate, original})
        data = pa.table({"from": [duplicate], "to": [original]})
        self._in_transaction(lambda: self._replace_edges("DUPLICATE_OF", data))

    @staticmethod
    def _inferred_table(edges: Sequence[InferredEdge]) -> pa.Table:
        return pa.table({
            "from": [e.child for e in edges], "to": [e.parent for e in edges],
            "distance": pa.array([e.distance for e in edges], pa.float64()),
            "support": pa.array([e.support for e in edges], pa.float64()),
            "method": [e.method for e in edges],
            "relation": pa.array([e.relation for e in edges], pa.string()),
            "channel": pa.array([e.channel for e in edges], pa.string()),
            "provisional": pa.array([e.provisional for e in edges], pa.bool_()),
            "flag": pa.array([e.flag for e in edges], pa.string()),
            "reason": pa.array([e.reason for e in edges], pa.string()),
            "direction": pa.array([e.direction for e in edges], pa.string()),
        })

    @staticmethod
    def _membership_table(memberships: Sequence[Membership]) -> pa.Table:
        return pa.table({
            "from": [m.model for m in memberships], "to": [m.family for m in memberships],
            "probability": pa.array([m.probability for m in memberships], pa.float64()),
        })

    @_writes
    def replace_inferred(
        self,
        families: Sequence[Family],
        memberships: Sequence[Membership],
        edges: Sequence[InferredEdge],
    ) -> None:
        self._require_models({e.child for e in edges} | {e.parent for e in edges} | {m.model for m in memberships})
        check_memberships(families, memberships)
        family_table = pa.table({
            "id": [f.id for f in families], "size": pa.array([f.size for f in families], pa.int64()),
            "root": pa.array([f.root for f in families], pa.string()),
            "newick": pa.array([f.newick for f in families], pa.string()),
        })

        def work() -> None:
            self._conn.execute("MATCH ()-[e:INFERRED_PARENT]->() DELETE e")
            self._conn.execute("MATCH ()-[e:MEMBER_OF]->() DELETE e")
            self._conn.execute("MATCH (f:Family) DELETE f")
            self._copy("Family", family_table)
            self._copy("MEMBER_OF", self._membership_table(memberships))
            self._copy("INFERRED_PARENT", self._inferred_table(edges))

        self._in_transaction(work, changes_lineage=True)

    @_writes
    def add_inferred_edges(
        self, edges: Sequence[InferredEdge], memberships: Sequence[Membership] = ()
    ) -> None:
        self._require_models({e.child for e in edges} | {e.parent for e in edges} | {m.model for m in memberships})
        children = sorted({m.model for m in memberships})

        def work() -> None:
            self._replace_edges("INFERRED_PARENT", self._inferred_table(edges))
            self._conn.execute(
                "MATCH (m:Model)-[e:MEMBER_OF]->(:Family) WHERE m.id IN $ids DELETE e", {"ids": children}
            )
            self._copy("MEMBER_OF", self._membership_table(memberships))

        self._in_transaction(work, changes_lineage=True)

    @_writes
    def delete_model(self, model_id: str) -> bool:
        if not self._existing([model_id]):
            return False
        self._in_transaction(
            lambda: self._conn.execute("MATCH (m:Model {id: $id}) DETACH DELETE m", {"id": model_id}),
            changes_lineage=True,
        )
        return True

    def _set_meta_in_tx(self, key: str, value: str) -> None:
        self._conn.execute(q.SET_META, {"key": key, "value": value})

    @_writes
    def set_meta(self, key: str, value: str) -> None:
        self._in_transaction(lambda: self._set_meta_in_tx(key, value))

    # --- reads -----------------------------------------------------------------------------
    @_reads
    def dna_matrix(self, protocol: str) -> tuple[list[str], np.ndarray]:
        result = self._conn.execute(q.DNA_MATRIX, {"p": protocol})  # as Arrow: one buffer, not 100k rows
        table = result.get_as_arrow()
        result.close()
        ids = table.column("id").to_pylist()
        if not ids:
            return [], np.zeros((0, self.protocol_dims().get(protocol, 0)), np.float32)
        flat = np.frombuffer(b"".join(table.column("dna").to_pylist()), _FLOAT32)
        return ids, flat.astype(np.float32).reshape(len(ids), -1)

    @_reads
    def nearest(self, model: str, k: int) -> list[dict[str, Any]]:
        """The `nearest` template here (the engine's vector extension is not available offline):
        exact k nearest DNAs of the same protocol by Euclidean distance.

        Candidates by one float32 matrix-vector product, ||x - q||² = ||x||² - 2 x·q + ||q||²
        (O(n·dim), BLAS), over a matrix of the protocol's DNAs cached per open store (reading 100k
        DNAs costs seconds); then the 2k+16 best are re-read by id and re-ranked with exact float64
        distances, ordered by (distance, id) like the Neo4j template. A cached matrix is rebuilt when
        this store has written since, or when a re-read row differs from it.
        """
        query_row = self._rows_by_id([model])[model]
        protocol = query_row["protocol"]
        for attempt in range(2):
            index = self._dna_index(protocol, refresh=attempt > 0)
            query = np.asarray(query_row["dna"], dtype=np.float64)
            n = len(index.ids)
            if n <= 1:
                return []
            d2 = index.norms2 - 2.0 * (index.matrix @ query.astype(np.float32)).astype(np.float64) + query @ query
            if model in index.row:
                d2[index.row[model]] = np.inf
            pool = min(n, 2 * k + 16)
            picked = np.argpartition(d2, pool - 1)[:pool] if pool < n else np.arange(n)
            picked = [int(i) for i in picked if index.ids[i] != model]
            fresh = self._rows_by_id([index.ids[i] for i in picked])
            stale = model in index.row and not np.allclose(index.matrix[index.row[model]], query, rtol=0, atol=1e-6)
            scored = []
            for i in picked:
                row = fresh.get(index.ids[i])
                if row is None or row["protocol"] != protocol or row["dna"] is None:
                    stale = True  # deleted or changed since the matrix was read
                    continue
                vector = np.asarray(row["dna"], dtype=np.float64)
                stale |= not np.allclose(index.matrix[i], vector, rtol=0, atol=1e-6)
                scored.append((float(np.sqrt(((vector - query) ** 2).sum())), row["id"], row["name"]))  # ||x - q||_2
            if not stale:
                break
        scored.sort()
        return [{"id": cid, "name": name, "distance": dist} for dist, cid, name in scored[:k]]

    def _rows_by_id(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = self._query(
            "UNWIND $ids AS wanted MATCH (m:Model {id: wanted}) "
            "RETURN m.id AS id, m.name AS name, m.protocol AS protocol, m.dna AS dna", {"ids": ids})
        return {row["id"]: {**row, "dna": _vector(row["dna"])} for row in rows}

    def _dna_index(self, protocol: str, *, refresh: bool = False) -> _DnaIndex:
        token = (self._writes, self._query(q.COUNTS["models"])[0]["n"])
        hit = self._dna_cache.get(protocol)
        if hit is not None and hit.token == token and not refresh:
            return hit
        ids, matrix = self.dna_matrix(protocol)
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        norms2 = np.einsum("ij,ij->i", matrix.astype(np.float64), matrix.astype(np.float64))
        self._dna_cache[protocol] = _DnaIndex(token, ids, {m: i for i, m in enumerate(ids)}, matrix, norms2)
        return self._dna_cache[protocol]



    def cypher(
        self, query: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> list[dict[str, Any]]:
        self.refuse_writes(query, write)
        rows: list[dict[str, Any]] = []

        def work() -> None:
            rows.extend(_plain(self._one_statement(query, params)))

        try:
            if write:  # it may have changed parent edges
                self._in_transaction(work, changes_lineage=True)
            else:
                self._read_only_transaction(work)
        except EngineError as error:
            raise InputError(f"query failed: {error.engine_message}") from None
        except RuntimeError as error:
            raise InputError(f"query failed: {_one_line(error)}") from None
        return rows

    @_reads
    def _declared_parents_of(self, ids: list[str]) -> list[tuple[str, str]]:
        # The engine plans an UNWIND over an edge pattern as a scan of every edge (100 ms at 100k),
        # a single bound id as an index lookup (0.2 ms): few ids go one at a time.
        if len(ids) > POINT_LOOKUPS:
            return super()._declared_parents_of(ids)
        pairs = []
        for model in ids:
            pairs += [(row["c"], row["p"]) for row in self._query(DECLARED_PARENTS_OF_ONE, {"id": model})]
        return pairs

    def _one_statement(self, query: str, params: dict[str, Any] | None) -> list[dict[str, Any]]:
        """A user's query, refused unless it is exactly one statement (`COMMIT; CREATE ...` would
        otherwise end the read-only transaction and write after it)."""
        import warnings

        with warnings.catch_warnings():  # prepare + execute: the engine's own check for one statement
            warnings.simplefilter("ignore", DeprecationWarning)
            prepared = self._conn.prepare(query)
            if not prepared.is_success():
                raise RuntimeError(prepared.get_error_message())
            result = self._conn.execute(prepared, params or {})
        names = result.get_column_names()
        rows = [dict(zip(names, values)) for values in result.get_all()]
        result.close()
        return rows

    @_reads
    def _read_only_transaction(self, work: Callable[[], None]) -> None:
        """`work()` in a transaction the engine keeps read-only: any write in it is refused."""
        if self._transaction_open:  # inside our own write transaction (internal callers only)
            work()
            return
        self._conn.execute("BEGIN TRANSACTION READ ONLY")
        try:
            work()
        finally:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:
                pass  # a failed statement already ended the transaction

    # --- lineage index ---------------------------------------------------------------------
    @_reads
    def _stored_descendant_counts(self) -> tuple[list[str], np.ndarray]:
        columns = ", ".join(f"m.{f} AS {f}" for f in DESCENDANT_FIELDS.values())
        result = self._conn.execute(f"MATCH (m:Model) RETURN m.id AS id, {columns}")
        table = result.get_as_arrow()
        result.close()
        counts = np.column_stack([
            table.column(f).fill_null(0).to_numpy(zero_copy_only=False) for f in DESCENDANT_FIELDS.values()
        ]) if table.num_rows else np.zeros((0, len(DESCENDANT_FIELDS)), np.int64)
        return table.column("id").to_pylist(), counts.astype(np.int64)

    @_reads
    def _parent_pairs(self, kind: str) -> tuple[list[str], list[str]]:
        result = self._conn.execute(q.parent_pairs(PARENT_EDGE_TYPES[kind]))
        table = result.get_as_arrow()
        result.close()
        return table.column("c").to_pylist(), table.column("p").to_pylist()

    @_writes
    def _write_descendant_counts(self, ids: list[str], counts: np.ndarray, generation: str) -> None:
        data = pa.table({"r_id": pa.array(ids, pa.string()),
                         **{f"r_{f}": pa.array(counts[:, i], pa.int64())
                            for i, f in enumerate(DESCENDANT_FIELDS.values())}})
        sets = ", ".join(f"m.{f} = r_{f}" for f in DESCENDANT_FIELDS.values())

        def work() -> None:
            if ids:
                self._conn.execute(f"LOAD FROM $data MATCH (m:Model {{id: r_id}}) SET {sets}", {"data": data})
            if (self.get_meta("lineage_generation") or "") == generation:
                self._set_meta_in_tx("lineage_indexed", generation)

        self._in_transaction(work)
