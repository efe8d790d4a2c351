"""Fixtures for the query templates: the small lineage graph of `graph.py` loaded into a store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kb.stores import GraphStore
from tests.queries import graph


@pytest.fixture
def kb(store: GraphStore) -> Iterator[GraphStore]:
    """The test graph in one store (parametrized over both stores by the root `store` fixture)."""
    yield graph.load(store)
