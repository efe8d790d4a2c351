"""`dnakb eval ZOO_MANIFEST`: how well inference recovers a known genealogy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.app import JsonOpt, QuietOpt, app, store_from
from kb.cli.output import Progress, emit


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="The zoo's manifest.yaml (true parents and relations).")],
    use_current: Annotated[bool, typer.Option("--use-current", help="Score the KB's current inferred results; ingest and infer nothing.")] = False,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap replicates for edge support.")] = 100,
    workers: Annotated[int, typer.Option(min=1, help="Ingest worker processes.")] = 1,
    protocol_file: Annotated[Optional[Path], typer.Option("--protocol", help="A protocol JSON file; default: the KB's.")] = None,
    artifacts: Annotated[Optional[Path], typer.Option(help="Artifact store folder (default ~/.cache/dnakb/artifacts).")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest and infer a zoo (or use the current KB) and print parent accuracy, family ARI,
    Robinson-Foulds distance, relation AUC and support calibration."""
    from ingest.evaluation import evaluate_zoo
    from kb.lineage.evaluate import format_report
    from kb.protocol import DnaProtocol

    with store_from(ctx) as store:
        protocol = DnaProtocol.load(protocol_file) if protocol_file else None
        report = evaluate_zoo(manifest, store, use_current=use_current, bootstrap=bootstrap, workers=workers,
                              artifacts=artifacts, protocol=protocol, progress=Progress(quiet))
    emit(report.as_dict(), as_json=as_json,
         human=format_report(report))
