"""The root of the command line: the store options every command shares, and one place where
errors become one line.

- Usage errors (unknown command or option, a missing argument, a bad value) are click's: its
  usage message and exit code 2.
- Errors this package raises on purpose (`DnaKbError`): `Error: <message>` and exit code 1.
- Anything else is a bug or an unforeseen failure: `Error: <type>: <message>` plus a hint, exit
  code 1; `dnakb --debug ...` (or DNAKB_DEBUG=1) shows the traceback instead.
The composition root that builds the whole app is `ingest.cli.build_app`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.errors import DnaKbError
from kb.stores import GraphStore, StoreConfig, open_store

_DEBUG = {"on": False}


def new_app() -> typer.Typer:
    """An app with the root options and no commands yet."""
    app = typer.Typer(
        name="dnakb",
        help="A knowledge base of language-model lineage built on functional DNA.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(root)
    return app


def root(
    ctx: typer.Context,
    store: Annotated[Optional[str], typer.Option(envvar="DNAKB_STORE", help="Graph store: embedded or neo4j.")] = None,
    db: Annotated[Optional[Path], typer.Option(envvar="DNAKB_DB", help="Embedded store directory.")] = None,
    neo4j_uri: Annotated[Optional[str], typer.Option(envvar="NEO4J_URI", help="Bolt URI.")] = None,
    neo4j_user: Annotated[Optional[str], typer.Option(envvar="NEO4J_USER")] = None,
    neo4j_password: Annotated[Optional[str], typer.Option(envvar="NEO4J_PASSWORD")] = None,
    debug: Annotated[bool, typer.Option("--debug", envvar="DNAKB_DEBUG", help="Show the traceback of an unexpected error.")] = False,
) -> None:
    _DEBUG["on"] = debug
    ctx.obj = StoreConfig(kind=store or "embedded", db=db, uri=neo4j_uri, user=neo4j_user, password=neo4j_password)


def store_from(ctx: typer.Context, *, write: bool = False) -> GraphStore:
    """Open the store the root options name (commands call this once): shared with other processes,
    as a reader, or as the one writer when the command changes the KB."""
    config = ctx.find_root().obj
    return open_store(config if isinstance(config, StoreConfig) else None, mode="write" if write else "read")


ROOT_OPTIONS = ("--store", "--db", "--neo4j-uri", "--neo4j-user", "--neo4j-password", "--debug")


def misplaced_root_option(argv: list[str]) -> str | None:
    """A store option written after the command (`dnakb status --store neo4j`), or None."""
    command_seen = False
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if not command_seen:
            if name in ROOT_OPTIONS:
                skip = "=" not in token and name != "--debug"
            elif not token.startswith("-"):
                command_seen = True
        elif name in ROOT_OPTIONS:
            return name
    return None


def run(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run `app` on `argv` and return the exit code (see the module docstring)."""
    _DEBUG["on"] = os.environ.get("DNAKB_DEBUG", "").lower() in ("1", "true", "yes")
    args = sys.argv[1:] if argv is None else list(argv)
    misplaced = misplaced_root_option(args)
    if misplaced:
        print(f"Usage: dnakb [OPTIONS] COMMAND [ARGS]...\nTry 'dnakb --help' for help.\n\nError: {misplaced} "
              f"applies to every command: put it before the command (dnakb {misplaced} ... COMMAND)", file=sys.stderr)
        return 2
    try:
        app(args=args, prog_name="dnakb")  # standalone: click shows usage errors and exits 2
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except DnaKbError as error:
        print(f"Error: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the one guard for what nothing else caught
        if _DEBUG["on"]:
            raise
        print(f"Error: {type(error).__name__}: {one_line(error)} (unexpected; re-run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
    return 0


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) if str(error).strip() else type(error).__name__
    return text if len(text) <= 500 else text[:497] + "..."
