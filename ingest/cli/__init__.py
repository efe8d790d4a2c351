"""The composition root of `dnakb`: one app, every command group registered here, in help order.

Dependencies point one way (ingest -> kb): kb's command modules know nothing of ingest's.
"""

from __future__ import annotations

import sys

import typer

from ingest.cli import demo, eval, extract, import_lineage, ingest, probes, zoo
from kb.cli import app as root, export, infer, query, status

COMMAND_MODULES = (status, probes, extract, ingest, import_lineage, infer, eval, query, export, zoo, demo)


def build_app() -> typer.Typer:
    app = root.new_app()
    for module in COMMAND_MODULES:
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    return root.run(build_app(), argv)


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["build_app", "entrypoint", "main"]
