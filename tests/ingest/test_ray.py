"""`ingest(..., ray_address="local")`: the same jobs as Ray tasks on a private local Ray instance."""

from __future__ import annotations

import pytest

from ingest.api import ingest
from tests.ingest.models import protocol, write_manifest


@pytest.mark.slow
def test_ray_local_ingest_with_a_crashing_task(ingest_zoo, store, tmp_path, monkeypatch, artifacts):
    manifest = write_manifest(tmp_path, [
        {"id": "r/a", "path": str(ingest_zoo / "base")},
        {"id": "r/b", "path": str(ingest_zoo / "tuned"), "parents": "r/a"},
        {"id": "r/c", "path": str(ingest_zoo / "tuned2"), "parents": "r/a"},
    ])
    monkeypatch.setenv("DNAKB_FAULT", "worker@r/c=segv")  # that Ray worker dies with SIGSEGV
    stages: list[str] = []
    report = ingest(manifest, store, ray_address="local", protocol=protocol(), artifacts=artifacts,
                    progress=stages.append)
    status = {o.id: o for o in report.outcomes}
    assert (status["r/a"].status, status["r/b"].status, status["r/c"].status) == ("ok", "ok", "failed")
    assert "crashed" in status["r/c"].reason
    assert any("extracting on Ray at local" in s for s in stages)
    nodes = {m.id: m for m in store.get_models()}
    assert nodes["r/a"].dna is not None and len(nodes["r/a"].dna) == 128 and nodes["r/c"].status == "failed"
    assert store.stats().declared_edges == 2

    monkeypatch.delenv("DNAKB_FAULT")
    again = ingest(manifest, store, ray_address="local", artifacts=artifacts)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped", "ok"]
