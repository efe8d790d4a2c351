"""Shared fixtures of the lineage tests: small synthetic lineages and a real embedded store."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def store(tmp_path):
    from kb.stores import StoreConfig, open_store

    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as s:
        yield s
