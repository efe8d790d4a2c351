"""`dnakb query` (named lineage questions) and `dnakb cypher` (raw Cypher, read-only by default)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from kb.cli.app import store_from
from kb.cli.options import CsvOpt, JsonOpt
from kb.cli.output import emit_rows
from kb.errors import InputError

def _key_value(pairs: list[str] | None) -> list[str] | None:
    """A `--param` that is not key=value is a usage error (click's message, exit code 2)."""
    for pair in pairs or []:
        key, sep, _value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not key=value (e.g. --param model=org/name)")
    return pairs


ParamOpt = Annotated[
    Optional[list[str]],
    typer.Option("--param", "-p", callback=_key_value, help="A parameter as key=value (repeat for several)."),
]


def parse_param_pairs(pairs: list[str] | None, *, typed: bool = False) -> dict[str, Any]:
    """`key=value` strings as a dict; with `typed`, values that read as JSON become numbers etc."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"parameter {pair!r} is not key=value (e.g. --param model=org/name)")
        if key in params:
            raise InputError(f"parameter {key!r} given twice")
        if typed:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


def register(app: typer.Typer) -> None:
    app.command()(query)
    app.command()(cypher)


def query(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(help="Template name (see --list).")] = None,
    param: ParamOpt = None,
    list_: Annotated[bool, typer.Option("--list", help="List the templates and exit.")] = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Answer a named lineage question, e.g. `dnakb query descendants --param model=org/base`."""
    from kb.templates import list_templates, run_template

    if list_ or name is None:
        emit_rows(list_templates(), as_json=as_json, as_csv=as_csv)
        return
    params = parse_param_pairs(param)
    with store_from(ctx) as store:
        rows = run_template(store, name, params)
    emit_rows(rows, as_json=as_json, as_csv=as_csv)


def cypher(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(metavar="QUERY", help="Cypher in the store's dialect.")],
    param: ParamOpt = None,
    write: Annotated[bool, typer.Option("--write", help="Allow write clauses.")] = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Run raw Cypher; write clauses (CREATE, SET, DELETE, ...) are refused unless --write.

    Parameter values that read as JSON become numbers, booleans or lists (`--param k=5`);
    anything else is a string.
    """
    params = parse_param_pairs(param, typed=True)
    with store_from(ctx, write=write) as store:
        rows = store.cypher(text, params, write=write)
    emit_rows(rows, as_json=as_json, as_csv=as_csv)
