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
