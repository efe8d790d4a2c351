"""Human output: rich tables and live progress bars on a terminal, plain text when piped (CI logs)."""

from __future__ import annotations

import sys

from kb.cli.output import Progress, table
from kb.progress import step


def test_tables_are_rich_on_a_terminal_and_plain_when_piped(monkeypatch) -> None:
    rows = [{"model": "org/a", "distance": 0.123456, "note": "two\nlines"}]
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    plain = table(rows).splitlines()
    assert plain[0].split() == ["model", "distance", "note"] and set(plain[1]) <= {"-", " "}
    assert plain[2].split() == ["org/a", "0.1235", "two\\nlines"]  # one line per row, always
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    rich = table(rows)
    assert "─" in rich and "org/a" in rich and "0.1235" in rich
    assert table([]) == "(no rows)"


def test_progress_is_lines_when_piped_and_quiet_is_silent(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    progress = Progress(every=3600)
    for done in range(1, 6):
        step(progress, "models", done, 5)
    progress("a note")
    assert capsys.readouterr().err.splitlines() == ["models: 1/5", "models: 5/5", "a note"]
    quiet = Progress(quiet=True)
    step(quiet, "models", 1, 1)
    quiet("nothing")
    assert capsys.readouterr().err == ""
    lines: list[str] = []
    step(lines.append, "texts", 2, 4, "x")  # any callable gets the counted line
    assert lines == ["texts: 2/4 x"]


def test_progress_is_a_live_bar_on_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = Progress()
    step(progress, "replicates", 1, 3)
    assert progress._bars is not None and progress._bars.tasks[0].completed == 1
    step(progress, "replicates", 3, 3)
    assert progress._bars is None  # the last unit closes the bar
