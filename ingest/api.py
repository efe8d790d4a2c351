"""`ingest()`: models named by a manifest -> DNA artifacts -> the graph store. The CLI's `dnakb ingest`.

The run, in order:
1. validate the whole manifest (nothing happens if any entry is bad);
2. fingerprint every model (its weights; for a model behind an API, what names it: ingest/access.py)
   and plan each one: *skipped* (its node already holds a DNA of
   this protocol from the same weights), *duplicate* (another model has identical weights: recorded
   `DUPLICATE_OF` the first, not extracted), *failed* (no loadable weights, or the id is stored with
   other weights), or *to extract*;
3. write the metadata of every model (new ones with status `pending`) and the declared parents;
4. extract in worker processes (or Ray tasks); the parent, the only writer, stores each DNA as it
   arrives (status `ok`) or records the failure on the node (status `failed`, error) — it is
   retried on the next run;
5. when the KB already holds inferred lineage, give each new DNA a provisional parent (its nearest
   inferred model by DNA distance) and that model's family.

`estimate()` (the CLI's `--dry-run`) runs steps 1-2 and writes nothing: per model, what the run would do
and, for an API model, the requests and tokens it would cost (answers already cached left out).

Every store write is one all-or-nothing batch, and the artifact store writes atomically, so a run
killed at any moment leaves finished models finished and the rest pending; re-running completes
them. Store writes retry with exponential backoff when the store is unreachable (a Neo4j restart).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from ingest.manifest import ManifestEntry, entries_from
from ingest.pool import Job, JobResult, LocalPool, RayPool, Stage, check_devices, one_line
from kb.artifacts import ARTIFACTS_META, ArtifactStore
from kb.errors import ConflictError, DnaKbError, InputError, ProtocolMismatchError, StoreError, StoreUnavailableError
from kb.faults import fault_point
from kb.lineage.placement import Placer
from kb.progress import step
from kb.protocol import PROTOCOL_META, DnaProtocol
from kb.records import DeclaredEdge, ModelRecord
from kb.stores.base import GraphStore

Progress = Callable[[str], None]
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)
"""Seconds between store-write retries (about a minute in all: a Neo4j restart fits)."""


@dataclass
class ModelOutcome:
    """What happened to one manifest entry."""

    id: str
    status: str  # ok | skipped | duplicate | failed
    seconds: float = 0.0
    reason: str | None = None
    fingerprint: str | None = None
    reused: bool = False
    warnings: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    """An API model's requests and tokens in this run."""


@dataclass
class IngestReport:
    protocol: str
    outcomes: list[ModelOutcome]
    seconds: float
    workers: int
    placed: int = 0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> int:
        return self.count("ok")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def exit_code(self) -> int:
        """Non-zero when any model failed (the CLI's exit status)."""
        return 1 if self.failed else 0

    def rows(self) -> list[dict[str, Any]]:
        any_api = any(o.usage for o in self.outcomes)
        return [
            {"model": o.id, "status": o.status, "seconds": round(o.seconds, 2),
             **({"api requests": _usage_text(o.usage)} if any_api else {}),
             "reason": o.reason or ("; ".join(o.warnings) if o.warnings else None)}
            for o in self.outcomes
        ]

    def usage(self) -> dict[str, int] | None:
        """Requests and tokens the API models cost in this run, summed (None when there were none)."""
        used = [o.usage for o in self.outcomes if o.usage]
        if not used:
            return None
        return {key: sum(int(u.get(key) or 0) for u in used) for key in
                ("requests", "retries", "cached", "prompt_tokens", "completion_tokens", "total_tokens")}

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol, "seconds": round(self.seconds, 2), "workers": self.workers,
            "ok": self.ok, "skipped": self.count("skipped"), "duplicate": self.count("duplicate"),
            "failed": self.failed, "placed": self.placed, "api_usage": self.usage(),
            "models": [asdict(o) for o in self.outcomes],
        }


def _usage_text(usage: dict[str, Any] | None) -> str:
    if not usage:
        return ""
    return (f"{usage.get('requests', 0)} ({usage.get('cached', 0)} cached), "
            f"{usage.get('total_tokens', 0)} tokens")


