"""`dnakb eval`: ingest a zoo of known genealogy (without its declared parents) and score inference."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ingest.api import ingest
from ingest.zoo.manifest import load_zoo_manifest
from kb.artifacts import ArtifactArrays
from kb.lineage.evaluate import EvalReport, evaluate
from kb.protocol import DnaProtocol
from kb.stores import GraphStore


def true_edges(manifest: str | Path) -> list[tuple[str, str, str]]:
    """(child, parent, relation) for every parent the zoo manifest records."""
    return [(e.id, p.id, p.relation) for e in load_zoo_manifest(manifest) for p in e.parents]


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
    return evaluate(store, true_edges(manifest), bootstrap=bootstrap, run_infer=not use_current,
                    arrays=ArtifactArrays(store, artifacts), progress=progress, **infer_options)
