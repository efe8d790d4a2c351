"""`dnakb status`: which store, where, and what it holds."""

from __future__ import annotations

from dataclasses import asdict

import typer

from kb.cli.app import store_from
from kb.cli.options import JsonOpt
from kb.cli.output import emit, table


def register(app: typer.Typer) -> None:
    app.command()(status)


def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the store, its location, counts of models/edges/families and the DNA protocols."""
    with store_from(ctx) as store:
        stats = store.stats()
    data = asdict(stats)
    counts = [
        {"what": "models", "count": stats.models},
        {"what": "models with DNA", "count": stats.models_with_dna},
        {"what": "declared parent edges", "count": stats.declared_edges},
        {"what": "inferred parent edges", "count": stats.inferred_edges},
        {"what": "duplicate edges", "count": stats.duplicate_edges},
        {"what": "families", "count": stats.families},
    ]
    protocols = [{"protocol": p, "models": n} for p, n in sorted(stats.protocols.items())]
    index = stats.lineage_index
    if index != "current":
        index += " (recounted by the next descendant-count query)"
    human = (
        f"store: {stats.store} at {stats.location}\n\n{table(counts)}\n\nlineage index: {index}\n\n"
        "DNA protocols:\n" + (table(protocols) if protocols else "(none)")
    )
    emit(data, as_json=as_json, human=human)