# --- robustness -------------------------------------------------------------------------------
def with_retry(store: GraphStore, call: Callable[..., Any], *args: Any, say: Progress | None = None,
               delays: Sequence[float] = RETRY_DELAYS) -> Any:
    """Run one store write; on a transient failure wait and retry with backoff, then give up clearly."""
    for attempt, delay in enumerate([*delays, None]):
        try:
            return call(*args)
        except StoreUnavailableError as error:
            if delay is None:
                raise StoreError(
                    f"the {store.kind} store at {store.location} stayed unreachable through "
                    f"{len(delays)} retries ({one_line(error)}); start it and re-run: finished models are kept"
                ) from None
            if say:
                say(f"store unreachable ({one_line(error)}); retry {attempt + 1}/{len(delays)} in {delay:g} s")
            time.sleep(delay)
    return None  # unreachable


# --- protocol ----------------------------------------------------------------------------------
def active_protocol(store: GraphStore) -> DnaProtocol | None:
    raw = store.get_meta(PROTOCOL_META)
    return DnaProtocol.from_json(raw) if raw else None


def make_protocol(
    n_probes: int | None = None, max_new_tokens: int | None = None, *, channels: bool = True,
    loglik_texts: int | None = None, chat_template: bool = False,
) -> DnaProtocol:
    """The default protocol (optionally other probe / token / reference-text counts, or probing through each
    model's chat template), with the evidence channels."""
    from ingest.extract import DEFAULT_MAX_NEW_TOKENS, default_protocol
    from kb.channels import with_channels

    protocol = default_protocol(n_probes or 600, max_new_tokens or DEFAULT_MAX_NEW_TOKENS, chat_template=chat_template)
    return with_channels(protocol, None if channels else (), n_texts=loglik_texts)


def _choose_protocol(store: GraphStore, protocol: DnaProtocol | None) -> DnaProtocol:
    active = active_protocol(store)
    if protocol is None:
        if active is not None:
            return active
        protocol = make_protocol()
    stored = set(store.protocols())
    if (active is not None and active.id != protocol.id) or (stored and protocol.id not in stored):
        current = active.id if active else ", ".join(sorted(stored))
        raise ProtocolMismatchError(
            f"this KB's DNAs use protocol {current}, the ingest asks for {protocol.id}: DNAs of two "
            "protocols are not comparable; ingest without protocol options, or into another store"
        )
    return protocol


# --- planning ----------------------------------------------------------------------------------
@dataclass
class _Plan:
    entry: ManifestEntry
    fingerprint: str | None = None
    backend: str | None = None
    action: str = "extract"  # extract | skip | duplicate | failed | conflict
    reason: str | None = None
    original: str | None = None


def _fingerprint(entry: ManifestEntry) -> tuple[str, str]:
    """(backend, artifact key) of an entry: the weights' sha256, or an API model's identity hash."""
    source = entry.source()
    return source.backend, source.fingerprint()


def _stored_by_fingerprint(store: GraphStore, fingerprints: list[str]) -> dict[str, str]:
    """fingerprint -> id of a stored original with those weights (one with a DNA first; duplicates never)."""
    if not fingerprints:
        return {}
    rows = store.cypher(
        "MATCH (m:Model) WHERE m.fingerprint IN $fps RETURN m.id AS id, m.fingerprint AS fp, "
        "m.status AS status ORDER BY m.id",
        {"fps": fingerprints},
    )
    found: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r["status"] != "ok", r["id"])):
        if row["status"] != "duplicate":  # a duplicate is never the original
            found.setdefault(row["fp"], row["id"])
    return found


def _plan(entries: list[ManifestEntry], store: GraphStore, pid: str, force: bool, say: Progress) -> list[_Plan]:
    plans = [_Plan(e) for e in entries]
    for i, plan in enumerate(plans, 1):
        try:
            plan.backend, plan.fingerprint = _fingerprint(plan.entry)
        except DnaKbError as error:
            plan.action, plan.reason = "failed", one_line(error)
        except OSError as error:
            plan.action, plan.reason = "failed", f"cannot read the weights: {error}"
        if len(plans) > 20:
            step(say, "fingerprinted", i, len(plans))
    stored = {m.id: m for m in store.get_models([p.entry.id for p in plans])}
    by_fp = _stored_by_fingerprint(store, sorted({p.fingerprint for p in plans if p.fingerprint}))
    for plan in plans:
        if plan.fingerprint is None:
            continue
        node = stored.get(plan.entry.id)
        if node is not None and node.fingerprint and node.fingerprint != plan.fingerprint:
            plan.action = "conflict"
            plan.reason = (
                f"id is stored with other weights (fingerprint {node.fingerprint[:12]}…, these are "
                f"{plan.fingerprint[:12]}…): use another id or delete the stored model"
            )
            continue
        first = by_fp.setdefault(plan.fingerprint, plan.entry.id)
        if first != plan.entry.id:
            plan.action, plan.original = "duplicate", first
            plan.reason = f"identical weights to {first}"
            continue
        if node is not None and not force and node.status == "ok" and node.dna is not None and node.protocol == pid:
            plan.action = "skip"
        elif plan.entry.api is not None:  # an API model to extract needs its key now, before any work
            try:
                plan.entry.api.key()
            except DnaKbError as error:
                plan.action, plan.reason = "failed", one_line(error)
    return plans


