"""Ingest of the small zoo (every relation, HF and GGUF models) and an idempotent re-run."""

from __future__ import annotations

import pytest

from ingest.api import ingest
from ingest.manifest import parse_manifest
from tests.ingest.models import protocol


@pytest.mark.slow
def test_small_zoo_ingest_and_rerun(small_zoo, store, artifacts):
    entries = parse_manifest(small_zoo)
    report = ingest(small_zoo, store, workers=2, protocol=protocol(), artifacts=artifacts)
    assert [o.status for o in report.outcomes] == ["ok"] * len(entries), report.rows()
    stats = store.stats()
    declared = sum(len(e.parents) for e in entries)
    assert (stats.models, stats.models_with_dna, stats.declared_edges) == (len(entries), len(entries), declared)
    backends = {m.id: m.backend for m in store.get_models()}
    assert {e.id: e.backend for e in entries} == backends
    made_by = {m.id: m.made_by for m in store.get_models()}  # our converter's f16, the quantize tool's q4_0
    assert (made_by["zoo/llama-s"], made_by["zoo/llama-s-f16"], made_by["zoo/llama-s-q4_0"]) == (
        None, "convert", "quantize")
    digest = {m.id: m.metadata_digest for m in store.get_models()}  # the q4_0 carries its f16's metadata
    assert digest["zoo/llama-s"] is None and digest["zoo/llama-s-q4_0"] == digest["zoo/llama-s-f16"] is not None

    again = ingest(small_zoo, store, workers=2, artifacts=artifacts)
    assert [o.status for o in again.outcomes] == ["skipped"] * len(entries)
    assert store.stats() == stats


@pytest.mark.slow
def test_a_reused_weight_sketch_gets_the_file_facts_its_artifact_predates(small_zoo, tmp_path):
    """An artifact made before the file facts were recorded (made_by, metadata_digest) is reused, not
    sketched again, and the facts are read from the file's header and written back to it."""
    import json

    from kb.stores import StoreConfig, open_store

    artifacts = tmp_path / "artifacts"  # its own: the test rewrites them as an older release wrote them

    with open_store(StoreConfig(kind="embedded", db=tmp_path / "first")) as first:
        ingest(small_zoo, first, workers=1, protocol=protocol(), artifacts=artifacts)
        want = {m.id: (m.made_by, m.metadata_digest) for m in first.get_models()}
    sketches = list(artifacts.rglob("sketch.json"))
    assert sketches
    made_at = {p: p.with_suffix(".npy").stat().st_mtime_ns for p in sketches if p.with_suffix(".npy").exists()}
    for path in sketches:  # as an older release wrote them
        detail = json.loads(path.read_text())
        for key in ("made_by", "metadata_digest"):
            detail.get("record", {}).pop(key, None)
        path.write_text(json.dumps(detail))
    with open_store(StoreConfig(kind="embedded", db=tmp_path / "second")) as second:
        ingest(small_zoo, second, workers=1, protocol=protocol(), artifacts=artifacts)
        assert {m.id: (m.made_by, m.metadata_digest) for m in second.get_models()} == want
    assert want["zoo/llama-s-q4_0"][1] is not None
    assert {p: p.with_suffix(".npy").stat().st_mtime_ns for p in made_at} == made_at  # not sketched again
    assert all("metadata_digest" in json.loads(p.read_text())["record"] for p in made_at)
