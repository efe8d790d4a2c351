"""`dnakb report [--family F] --out report.html`: one self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.app import store_from


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    family: Annotated[Optional[str], typer.Option(help="One family (family:<root>, root:<declared root> or a model id); default: the whole KB.")] = None,
) -> None:
    """A report for a family or the whole KB: the tree, evolution over time, the speed table,
    flagged edges and licence conflicts, in one HTML file that opens offline."""
    from kb.export.kbreport import write_report

    with store_from(ctx) as store:
        written = write_report(store, out, family)
    typer.echo(f"wrote {written}", err=True)
