"""The graph-store interface every backend implements, and the checks they share.

Two implementations: `EmbeddedStore` (LadybugDB in a directory, the default) and `Neo4jStore`
(a Neo4j 5 server over Bolt). Each write method takes a batch and applies it all-or-nothing:
a batch is validated first, then written in one transaction.
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from kb.channels import REGISTRY
from kb.errors import ConflictError, InputError
from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord, StoreStats, normalise_date
import kb.stores.cypher as q
from kb.progress import step as report

BATCH_SIZE = 10_000

SCALAR_FIELDS = (
    "id", "name", "protocol", "fingerprint", "backend", "architecture", "params", "org", "license",
    "released", "library", "tags", "status", "error", "signature", "precision", "made_by",
    "metadata_digest",
)
CHANNEL_FIELDS = {c.name: c.record_field for c in REGISTRY}
"""Channel name -> the Model property holding its vector (the text DNA is `dna`)."""
VECTOR_FIELDS = tuple(CHANNEL_FIELDS.values())
MODEL_FIELDS = SCALAR_FIELDS + VECTOR_FIELDS

PARENT_EDGE_TYPES = {"declared": "DECLARED_PARENT", "inferred": "INFERRED_PARENT"}
"""Relationship type of each kind of parent edge."""

DESCENDANT_FIELDS = {
    "declared": "declared_descendants", "inferred": "inferred_descendants", "both": "descendants",
}
"""The lineage index: Model properties counting distinct descendants over each set of parent edges."""

_WRITE_CLAUSE = re.compile(  # a keyword not inside a longer name: `0CREATE` is a CREATE too
    r"(?<![A-Za-z_])(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|COPY|LOAD|INSTALL|ALTER|FOREACH|IMPORT|"
    r"EXPORT|CHECKPOINT|BEGIN|COMMIT|ROLLBACK|ATTACH|USE|GRANT|DENY|REVOKE|TERMINATE|START|STOP)(?![A-Za-z0-9_])",
    re.IGNORECASE,
)
_STRINGS_AND_COMMENTS = re.compile(
    r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/"
    r"|\bAS\s+\w+|\.\w+|\$\w+",  # aliases, property keys and parameters are names, not clauses
    re.DOTALL | re.IGNORECASE,
)


def write_clause_in(query: str) -> str | None:
    """The first write clause of a Cypher query, ignoring strings, quoted names and comments.

    Only a friendly early message: the stores run every query without --write in a transaction the
    database itself keeps read-only, which is what refuses a write."""
    found = _WRITE_CLAUSE.search(_STRINGS_AND_COMMENTS.sub(" ", query))
    return found.group(1).upper() if found else None


def chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_model_batch(models: Sequence[ModelRecord], protocol_dims: dict[str, int]) -> None:
    """Reject a batch before anything is written: repeated ids, unknown channels, DNA lengths off
    their protocol's (the first DNA of a protocol sets its width)."""
    seen: set[str] = set()
    dims = dict(protocol_dims)
    for model in models:
        if model.id in seen:
            raise InputError(f"model {model.id!r} appears twice in one batch")
        seen.add(model.id)
        unknown = sorted(set(model.channels) - set(CHANNEL_FIELDS) | ({"text"} & set(model.channels)))
        if unknown:
            raise InputError(f"model {model.id!r}: no stored channel {unknown[0]!r} "
                             f"(channels: {', '.join(n for n in CHANNEL_FIELDS if n != 'text')})")
        if model.dna is None:
            continue
        expected = dims.setdefault(model.protocol, len(model.dna))  # type: ignore[arg-type]
        if len(model.dna) != expected:
            raise InputError(
                f"model {model.id!r}: DNA has {len(model.dna)} values, protocol "
                f"{model.protocol} uses {expected}"
            )


def check_fingerprints(models: Sequence[ModelRecord], stored: dict[str, str | None]) -> None:
    """Same id with other weights is a conflict: refuse rather than overwrite a model."""
    for model in models:
        old = stored.get(model.id)
        if model.fingerprint and old and old != model.fingerprint:
            raise ConflictError(
                f"model {model.id!r} is already stored with other weights "
                f"(fingerprint {old[:12]}…, new {model.fingerprint[:12]}…); use another id "
                "or delete the stored model first"
            )


