"""`dnakb import-lineage PATH...`: documented lineage from CSV edge lists and Hugging Face metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ingest.lineage_import import import_lineage as _import_lineage
from kb.cli.app import store_from
from kb.cli.options import JsonOpt, QuietOpt
from kb.cli.output import Progress, emit, table


def register(app: typer.Typer) -> None:
    app.command("import-lineage")(import_lineage)


def import_lineage(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="CSV / JSON / JSONL files or folders of them.")],
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Import declared parents and metadata (no weights): CSV edge/node lists, HF model trees, model_info JSON."""
    progress = Progress(quiet)
    with store_from(ctx, write=True) as store:
        report = _import_lineage(paths, store, progress=progress)
    for warning in report.warnings[:20]:
        progress(f"warning: {warning}")
    if len(report.warnings) > 20:
        progress(f"... and {len(report.warnings) - 20} more warnings")
    rows = [
        {"what": "files", "count": len(report.files)},
        {"what": "records read", "count": report.records},
        {"what": "models", "count": report.models},
        {"what": "new models", "count": report.new_models},
        {"what": "declared edges", "count": report.edges},
        *({"what": f"  {rel}", "count": n} for rel, n in report.relations.items()),
        {"what": "warnings", "count": len(report.warnings)},
    ]
    human = table(rows) + f"\n\n{report.records_per_s:,.0f} records/s ({report.seconds:.2f} s)"
    emit(report.as_dict(), as_json=as_json, human=human)
