"""`dnakb status`: which store, where, what it holds, and per model which evidence channels exist."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from kb.channels import REGISTRY
from kb.cli.app import store_from
from kb.cli.options import JsonOpt
from kb.cli.output import emit, table

MODELS_SHOWN = 50
"""Up to this many models the per-model channel table is shown by default; `--models` shows any number."""


def register(app: typer.Typer) -> None:
    app.command()(status)


def model_channels(store: Any) -> list[dict[str, Any]]:
    """Per model: id, status, backend and, per channel of the registry, whether its vector is stored.

    Mixed KBs are the point: an API model has no weight sketch (its weights are unknown) and may lack
    the log-likelihood profile (a server without prompt log-probabilities); inference uses what each has.
    """
    present = ", ".join(f"m.{c.record_field} IS NOT NULL AS {c.name}" for c in REGISTRY)  # names from code
    rows = store.cypher(f"MATCH (m:Model) RETURN m.id AS id, m.status AS status, m.backend AS backend, {present} "
                        "ORDER BY id")
    names = [c.name for c in reversed(REGISTRY)]  # text first: the DNA every ingested model has
    return [{"model": row["id"], "status": row["status"], "backend": row["backend"],
             "channels": [name for name in names if row[name]]} for row in rows]


def channel_counts(store: Any) -> dict[str, int]:
    """Channel name -> how many models hold its vector (one read)."""
    counts = ", ".join(f"count(m.{c.record_field}) AS {c.name}" for c in REGISTRY)  # count(x) skips nulls
    row = store.cypher(f"MATCH (m:Model) RETURN {counts}")[0]
    return {c.name: int(row[c.name] or 0) for c in reversed(REGISTRY)}


def status(ctx: typer.Context, as_json: JsonOpt = False,
           models: Annotated[bool, typer.Option("--models", help="List every model with its channels (default: "
                                                                 f"up to {MODELS_SHOWN} models).")] = False) -> None:
    """Show the store, its location, counts of models/edges/families, the DNA protocols, and per model
    which evidence channels it has."""
    with store_from(ctx) as store:
        stats = store.stats()
        per_model = model_channels(store) if models or stats.models <= MODELS_SHOWN else None
        by_channel = channel_counts(store)
    data = asdict(stats)
    data["models_by_channel"] = by_channel
    if per_model is not None:
        data["model_channels"] = per_model
    counts = [
        {"what": "models", "count": stats.models},
        {"what": "models with DNA", "count": stats.models_with_dna},
        *({"what": f"models with {c.label}", "count": by_channel[c.name]} for c in reversed(REGISTRY) if c.optional),
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
    if per_model is not None:
        rows = [{"model": r["model"], "status": r["status"], "backend": r["backend"],
                 "channels": ", ".join(r["channels"]) or "-"} for r in per_model]
        human += "\n\nchannels per model:\n" + (table(rows) if rows else "(no models)")
    else:
        human += f"\n\n({stats.models} models: --models lists each with its channels)"
    emit(data, as_json=as_json, human=human)
