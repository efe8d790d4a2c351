"""The composition root of `dnakb`: one app, and every command module of kb/cli/ and ingest/cli/
that has a `register(app)` registered on it (alphabetically by module, which is the help order).

Adding a command is its module with `register`, a line in the README, and its tests. Dependencies point
one way (ingest -> kb): kb's command modules know nothing of ingest's.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

import typer

from kb.cli import app as root

PACKAGES = ("kb.cli", __name__)
"""Where command modules live (this package's own names are its submodules, so no `import ingest`)."""


def command_modules() -> list[ModuleType]:
    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{name}.{info.name}")
            if callable(getattr(module, "register", None)):
                found.append(module)
    return sorted(found, key=lambda m: m.__name__.rpartition(".")[2])


def build_app() -> typer.Typer:
    app = root.new_app()
    for module in command_modules():
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    return root.run(build_app(), argv)


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["build_app", "command_modules", "entrypoint", "main"]
