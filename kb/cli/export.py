"""`dnakb export subtree ROOT --format ...`: a family subtree for reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.app import store_from


def register(app: typer.Typer) -> None:
    export_app = typer.Typer(help="Export parts of the KB for reports.", no_args_is_help=True)
    export_app.command("subtree")(subtree)
    app.add_typer(export_app, name="export")


def subtree(
    ctx: typer.Context,
    root: Annotated[str, typer.Argument(help="Model id at the top of the subtree.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="newick, json, graphml, svg, png, html or md.")
    ] = "newick",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (stdout when omitted).")] = None,
    edges: Annotated[str, typer.Option(help="Parent edges to follow: declared, inferred or both.")] = "both",
) -> None:
    """Export the subtree under ROOT: members with metadata, declared and inferred edges with support."""
    from kb.export import export_subtree

    with store_from(ctx) as store:
        result = export_subtree(store, root, fmt, out, edges)
    if isinstance(result, Path):
        typer.echo(f"wrote {result}", err=True)
    else:
        typer.echo(result, nl=False)
