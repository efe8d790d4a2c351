"""`dnakb infer`: families, trees and directed parents with support (wraps `kb.lineage.infer.infer`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kb.artifacts import ArtifactArrays
from kb.cli.app import store_from
from kb.cli.options import ArtifactsOpt, BootstrapOpt, ChannelsOpt, JsonOpt, NoChannelOpt, QuietOpt, channel_names
from kb.cli.output import Progress, emit, table
from kb.lineage.infer import InferenceResult, infer as infer_kb


def register(app: typer.Typer) -> None:
    app.command()(infer)


def summary_text(result: InferenceResult) -> str:
    """Human summary: one table of counts, one of families, then any messages."""
    s = result.summary()
    rows = [
        {"what": "protocol", "value": s["protocol"]},
        {"what": "models", "value": s["models"]},
        {"what": "families", "value": f"{s['families']} ({s['singletons']} singletons)"},
        {"what": "inferred parent edges", "value": s["edges"]},
        {"what": "relations", "value": ", ".join(f"{k} {v}" for k, v in sorted(s["relations"].items())) or "-"},
        {"what": "mean support", "value": "-" if s["mean_support"] is None
         else f"{s['mean_support']:.3f} ({s['bootstrap']} replicates)"},
        {"what": "undocumented / contradicted", "value": f"{s['undocumented']} / {s['contradicted']}"},
        {"what": "seconds", "value": s["seconds"]},
    ]
    fams = sorted(result.families, key=lambda f: (-f.size, f.id))
    fam_rows = [{"family": f.id, "size": f.size, "root": f.root} for f in fams if f.size > 1][:20]
    out = table(rows)
    if fam_rows:
        more = sum(1 for f in fams if f.size > 1) - len(fam_rows)
        out += "\n\n" + table(fam_rows) + (f"\n… {more} more families" if more > 0 else "")
    if result.messages:
        out += "\n\n" + "\n".join(f"note: {m}" for m in result.messages)
    return out


def infer(
    ctx: typer.Context,
    protocol: Annotated[Optional[str], typer.Option(help="DNA protocol id (default: the one most models carry).")] = None,
    bootstrap: BootstrapOpt = 100,
    min_cluster_size: Annotated[int, typer.Option(min=2, help="HDBSCAN min_cluster_size.")] = 2,
    min_samples: Annotated[int, typer.Option(min=1, help="HDBSCAN min_samples.")] = 1,
    epsilon: Annotated[Optional[float], typer.Option(min=0.0, help="HDBSCAN cluster_selection_epsilon as a fraction of 'unrelated' (default 0.5 over weights/log-likelihood costs, 0.15 over text DNAs).")] = None,
    channels: ChannelsOpt = None,
    no_channel: NoChannelOpt = None,
    artifacts: ArtifactsOpt = None,
    no_dates: Annotated[bool, typer.Option("--no-dates", help="Ignore release dates.")] = False,
    no_declared: Annotated[bool, typer.Option("--no-declared", help="Do not use declared parents as evidence.")] = False,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Infer families, neighbor-joining trees and directed parents (with relation, deciding channel,
    bootstrap support and flags) over one DNA protocol, replacing the previous inferred results."""
    chosen = channel_names(channels, no_channel)
    with store_from(ctx, write=True) as store:
        result = infer_kb(
            store, protocol, arrays=ArtifactArrays(store, artifacts), bootstrap=bootstrap,
            min_cluster_size=min_cluster_size, min_samples=min_samples, epsilon=epsilon, channels=chosen,
            use_dates=not no_dates, use_declared=not no_declared, seed=seed, progress=Progress(quiet),
        )
    emit(result.summary(), as_json=as_json, human=summary_text(result))
