"""Fixtures for the ingest tests: a fresh embedded store, and the shared real-lineage data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb.stores import StoreConfig, open_store

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def store(tmp_path):
    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as opened:
        yield opened


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`<repo>/../shared/data`; absent -> skip, except under CI=true where it is a failure."""
    if not (SHARED_DATA / "hf-model-trees").is_dir():
        reason = f"shared lineage data not found at {SHARED_DATA} (expected beside the clone)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SHARED_DATA


@pytest.fixture(scope="session")
def ingest_zoo(tiny_llama, tmp_path_factory) -> Path:
    """Model folders from the tiny Llama: base, twin (byte copy), tuned / tuned2 / tuned3 (noisy copies)."""
    from tests.ingest.models import variant

    root = tmp_path_factory.mktemp("ingest-zoo")
    variant(tiny_llama, root / "base", None)
    variant(tiny_llama, root / "twin", None)
    for seed, name in enumerate(("tuned", "tuned2", "tuned3"), 1):
        variant(tiny_llama, root / name, seed)
    return root


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """One artifact store for the session: a model extracted once is reused by later tests (speed only)."""
    return tmp_path_factory.mktemp("artifacts")
