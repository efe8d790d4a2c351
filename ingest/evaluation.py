"""`dnakb eval`: ingest a zoo of known genealogy (without its declared parents) and score inference."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from ingest.api import ingest
from ingest.zoo.manifest import load_zoo_manifest
from ingest.zoo.scoring import as_stored
from kb.artifacts import ArtifactArrays
from kb.lineage.evaluate import EvalReport, evaluate
from kb.protocol import DnaProtocol
from kb.stores import GraphStore


def true_edges(manifest: str | Path, store: GraphStore | None = None) -> list[tuple[str, str, str]]:
    """(child, parent, relation) for every parent the zoo manifest records; with `store`, each parent
    named as the store keeps it (`stored_as`)."""
    entries = load_zoo_manifest(manifest)
    if store is not None:
        entries = as_stored(entries, stored_as(store, [e.id for e in entries]))
    return [(e.id, p.id, p.relation) for e in entries for p in e.parents]


def stored_as(store: GraphStore, ids: Sequence[str]) -> dict[str, str]:
    """id -> the stored model with identical weights, for each of `ids` that ingest recorded as a
    duplicate (`DUPLICATE_OF`: byte-identical files, e.g. two conversions to one type, keep one node
    with a DNA). Scored under its own id, a true parent that is a duplicate would make the edge to
    the identical original count as wrong."""
    wanted = set(ids)
    return {d: original for d, (original, _released) in store.duplicates().items() if d in wanted}


def evaluate_zoo(
    manifest: str | Path, store: GraphStore, *, use_current: bool = False, bootstrap: int = 100,
    workers: int = 1, artifacts: str | Path | None = None, protocol: DnaProtocol | None = None,
    progress: Callable[[str], None] | None = None, **infer_options: Any,
) -> EvalReport:
    """Ingest the zoo (unless `use_current`), infer, and score against the manifest's truth."""
    if not use_current:
        report = ingest(manifest, store, workers=workers, declared=False, artifacts=artifacts,
                        protocol=protocol, progress=progress)
        if report.failed:
            progress and progress(f"warning: {report.failed} zoo model(s) failed to ingest")
    return evaluate(store, true_edges(manifest, store), bootstrap=bootstrap, run_infer=not use_current,
                    arrays=ArtifactArrays(store, artifacts), progress=progress, **infer_options)