def check_memberships(families: Sequence[Family], memberships: Sequence[Membership]) -> None:
    """Every membership names a family of the same batch."""
    unknown = {m.family for m in memberships} - {f.id for f in families}
    if unknown:
        raise InputError(f"membership in unknown family {sorted(unknown)[0]!r}")


def parse_protocol_dims(raw: str | None) -> dict[str, int]:
    """The `protocol_dims` meta value ("pid=128,pid2=64") as a dict."""
    return {k: int(v) for k, v in (item.split("=") for item in (raw or "").split(",") if item)}


def protocol_dims_after(dims: dict[str, int], models: Sequence[ModelRecord]) -> str | None:
    """The `protocol_dims` meta value after storing `models`, or None when it does not change."""
    new = {m.protocol: len(m.dna) for m in models if m.dna is not None and m.protocol not in dims}
    if not new:
        return None
    merged = {**dims, **new}
    return ",".join(f"{k}={v}" for k, v in sorted(merged.items()))


def model_row(model: ModelRecord) -> dict[str, Any]:
    """Properties to write: fields left None keep what is stored (an upsert never erases)."""
    row = {name: getattr(model, name) for name in SCALAR_FIELDS}
    row.update({field: model.vector(name) for name, field in CHANNEL_FIELDS.items()})
    if not row["tags"]:
        row["tags"] = None
    return row


def model_record(row: dict[str, Any], vector: Callable[[Any], np.ndarray | None]) -> ModelRecord:
    """A ModelRecord from a row of MODEL_FIELDS, each stored vector decoded by `vector`."""
    scalars = {name: row[name] for name in SCALAR_FIELDS}
    scalars["tags"] = scalars["tags"] or []
    vectors = {name: vector(row[field]) for name, field in CHANNEL_FIELDS.items()}
    dna = vectors.pop("text")
    return ModelRecord(**scalars, dna=dna, channels={k: v for k, v in vectors.items() if v is not None})


