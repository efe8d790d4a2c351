"""kill -9 of `dnakb ingest` at several points, then a re-run: everything completes, nothing twice.

Each run is a real subprocess of the CLI on one embedded store. Kill points: DNAKB_FAULT=ingest.<point>#<n>=kill
(the ingest SIGKILLs itself the n-th time it reaches <point>) and one kill by timing, in the middle
of a worker's extraction (the worker must die with its parent, not linger).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb.stores import StoreConfig, open_store
from tests.ingest.models import cli_protocol, write_manifest
from tests.ingest.test_ingest import check_consistent

REPO = Path(__file__).resolve().parents[2]
CLI = "import sys; from ingest.cli import main; sys.exit(main(sys.argv[1:]))"


def cli_env(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DNAKB_FAULT"}
    env["PYTHONPATH"] = str(REPO)
    if fault:
        env["DNAKB_FAULT"] = fault
    return env


def run(args: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], env=cli_env(fault), cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def snapshot(db: Path) -> dict:
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        check_consistent(store)
        stats = store.stats()
        return {
            "status": {m.id: m.status for m in store.get_models()},
            "declared": sorted((e.child, e.parent) for e in store.declared_edges()),
            "duplicates": stats.duplicate_edges, "models": stats.models,
        }


@pytest.mark.slow
def test_kill_minus_nine_at_several_points_then_rerun(ingest_zoo, tmp_path):
    four = ingest_zoo
    manifest = write_manifest(tmp_path, [
        {"id": "f/base", "path": str(four / "base")},
        {"id": "f/tuned", "path": str(four / "tuned"), "parents": "f/base"},
        {"id": "f/twin", "path": str(four / "twin"), "parents": "f/base"},
        {"id": "f/tuned2", "path": str(four / "tuned2"), "parents": [{"id": "f/tuned", "relation": "finetune"}]},
    ])
    db = tmp_path / "kb"
    args = ["--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path),
            "--artifacts", str(tmp_path / "art"), "--json"]

    # 1. killed after planning: metadata and edges written, nothing extracted
    assert run(args, "ingest.after-plan#1=kill").returncode == -signal.SIGKILL
    state = snapshot(db)
    assert state["status"] == {"f/base": "pending", "f/tuned": "pending", "f/twin": "duplicate", "f/tuned2": "pending"}
    assert (state["models"], len(state["declared"]), state["duplicates"]) == (4, 3, 1)

    # 2. killed when the first DNA came back, before it was stored
    assert run(args, "ingest.after-extract#1=kill").returncode == -signal.SIGKILL
    assert sorted(snapshot(db)["status"].values()) == ["duplicate", "pending", "pending", "pending"]

    # 3. killed right after the second DNA was stored
    assert run(args, "ingest.after-write#2=kill").returncode == -signal.SIGKILL
    assert sorted(snapshot(db)["status"].values()) == ["duplicate", "ok", "ok", "pending"]

    # 4. killed by timing while a worker extracts the last model; the worker dies with it
    proc = subprocess.Popen([sys.executable, "-c", CLI, *args], env=cli_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    deadline = time.monotonic() + 600
    for line in proc.stderr:  # type: ignore[union-attr]
        if ": extracting" in line:
            workers = children_of(proc.pid)
            proc.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and workers
    time.sleep(2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()], "orphaned worker"
    assert sorted(snapshot(db)["status"].values()) == ["duplicate", "ok", "ok", "pending"]

    # 5. a clean re-run completes the rest; nothing twice
    done = run(args)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["ok"], report["skipped"], report["duplicate"], report["failed"]) == (1, 2, 1, 0)
    state = snapshot(db)
    assert state["status"] == {"f/base": "ok", "f/tuned": "ok", "f/twin": "duplicate", "f/tuned2": "ok"}
    assert state["declared"] == [("f/tuned", "f/base"), ("f/tuned2", "f/tuned"), ("f/twin", "f/base")]
    assert (state["models"], state["duplicates"]) == (4, 1)

    # 6. and once more: no work at all
    again = json.loads(run(args).stdout)
    assert (again["ok"], again["skipped"], again["duplicate"]) == (0, 3, 1)
    assert snapshot(db) == state
