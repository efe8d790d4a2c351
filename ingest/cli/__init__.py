"""Composition root of `dnakb`: the kb commands plus the ingest commands (ingest -> kb only)."""

from __future__ import annotations

import sys

from kb.cli.app import app, main as _kb_main


def main(argv: list[str] | None = None) -> int:
    import ingest.cli.commands  # noqa: F401  (registers the ingest commands)

    return _kb_main(argv)


def entrypoint() -> None:
    sys.exit(main())


__all__ = ["app", "main", "entrypoint"]