def _write_metadata(store: GraphStore, plans: list[_Plan], declared: bool, say: Progress) -> None:
    """Metadata of every model (new ones pending), stub nodes for outside parents, declared edges."""
    usable = [p for p in plans if p.action != "conflict"]
    ids = [p.entry.id for p in usable]
    existing = {m.id: m for m in store.get_models(ids)}
    records = []
    for plan in usable:
        record = plan.entry.record()
        record.backend = plan.backend or record.backend
        if plan.action == "duplicate":
            record.fingerprint, record.status = plan.fingerprint, "duplicate"
        elif plan.action == "failed":
            record.status, record.error = "failed", plan.reason
        elif plan.entry.id not in existing:
            record.status = "pending"
        records.append(record)
    edges: list[DeclaredEdge] = []
    if declared:
        edges = [edge for p in usable for edge in p.entry.declared_edges()]
        known = set(ids) | set(existing)
        outside = sorted({e.parent for e in edges} - known)
        if outside:
            present = {m.id for m in store.get_models(outside)}
            records += [ModelRecord(id=i, status="metadata") for i in outside if i not in present]
    with_retry(store, store.upsert_models, records, say=say)
    if edges:
        with_retry(store, store.upsert_declared_edges, edges, say=say)
    for plan in usable:
        if plan.action == "duplicate":
            with_retry(store, store.mark_duplicate, plan.entry.id, plan.original, say=say)


