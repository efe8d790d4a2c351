"""Shared fixtures: one `store` fixture parametrized over BOTH graph stores.

The Neo4j store is the server that `scripts/test` starts (scripts/neo4j-local) and describes
in NEO4J_URI / NEO4J_PASSWORD. Without it the Neo4j half of each test skips locally; under
CI=true a missing server fails the test instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb.errors import StoreError
from kb.stores import GraphStore, StoreConfig, open_store

pytest_plugins = ["tests.zoo_fixtures"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"


def neo4j_config() -> StoreConfig:
    return StoreConfig(
        kind="neo4j",
        uri=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
        user=os.environ.get("NEO4J_USER", "neo4j"),
        password=os.environ.get("NEO4J_PASSWORD", "dnakb-test-pw"),
    )


def open_test_store(kind: str, tmp_path: Path) -> GraphStore:
    """An empty store of `kind`; skips (or fails under CI) when Neo4j is not running."""
    if kind == "embedded":
        return open_store(StoreConfig(kind="embedded", db=tmp_path / "kb"))
    try:
        store = open_store(neo4j_config())
    except StoreError as error:
        if IN_CI:
            pytest.fail(f"Neo4j is required under CI=true: {error}")
        pytest.skip(f"no Neo4j server: {error} (run scripts/neo4j-local start)")
    store.clear()
    return store


@pytest.fixture(params=["embedded", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store, once per store kind."""
    kb = open_test_store(request.param, tmp_path)
    yield kb
    kb.close()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repo; absent -> skip, except under CI where it is a failure."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"shared data folder missing: {SHARED_DATA}")
        pytest.skip(f"shared data folder missing: {SHARED_DATA}")
    return SHARED_DATA
