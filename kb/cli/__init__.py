"""The `dnakb` command line: one typer app, sub-commands registered by module.

Each command is a thin wrapper over one library function: parse options, open the store, call,
print. Library errors (`DnaKbError`) become one `Error: ...` line and exit code 1 in `main`.
The composition root that also adds the ingest commands is `ingest.cli.main`.
"""

from __future__ import annotations

from kb.cli.app import app, main

__all__ = ["app", "main"]
