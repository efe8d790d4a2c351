"""The real `dnakb` CLI: status output and one-line errors for bad store settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from kb.records import ModelRecord
from kb.stores import StoreConfig, open_store
from tests.conftest import REPO, neo4j_config, open_test_store


def dnakb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from ingest.cli import entrypoint; entrypoint()", *args],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})}, timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], result.stderr


def test_status_on_embedded_store(tmp_path: Path) -> None:
    db = tmp_path / "kb"
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        store.upsert_models([
            ModelRecord(id="a", dna=np.ones(128, np.float32), protocol="p1"),
            ModelRecord(id="b"),
        ])
    result = dnakb("--db", str(db), "status", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["store"] == "embedded" and data["location"] == str(db)
    assert (data["models"], data["models_with_dna"], data["protocols"]) == (2, 1, {"p1": 1})
    assert data["lineage_index"] == "stale"  # never counted
    human = dnakb("--db", str(db), "status")
    assert "store: embedded" in human.stdout and "p1" in human.stdout
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        store.refresh_lineage_index()
    assert json.loads(dnakb("--db", str(db), "status", "--json").stdout)["lineage_index"] == "current"


def test_status_on_neo4j(tmp_path: Path) -> None:
    open_test_store("neo4j", tmp_path).close()  # skips/fails like the store fixture
    config = neo4j_config()
    result = dnakb("--store", "neo4j", "status", "--json",
                   env={"NEO4J_URI": config.uri, "NEO4J_PASSWORD": config.password or ""})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["store"] == "neo4j"


def test_unwritable_db_path() -> None:
    # sysfs refuses new directories to everyone, root included (mode bits would not stop root)
    result = dnakb("--db", "/sys/dnakb-test/kb", "status")
    assert_one_line_error(result, "cannot create the store directory /sys/dnakb-test")


def test_db_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert_one_line_error(dnakb("--db", str(blocker / "kb"), "status"), "cannot create the store directory")


def test_unreachable_neo4j() -> None:
    result = dnakb("--store", "neo4j", "status",
                   env={"NEO4J_URI": "bolt://127.0.0.1:1", "NEO4J_PASSWORD": "x"})
    assert_one_line_error(result, "cannot reach Neo4j at bolt://127.0.0.1:1")


def test_wrong_neo4j_password(tmp_path: Path) -> None:
    open_test_store("neo4j", tmp_path).close()
    result = dnakb("--store", "neo4j", "status",
                   env={"NEO4J_URI": neo4j_config().uri, "NEO4J_PASSWORD": "wrong-password"})
    assert_one_line_error(result, "refused the credentials")


def test_unknown_store_kind() -> None:
    assert_one_line_error(dnakb("--store", "sqlite", "status"), "unknown store 'sqlite'")