class GraphStore(ABC):
    """A lineage knowledge base: models with DNAs, declared/inferred parent edges, families.

    The core a store implements: `_read` (rows of a read-only query, in the engine's own values) and
    `_vector` (a stored vector back to numpy), its batch writes (each validated, then all-or-nothing
    in one transaction), `cypher` for users, and the lineage index's three primitives. Every other
    read is written once, here, over `_read` and the statements in kb/stores/cypher.py.
    """

    kind: str
    location: str

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def clear(self) -> None:
        """Delete everything (tests, benchmarks)."""

    # --- the core --------------------------------------------------------------------------
    @abstractmethod
    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a read-only query in this store's dialect, values as the engine returns them."""

    @abstractmethod
    def _vector(self, value: Any) -> np.ndarray | None:
        """A stored vector property as a float32 array (None stays None)."""

    # --- writes (each call: validated, then all-or-nothing per batch) ----------------------
    @abstractmethod
    def upsert_models(self, models: Sequence[ModelRecord]) -> int:
        """Create or update models; returns how many were written."""

    def upsert_declared_edges(self, edges: Sequence[DeclaredEdge]) -> int:
        """Create or update DECLARED_PARENT edges; both endpoints must exist, and the declared
        lineage stays acyclic (`check_acyclic`)."""
        edges = list({(e.child, e.parent): e for e in edges}.values())
        self.check_acyclic(edges)
        return self._write_declared_edges(edges)

    @abstractmethod
    def _write_declared_edges(self, edges: Sequence[DeclaredEdge]) -> int:
        """Write DECLARED_PARENT edges (distinct pairs, already checked), all or nothing per batch."""

    def upsert_lineage(
        self,
        models: Sequence[ModelRecord],
        edges: Sequence[DeclaredEdge],
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Models, then declared edges among them and stored models (one transaction where the
        store can hold it: the embedded store's whole import lands or none of it)."""
        say = progress or (lambda _message: None)
        step = 10 * BATCH_SIZE  # one progress line per step
        self.check_acyclic(edges)

        edges = list({(e.child, e.parent): e for e in edges}.values())

        def write_all() -> None:
            for items, write, what in ((models, self.upsert_models, "models"),
                                       (edges, self._write_declared_edges, "declared edges")):
                for start in range(0, len(items), step):
                    write(items[start : start + step])
                    report(say, what, min(start + step, len(items)), len(items))

        self._all_or_nothing(write_all)

    def _all_or_nothing(self, work: Callable[[], None]) -> None:
        """Run `work()` in one transaction where the store can hold one that size; here: as is."""
        work()

    def check_acyclic(self, edges: Sequence[DeclaredEdge]) -> None:
        """Refuse declared edges that would close a cycle of declared parents (with the cycle named).

        A new edge c -> p closes a cycle when c lies above p: so only the stored edges above the new
        edges' endpoints are read, one generation per query (O(edges touched), not a scan of the KB).
        """
        from kb.lineage.reach import find_cycles

        graph: dict[str, list[str]] = {}
        for edge in edges:
            graph.setdefault(edge.child, []).append(edge.parent)
        frontier, seen = set(graph) | {e.parent for e in edges}, set()
        while frontier:
            seen |= frontier
            pairs = self._declared_parents_of(sorted(frontier))
            for child, parent in pairs:
                graph.setdefault(child, []).append(parent)
            frontier = {parent for _, parent in pairs} - seen
        cycles = [c for c in find_cycles(graph) if any(e.child in c for e in edges)]
        if cycles:
            shown = " -> ".join(cycles[0])
            more = f" (and {len(cycles) - 1} more)" if len(cycles) > 1 else ""
            raise InputError(f"declared parents would close a cycle: {shown}{more}; nothing was written")

    def _declared_parents_of(self, ids: list[str]) -> list[tuple[str, str]]:
        """(child, parent) of every stored declared edge whose child is in `ids`."""
        return [(row["c"], row["p"]) for row in self._read(q.DECLARED_PARENTS_OF, {"ids": ids})]

    @abstractmethod
    def mark_duplicate(self, duplicate: str, original: str) -> None:
        """Record DUPLICATE_OF: identical weights under a second id."""

    @abstractmethod
    def replace_inferred(
        self,
        families: Sequence[Family],
        memberships: Sequence[Membership],
        edges: Sequence[InferredEdge],
    ) -> None:
        """Swap all inferred results (families, MEMBER_OF, INFERRED_PARENT) in one transaction."""

    @abstractmethod
    def add_inferred_edges(
        self, edges: Sequence[InferredEdge], memberships: Sequence[Membership] = ()
    ) -> None:
        """Add inferred edges/memberships without touching the others (provisional placement)."""

    @abstractmethod
    def delete_model(self, model_id: str) -> bool:
        """Delete a model with all its edges; False when there was none."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def cypher(
        self, query: str, params: dict[str, Any] | None = None, *, write: bool = False
    ) -> list[dict[str, Any]]:
        """Run Cypher in this store's dialect for a user; refused if it writes unless `write`."""

    # --- shared reads ----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._read(q.META_VALUE, {"key": key})
        return rows[0]["v"] if rows else None

    def get_models(self, ids: Sequence[str] | None = None) -> list[ModelRecord]:
        """Models by id (all when None), sorted by id."""
        if ids is None:
            rows = self._read(q.models(MODEL_FIELDS, by_id=False))
        else:
            rows = self._read(q.models(MODEL_FIELDS, by_id=True), {"ids": list(ids)})
        return [model_record(row, self._vector) for row in rows]

    def model_ids(self) -> list[str]:
        return [row["id"] for row in self._read(q.MODEL_IDS)]

    def duplicates(self) -> dict[str, tuple[str, str | None]]:
        """Each duplicate's id -> (the stored model whose bytes it repeats, its own release date):
        `DUPLICATE_OF`, recorded at ingest for byte-identical files."""
        return {row["d"]: (row["o"], normalise_date(row["released"])) for row in self._read(q.DUPLICATES)}

    def protocols(self) -> dict[str, int]:
        """DNA protocol id -> number of models carrying a DNA of it."""
        return {row["p"]: row["n"] for row in self._read(q.PROTOCOL_COUNTS)}

    def dna_matrix(self, protocol: str) -> tuple[list[str], np.ndarray]:
        """All DNAs of one protocol as (ids sorted, float32 matrix n x dim)."""
        rows = self._read(q.DNA_MATRIX, {"p": protocol})
        if not rows:
            return [], np.zeros((0, self.protocol_dims().get(protocol, 0)), np.float32)
        return [r["id"] for r in rows], np.stack([self._vector(r["dna"]) for r in rows]).astype(np.float32)

    def fingerprints(self, protocol: str) -> dict[str, str]:
        """Model id -> weights fingerprint, for the models of one protocol."""
        return {row["id"]: row["fp"] for row in self._read(q.FINGERPRINTS, {"p": protocol})}

    def declared_edges(self) -> list[DeclaredEdge]:
        return [DeclaredEdge(**row) for row in self._read(q.DECLARED_EDGES)]

    def inferred_edges(self) -> list[InferredEdge]:
        return [InferredEdge(**row) for row in self._read(q.INFERRED_EDGES)]

    def memberships(self) -> list[Membership]:
        return [Membership(**row) for row in self._read(q.MEMBERSHIPS)]

    def families(self) -> list[Family]:
        return [Family(**row) for row in self._read(q.FAMILIES)]

    def protocol_dims(self) -> dict[str, int]:
        """Protocol id -> DNA length, as recorded when the first DNA of it was stored."""
        return parse_protocol_dims(self.get_meta("protocol_dims"))

    def stats(self) -> StoreStats:
        counts = {name: int(self._read(query)[0]["n"]) for name, query in q.COUNTS.items()}
        return StoreStats(store=self.kind, location=self.location, **counts, protocols=self.protocols(),
                          lineage_index="current" if self.lineage_index_fresh() else "stale")

    # --- lineage index ---------------------------------------------------------------------
    # Every write that changes parent edges stamps a new `lineage_generation` in the same
    # transaction; the counts are current when `lineage_indexed` holds the stamp they were
    # computed under. A refresh reads the stamp before the edges, so a write that lands meanwhile
    # leaves the index stale rather than wrongly current.
    @staticmethod
    def _new_lineage_stamp() -> str:
        return uuid.uuid4().hex

    def _lineage_marks(self) -> tuple[str, str | None]:
        """(current stamp, stamp the counts were computed under or None)."""
        marks = {row["key"]: row["value"] for row in self._read(q.LINEAGE_MARKS)}
        return marks.get("lineage_generation", ""), marks.get("lineage_indexed")

    def lineage_index_fresh(self) -> bool:
        generation, indexed = self._lineage_marks()
        return indexed == generation

    def refresh_lineage_index(self) -> int:
        """Recount every model's descendants if any parent edge changed since the last count.

        Returns how many models' counts changed (only those are written; 0 when already fresh).
        """
        from kb.lineage.reach import descendant_counts

        generation, indexed = self._lineage_marks()
        if indexed == generation:
            return 0
        ids, stored = self._stored_descendant_counts()
        row = {model: i for i, model in enumerate(ids)}
        pairs = {kind: self._parent_pairs(kind) for kind in PARENT_EDGE_TYPES}
        counts = np.zeros_like(stored)
        for column, kind in enumerate(DESCENDANT_FIELDS):
            kinds = tuple(PARENT_EDGE_TYPES) if kind == "both" else (kind,)
            children = [row[c] for k in kinds for c in pairs[k][0]]
            parents = [row[p] for k in kinds for p in pairs[k][1]]
            counts[:, column] = descendant_counts(len(ids), children, parents)
        changed = np.flatnonzero((counts != stored).any(axis=1))
        self._write_descendant_counts([ids[i] for i in changed], counts[changed], generation)
        return len(changed)

    @abstractmethod
    def _stored_descendant_counts(self) -> tuple[list[str], np.ndarray]:
        """All model ids and their stored counts (n x 3, DESCENDANT_FIELDS' order; missing: 0)."""

    @abstractmethod
    def _parent_pairs(self, kind: str) -> tuple[list[str], list[str]]:
        """(child ids, parent ids) of every `kind` ("declared" or "inferred") parent edge."""

    @abstractmethod
    def _write_descendant_counts(self, ids: list[str], counts: np.ndarray, generation: str) -> None:
        """Store `counts` for `ids`; then mark the index current for `generation`, unless the
        stamp moved on meanwhile."""

    # --- shared ----------------------------------------------------------------------------
    @staticmethod
    def refuse_writes(query: str, write: bool) -> None:
        clause = None if write else write_clause_in(query)
        if clause:
            raise InputError(f"query contains the write clause {clause}; pass --write to allow it")
