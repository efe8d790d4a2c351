"""Neo4j restarted in the middle of an ingest: the writes wait and retry, the run completes.

Runs its own Neo4j (scripts/neo4j-local) on port 7697 so that it can stop and start it without
disturbing a shared test server. Needs Java 17+ and Maven (the jars are fetched once, cached).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ingest.api import ingest
from kb.stores import StoreConfig, open_store
from tests.ingest.models import protocol, write_manifest

pytestmark = pytest.mark.neo4j
REPO = Path(__file__).resolve().parents[2]
PORT, PASSWORD = "7697", "dnakb-ingest-pw"


def server(command: str) -> None:
    env = {**os.environ, "NEO4J_PORT": PORT, "NEO4J_PASSWORD": PASSWORD, "NEO4J_HEAP": "512m"}
    done = subprocess.run([str(REPO / "scripts" / "neo4j-local"), command], env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def neo4j_uri():
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed: cannot run a local Neo4j"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server("start")
    yield f"bolt://127.0.0.1:{PORT}"
    server("stop")


def test_neo4j_restart_during_ingest(neo4j_uri, ingest_zoo, tmp_path, artifacts):
    manifest = write_manifest(tmp_path, [
        {"id": "n/a", "path": str(ingest_zoo / "base")},
        {"id": "n/b", "path": str(ingest_zoo / "tuned"), "parents": "n/a"},
    ])
    config = StoreConfig(kind="neo4j", uri=neo4j_uri, user="neo4j", password=PASSWORD)
    messages: list[str] = []
    restarted = threading.Event()
    starter: list[threading.Thread] = []

    def progress(message: str) -> None:
        messages.append(message)
        if ": extracting" in message and not restarted.is_set():
            restarted.set()
            server("stop")  # down while the first model is being extracted

            def start_later() -> None:
                time.sleep(2)
                server("start")

            starter.append(threading.Thread(target=start_later))
            starter[0].start()

    with open_store(config) as store:
        store.clear()
        report = ingest(manifest, store, protocol=protocol(), artifacts=artifacts, progress=progress)
        starter[0].join()
        assert restarted.is_set()
        assert [o.status for o in report.outcomes] == ["ok", "ok"], report.rows()
        stats = store.stats()
        assert (stats.models, stats.models_with_dna, stats.declared_edges) == (2, 2, 1)
        again = ingest(manifest, store, artifacts=artifacts)
        assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
        store.clear()
