"""Printing: a human table by default, `--json` or `--csv` for machines, progress on stderr."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import typer


def _cell(value: Any, precise: bool = False) -> str:
    """Text of one cell: floats short for people, exact (repr) for machines."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if precise else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v, precise) for v in value)
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain aligned text table; empty input says so."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c), precise=True) for c in columns])
    return buffer.getvalue()


def emit(data: Any, *, as_json: bool = False, human: str | None = None) -> None:
    """Print `data` as JSON, or the given human form."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        typer.echo(human if human is not None else str(data))


def emit_rows(
    rows: Sequence[dict[str, Any]], *, as_json: bool = False, as_csv: bool = False,
    columns: Sequence[str] | None = None,
) -> None:
    if as_json:
        emit(list(rows), as_json=True)
    elif as_csv:
        typer.echo(to_csv(rows, columns), nl=False)
    else:
        typer.echo(table(rows, columns))


class Progress:
    """Progress lines on stderr; silent under --quiet, so quiet runs take the same code path."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def iterate(self, items: Iterable[Any], total: int, label: str, every: int = 1) -> Iterable[Any]:
        for i, item in enumerate(items, 1):
            yield item
            if i % every == 0 or i == total:
                self(f"{label}: {i}/{total}")