# --- the run -----------------------------------------------------------------------------------
def ingest(
    manifest_or_entries: str | Path | Sequence[ManifestEntry | dict[str, Any]],
    store: GraphStore,
    *,
    workers: int = 1,
    devices: Sequence[str] | str = ("cpu",),
    protocol: DnaProtocol | None = None,
    force: bool = False,
    declared: bool = True,
    ray_address: str | None = None,
    progress: Progress | None = None,
    artifacts: str | Path | None = None,
    n_threads: int | None = None,
    batch_size: int | None = None,
) -> IngestReport:
    """Ingest the models of a manifest (path or entries) into `store`; see the module docstring.

    `declared=False` leaves the manifest's parents out of the store (evaluation on the zoo).
    `ray_address` ("local", "auto" or "ray://host:10001") runs extraction as Ray tasks.
    Returns an `IngestReport` (per model: ok / skipped / duplicate / failed, reason, seconds).
    """
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    entries = entries_from(manifest_or_entries)
    devices = check_devices(devices)
    if workers < 1:
        raise InputError(f"workers={workers}: need at least 1")
    chosen = _choose_protocol(store, protocol)
    pid = chosen.id
    artifact_store = ArtifactStore(artifacts)
    artifact_store.check_writable()
    artifacts_root = str(artifact_store.root.expanduser().resolve())

    if declared:  # a manifest parent must not close a cycle with what the KB declares: refuse before any work
        store.check_acyclic([edge for entry in entries for edge in entry.declared_edges()])
    say(f"planning {len(entries)} model(s) under protocol {pid}")
    plans = _plan(entries, store, pid, force, say)
    _write_metadata(store, plans, declared, say)
    fault_point("ingest.after-plan")

    outcomes: dict[str, ModelOutcome] = {}
    for plan in plans:
        if plan.action == "skip":
            outcomes[plan.entry.id] = ModelOutcome(plan.entry.id, "skipped", 0.0, "already ingested", plan.fingerprint)
        elif plan.action == "duplicate":
            outcomes[plan.entry.id] = ModelOutcome(plan.entry.id, "duplicate", 0.0, plan.reason, plan.fingerprint)
        elif plan.action in ("failed", "conflict"):
            outcomes[plan.entry.id] = ModelOutcome(plan.entry.id, "failed", 0.0, plan.reason, plan.fingerprint)
    todo = [p for p in plans if p.action == "extract"]
    done = len(outcomes)
    total = len(plans)
    say(f"{len(todo)} to extract, {done} already settled"
        f" ({sum(1 for o in outcomes.values() if o.status == 'skipped')} skipped)")

    placer = Placer(store, pid) if todo else None
    placed = 0
    if todo and store.get_meta(PROTOCOL_META) is None:
        with_retry(store, store.set_meta, PROTOCOL_META, chosen.to_json(), say=say)
    if todo and store.get_meta(ARTIFACTS_META) != artifacts_root:  # where `infer` finds per-probe embeddings
        with_retry(store, store.set_meta, ARTIFACTS_META, artifacts_root, say=say)
    jobs = [
        Job(key=i, model_id=p.entry.id, path=str(p.entry.path or ""), backend=p.backend, protocol=chosen.to_dict(),
            artifacts=artifacts_root, force=force, n_threads=n_threads, batch_size=batch_size,
            device="cpu" if devices[0] == "cpu" else "cuda",
            api=p.entry.api.to_dict() if p.entry.api is not None else None)
        for i, p in enumerate(todo)
    ]
    by_key = {job.key: plan for job, plan in zip(jobs, todo)}
    pool: LocalPool | RayPool
    if ray_address:
        pool = RayPool(ray_address, devices, n_threads)
        say(f"extracting on Ray at {ray_address}")
    else:
        pool = LocalPool(min(workers, max(1, len(jobs))), devices, n_threads)
    try:
        for event in pool.run(jobs) if jobs else ():
            if isinstance(event, Stage):
                say(f"[{done}/{total}] {by_key[event.key].entry.id}: {event.stage}")
                continue
            plan = by_key[event.key]
            done += 1
            try:
                outcome, record = _settle(plan, event, pid)
            except DnaKbError as error:  # e.g. a DNA with non-finite values
                outcome, record = _settle(plan, JobResult(event.key, False, error=one_line(error), seconds=event.seconds), pid)
            fault_point("ingest.after-extract")
            try:
                with_retry(store, store.upsert_models, [record], say=say)
            except (ConflictError, InputError) as error:  # this model's data is refused; the run goes on
                outcome = ModelOutcome(plan.entry.id, "failed", event.seconds, one_line(error), plan.fingerprint)
                _, failed = _settle(plan, JobResult(event.key, False, error=one_line(error)), pid)
                with_retry(store, store.upsert_models, [failed], say=say)
            outcomes[plan.entry.id] = outcome
            fault_point("ingest.after-write")
            if outcome.status == "ok" and placer is not None and placer.active:
                edges, memberships = placer.place(record)
                if edges or memberships:
                    with_retry(store, store.add_inferred_edges, edges, memberships, say=say)
                    placed += 1
            say(f"[{done}/{total}] {plan.entry.id}: {outcome.status} ({outcome.seconds:.1f} s)"
                + (f": {outcome.reason}" if outcome.reason else ""))
            step(say, "models", done, total, plan.entry.id)
    finally:
        if isinstance(pool, RayPool):
            pool.close()
    ordered = [outcomes[e.id] for e in entries]
    return IngestReport(pid, ordered, time.perf_counter() - started, workers, placed)


# --- the dry run ----------------------------------------------------------------------------------
@dataclass
class EstimateRow:
    """What an ingest would do with one model, and what an API model would cost."""

    model: str
    backend: str | None
    action: str  # extract | skip | duplicate | failed | conflict
    probes: int = 0
    texts: int = 0
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    gen_tokens: int = 0
    seconds: float | None = None
    note: str | None = None


@dataclass
class Estimate:
    protocol: str
    rows: list[EstimateRow]

    def totals(self) -> dict[str, Any]:
        keys = ("requests", "cached", "prompt_tokens", "completion_tokens", "gen_tokens")
        out: dict[str, Any] = {key: sum(getattr(r, key) for r in self.rows) for key in keys}
        out["seconds"] = sum(r.seconds for r in self.rows if r.seconds is not None)
        return out

    def table_rows(self) -> list[dict[str, Any]]:
        return [{"model": r.model, "backend": r.backend, "action": r.action, "probes": r.probes, "texts": r.texts,
                 "tokens≤": r.gen_tokens or r.completion_tokens, "time≈": _duration(r.seconds),
                 "requests": r.requests, "cached": r.cached, "prompt tokens≈": r.prompt_tokens,
                 "note": r.note} for r in self.rows]

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "totals": self.totals(), "models": [asdict(r) for r in self.rows]}


