"""`dnakb export subtree|tree|timeline`: parts of the KB as files for reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.app import store_from

OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (stdout when omitted).")]


def register(app: typer.Typer) -> None:
    export_app = typer.Typer(help="Export parts of the KB for reports.", no_args_is_help=True)
    export_app.command("subtree")(subtree)
    export_app.command("tree")(tree)
    export_app.command("timeline")(timeline)
    app.add_typer(export_app, name="export")


def _done(result: object) -> None:
    if isinstance(result, Path):
        typer.echo(f"wrote {result}", err=True)
    else:
        typer.echo(result, nl=False)


def subtree(
    ctx: typer.Context,
    root: Annotated[str, typer.Argument(help="Model id at the top of the subtree.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="newick, json, graphml, svg, png, html or md.")
    ] = "newick",
    out: OutOpt = None,
    edges: Annotated[str, typer.Option(help="Parent edges to follow: declared, inferred or both.")] = "both",
) -> None:
    """Export the subtree under ROOT: members with metadata, declared and inferred edges with support."""
    from kb.export import export_subtree

    with store_from(ctx) as store:
        result = export_subtree(store, root, fmt, out, edges)
    _done(result)


def tree(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="newick, svg, png or html.")] = "newick",
    out: OutOpt = None,
    family: Annotated[Optional[list[str]], typer.Option(
        "--family", help="Only this family (family:<root>, root:<declared root> or a model id); repeat for several.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only models released on or after this date (YYYY-MM-DD).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only models released on or before this date.")] = None,
    org: Annotated[Optional[list[str]], typer.Option("--org", help="Only this organisation; repeat for several.")] = None,
    distance: Annotated[str, typer.Option(help="evidence (inference's cost over every channel) or text (DNA alone).")] = "evidence",
    root: Annotated[str, typer.Option(help="auto, earliest, midpoint or outgroup:MODEL.")] = "auto",
    colour: Annotated[str, typer.Option("--colour", help="Colour leaves by family, architecture or org.")] = "family",
    protocol: Annotated[Optional[str], typer.Option(help="DNA protocol id (default: the one most models carry).")] = None,
) -> None:
    """One neighbor-joining tree over every model of one DNA protocol (or a selection), rooted;
    newick, or a circular figure (svg, png, html) readable at hundreds of leaves."""
    from kb.export.whole import export_tree
    from kb.lineage.kbtree import Selection

    selection = Selection(tuple(family or ()), since, until, tuple(org or ()))
    with store_from(ctx) as store:
        result = export_tree(store, fmt, out, selection, distance=distance, root=root, colour_by=colour,
                             protocol=protocol)
    _done(result)


def timeline(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="svg, png or html.")] = "svg",
    out: OutOpt = None,
    family: Annotated[Optional[str], typer.Option(help="Only this family (or the family of this model).")] = None,
    origin: Annotated[Optional[str], typer.Option("--from", help="Measure every distance from this model instead of each family's root.")] = None,
    protocol: Annotated[Optional[str], typer.Option(help="DNA protocol id (default: the one most models carry).")] = None,
) -> None:
    """Evolution over time: release date against DNA distance from the family root, one line per
    lineage, one colour per family."""
    from kb.export.whole import export_timeline

    with store_from(ctx) as store:
        result = export_timeline(store, fmt, out, family, origin, protocol)
    _done(result)
