"""Printing: a table for people (rich on a terminal, plain aligned text when piped), `--json` or
`--csv` for machines, and progress on stderr (a live bar with rate and ETA on a terminal, plain lines
otherwise, so CI logs stay readable)."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import typer


def _cell(value: Any, precise: bool = False) -> str:
    """Text of one cell: floats short for people, exact (repr) for machines; one line always."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if precise else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v, precise) for v in value)
    text = str(value)
    return text if precise else text.replace("\r", "\\r").replace("\n", "\\n")


def _plain_table(columns: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """The rows as a table: rich's on a terminal, plain aligned text otherwise; empty input says so."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if not sys.stdout.isatty():
        return _plain_table(columns, cells)
    from rich import box
    from rich.console import Console
    from rich.table import Table

    shown = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in cells:
        shown.add_row(*row)
    console = Console(file=io.StringIO(), force_terminal=True, width=Console().width)
    console.print(shown)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


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
    """Progress on stderr: notes as lines, counted steps (`kb.progress.step`) as a live bar with rate
    and ETA when stderr is a terminal, else as lines at most every `every` seconds per label (and
    always the last). Silent under --quiet, so quiet runs take the same code path."""

    def __init__(self, quiet: bool = False, every: float = 2.0) -> None:
        self.quiet = quiet
        self.every = every
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._last: dict[str, float] = {}

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        if self._bars is not None:
            self._bars.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=sys.stderr, flush=True)

    def count(self, label: str, done: int, total: int, detail: str = "") -> None:
        if self.quiet:
            return
        if not sys.stderr.isatty():
            now = time.monotonic()
            if done >= total or now - self._last.get(label, -1e9) >= self.every:
                self._last[label] = now
                self(f"{label}: {done}/{total}" + (f" {detail}" if detail else ""))
            return
        bars = self._live()
        if label not in self._tasks:
            self._tasks[label] = bars.add_task(label, total=total, detail=detail)
        bars.update(self._tasks[label], completed=done, total=total, detail=detail)
        if done >= total:
            bars.remove_task(self._tasks.pop(label))
            if not self._tasks:
                self.close()

    def _live(self) -> Any:
        if self._bars is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, ProgressColumn
            from rich.progress import TextColumn, TimeRemainingColumn
            from rich.text import Text

            class Rate(ProgressColumn):
                def render(self, task: Any) -> Text:
                    return Text(f"{task.speed:.2g}/s" if task.speed else "")

            self._bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                              TimeRemainingColumn(), TextColumn("{task.fields[detail]}"),
                              console=Console(file=sys.stderr), transient=True)
            self._bars.start()
        return self._bars

    def close(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
            self._tasks.clear()
