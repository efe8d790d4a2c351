"""`dnakb zoo build DIR`: the offline model zoo with known genealogy (and its manifest.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.cli.options import JsonOpt, QuietOpt
from kb.cli.output import Progress, emit, table


def register(app: typer.Typer) -> None:
    zoo_app = typer.Typer(help="The offline model zoo with known genealogy (for evaluation and tests).",
                          no_args_is_help=True)
    zoo_app.command("build")(build)
    app.add_typer(zoo_app, name="zoo")


def build(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the models and manifest.yaml.")],
    small: Annotated[bool, typer.Option("--small", help="The ~12-model test zoo instead of the full one.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes (one thread each).")] = 2,
    force: Annotated[bool, typer.Option("--force", help="Rebuild models that are already built.")] = False,
    random_seed: Annotated[Optional[int], typer.Option("--random", min=0, metavar="SEED",
        help="A random zoo drawn from the documented process of ingest/zoo/random_plan.py.")] = None,
    models: Annotated[Optional[int], typer.Option("--models", min=1, help="Models in the random zoo (default 24).")] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build the zoo into OUT_DIR (deterministic, offline) and write OUT_DIR/manifest.yaml."""
    from ingest.zoo.build import build_zoo

    summary = build_zoo(out_dir, small=small, jobs=jobs, force=force, progress=Progress(quiet),
                        random_seed=random_seed, n_models=models)
    data = summary.to_dict()
    emit(data, as_json=as_json, human=table([{"field": k, "value": v} for k, v in data.items()]))
