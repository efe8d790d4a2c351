"""Root of the command line: shared store options, error handling, and command registration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kb.errors import DnaKbError
from kb.stores import GraphStore, StoreConfig, open_store

app = typer.Typer(
    name="dnakb",
    help="A knowledge base of language-model lineage built on functional DNA.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


@app.callback()
def root(
    ctx: typer.Context,
    store: Annotated[
        Optional[str], typer.Option(envvar="DNAKB_STORE", help="Graph store: embedded or neo4j.")
    ] = None,
    db: Annotated[
        Optional[Path], typer.Option(envvar="DNAKB_DB", help="Embedded store directory.")
    ] = None,
    neo4j_uri: Annotated[Optional[str], typer.Option(envvar="NEO4J_URI", help="Bolt URI.")] = None,
    neo4j_user: Annotated[Optional[str], typer.Option(envvar="NEO4J_USER")] = None,
    neo4j_password: Annotated[Optional[str], typer.Option(envvar="NEO4J_PASSWORD")] = None,
) -> None:
    ctx.obj = StoreConfig(
        kind=store or "embedded", db=db, uri=neo4j_uri, user=neo4j_user, password=neo4j_password
    )


def store_from(ctx: typer.Context) -> GraphStore:
    """Open the store the root options name (commands call this once)."""
    config = ctx.find_root().obj
    return open_store(config if isinstance(config, StoreConfig) else None)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a `DnaKbError` becomes one line on stderr and exit code 1."""
    import kb.cli.commands  # noqa: F401  (registers the kb commands)

    try:
        code = app(args=argv, standalone_mode=False)  # returns typer.Exit's code when raised
    except DnaKbError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as done:
        return done.exit_code
    except Exception as error:  # click usage errors and aborts
        import click

        if isinstance(error, click.ClickException):
            error.show()
            return error.exit_code
        if isinstance(error, click.exceptions.Abort):
            print("Error: aborted", file=sys.stderr)
            return 1
        raise
    return code if isinstance(code, int) else 0
