"""`dnakb demo`: the README's first command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.app import store_from
from kb.cli.options import BootstrapOpt, JsonOpt, QuietOpt
from kb.cli.output import Progress, emit, table


def default_workdir() -> Path:
    return Path.home() / ".cache" / "dnakb" / "demo"


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    ctx: typer.Context,
    workdir: Annotated[Optional[Path], typer.Option(help="Where the zoo, artifacts and report go.")] = None,
    bootstrap: BootstrapOpt = 20,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build the small zoo, ingest it through both backends, infer lineage, print the family trees,
    answer three lineage questions and write an HTML report."""
    from ingest.demo import demo as run_demo

    with store_from(ctx, write=True) as store:
        result = run_demo(store, workdir or default_workdir(), bootstrap=bootstrap, progress=Progress(quiet))
    parts = ["Family trees (inferred; declared parents were withheld):", *result.trees, ""]
    for answer in result.answers:
        parts += [f"Q: {answer['question']}   (dnakb query {answer['template']})", table(answer["rows"]), ""]
    accuracy = "n/a" if result.parent_accuracy is None else f"{result.parent_accuracy:.2f}"
    parts.append(f"{result.ingested} models ingested; parent accuracy vs the zoo's truth: {accuracy}")
    parts.append(f"HTML report: {result.report}")
    data = {"manifest": str(result.manifest), "report": str(result.report), "ingested": result.ingested,
            "parent_accuracy": result.parent_accuracy, "trees": result.trees, "answers": result.answers}
    emit(data, as_json=as_json, human="\n".join(parts))
