"""The README stays true: its first two commands, and every registered command listed."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    readme = (REPO / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["scripts/setup && .venv/bin/dnakb demo", "scripts/test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "exec scripts/test" in ci


def test_every_command_is_in_the_readme() -> None:
    from ingest.cli import build_app

    app = build_app()
    readme = (REPO / "README.md").read_text()
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    assert names, "no commands registered"
    for name in names:
        assert f"`dnakb {name}" in readme, f"command {name!r} is missing from the README"
        assert any(
            (c.name or c.callback.__name__.replace("_", "-")) == name and (c.callback.__doc__ or c.help)
            for c in app.registered_commands
        ) or name in [g.name for g in app.registered_groups], f"{name} has no help text"