def estimate(
    manifest_or_entries: str | Path | Sequence[ManifestEntry | dict[str, Any]], store: GraphStore, *,
    protocol: DnaProtocol | None = None, force: bool = False, artifacts: str | Path | None = None,
    declared: bool = True, progress: Progress | None = None, calibrate: bool = True,
) -> Estimate:
    """Plan an ingest and write nothing: per model the action, the probes and reference texts it would
    run, the tokens it would generate (at most the budget), and for an API model the requests and
    prompt tokens (≈ 4 bytes each), leaving out what the artifact store already holds (a resumed run
    asks only the rest). With `calibrate`, a local model's wall time is estimated from a short run of
    the model itself (ingest/calibrate.py)."""
    from kb import channels as registry
    from kb.probes import load_probes
    from kb.reftexts import load_reftexts
    from ingest.backends.api import estimate as api_estimate
    from ingest.calibrate import calibrate as run_calibration

    say = progress or (lambda _msg: None)
    entries = entries_from(manifest_or_entries)
    chosen = _choose_protocol(store, protocol)
    if declared:
        store.check_acyclic([edge for entry in entries for edge in entry.declared_edges()])
    artifact_store = ArtifactStore(artifacts)
    prompts = load_probes().head(chosen.n_probes)
    texts: list[str] = []
    if "loglik" in chosen.channel_names:
        spec = registry.get("loglik").parse(chosen.channel("loglik"))
        texts = list(load_reftexts().texts[: spec["n"]])
    rows = []
    for plan in _plan(entries, store, chosen.id, force, say):
        row = EstimateRow(plan.entry.id, plan.backend, plan.action, note=plan.reason)
        if plan.action == "extract" and plan.fingerprint is not None:
            artifact = artifact_store.artifact(plan.fingerprint, chosen.id)
            text_done = artifact.complete and not force
            loglik_done = bool(texts) and not force and registry.get("loglik").load(artifact) is not None
            row.probes = 0 if text_done else len(prompts)
            row.texts = 0 if loglik_done else len(texts)
            if plan.entry.api is not None:
                cost = api_estimate(plan.entry.api, prompts[: row.probes], chosen.max_new_tokens, texts[: row.texts],
                                    None if force else artifact.directory, chat=chosen.chat_template)
                row.requests, row.cached = cost["requests"], cost["cached"]
                row.prompt_tokens, row.completion_tokens = cost["prompt_tokens"], cost["completion_tokens"]
                row.note = row.note or "no weight sketch (API)"
            else:
                row.gen_tokens = row.probes * chosen.max_new_tokens
                if calibrate and (row.probes or row.texts):
                    say(f"calibrating {plan.entry.id}")
                    try:
                        cal = run_calibration(plan.entry.source(), prompts, chosen.max_new_tokens, texts,
                                              chat=chosen.chat_template)
                        row.seconds = cal.seconds(row.probes, chosen.max_new_tokens, row.texts)
                    except Exception as exc:  # noqa: BLE001 - the ingest would fail the same way: say so, go on
                        row.note = f"calibration failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        rows.append(row)
    return Estimate(chosen.id, rows)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else (f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h")


def _settle(plan: _Plan, result: JobResult, pid: str) -> tuple[ModelOutcome, ModelRecord]:
    """The outcome and the node update for one finished (or failed) job."""
    entry = plan.entry
    if not result.ok:
        reason = result.error or "unknown error"
        # no fingerprint on a failed node: fixed weights under the same id must not look like a conflict
        record = ModelRecord(id=entry.id, status="failed", error=reason)
        return ModelOutcome(entry.id, "failed", result.seconds, reason, plan.fingerprint), record
    data = result.data
    vectors = dict(data["vectors"])
    fields = {**asdict(entry.record()), **data.get("record", {}), "dna": vectors.pop("text"), "protocol": pid,
              "channels": vectors, "fingerprint": data.get("fingerprint") or plan.fingerprint,
              "backend": data.get("backend") or plan.backend,
              "status": "ok", "error": ""}  # "" clears an earlier failure (None would keep it)
    record = ModelRecord(**fields)
    warnings = list(data.get("warnings") or [])
    if data.get("n_empty"):
        warnings.append(f"{data['n_empty']} empty responses")
    return ModelOutcome(entry.id, "ok", result.seconds, None, record.fingerprint, bool(data.get("reused")), warnings,
                        data.get("usage")), record


__all__ = ["ingest", "estimate", "Estimate", "EstimateRow", "IngestReport", "ModelOutcome", "with_retry", "active_protocol", "make_protocol"]
