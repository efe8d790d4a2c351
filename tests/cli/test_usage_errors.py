"""Usage errors through the installed `dnakb` entry point: click's usage message, exit code 2, never a
traceback; errors of the library: one `Error:` line, exit code 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

ENTRY = Path(sys.executable).with_name("dnakb")


def dnakb(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DNAKB_DB": str(db), "COLUMNS": "100"}
    return subprocess.run([str(ENTRY), *args], capture_output=True, text=True, env=env, timeout=120, cwd=REPO)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert ENTRY.is_file() or shutil.which("dnakb"), "the dnakb entry point is installed with the project"
    return tmp_path_factory.mktemp("usage") / "kb"


@pytest.mark.parametrize("args,needle", [
    (["frobnicate"], "No such command 'frobnicate'"),
    (["status", "--bogus"], "No such option: --bogus"),
    (["status", "--store", "embedded"], "--store applies to every command: put it before the command"),
    (["export", "subtree"], "Missing argument"),
    (["query", "descendants", "--param", "model"], "'model' is not key=value"),
    (["query", "descendants", "--param"], "requires an argument"),
    (["infer", "--bootstrap", "-3"], "Invalid value"),
    (["--store"], "requires an argument"),
])
def test_usage_errors_print_usage_and_exit_2(args: list[str], needle: str, db: Path) -> None:
    result = dnakb(*args, db=db)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr and ("Usage: dnakb" in result.stderr or "requires an argument" in needle)
    assert "Traceback" not in result.stderr + result.stdout


def test_library_errors_are_one_line_and_exit_1(db: Path) -> None:
    result = dnakb("query", "no-such-template", "--param", "a=b", db=db)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["Error: no query template 'no-such-template'; see `dnakb query --list`"]


def test_help_exits_0(db: Path) -> None:
    result = dnakb("--help", db=db)
    assert result.returncode == 0 and "Commands" in result.stdout
