"""`dnakb probes`: the shipped probe set — its id, its size and its prompts."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kb.cli.options import JsonOpt
from kb.cli.output import emit, table
from kb.errors import InputError
from kb.probes import load_probes


def register(app: typer.Typer) -> None:
    app.command()(probes)


def probes(
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", help="Show only the first N prompts.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the probe set: its id (content hash), prompt count and the prompts."""
    probe_set = load_probes()
    if limit is not None and limit < 0:
        raise InputError(f"--limit {limit}: expected 0 or more")
    shown = list(probe_set.prompts[: limit if limit is not None else len(probe_set)])
    data = {"id": probe_set.id, "source": probe_set.source, "count": len(probe_set), "prompts": shown}
    rows = [{"#": i, "prompt": p.replace("\n", "\\n")} for i, p in enumerate(shown)]
    human = f"probe set {probe_set.id} ({len(probe_set)} prompts, {probe_set.source})\n\n{table(rows)}"
    emit(data, as_json=as_json, human=human)
