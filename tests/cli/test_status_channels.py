"""`dnakb status` per model: which evidence channels each model has, on both stores (a KB mixing API
models, which have no weight sketch, with local ones)."""

from __future__ import annotations

import json

import numpy as np

from kb.cli.status import channel_counts, model_channels
from kb.records import ModelRecord
from kb.stores import StoreConfig, open_store
from tests.cli.test_status_cli import dnakb

V = np.ones(128, np.float32)
MODELS = [
    ModelRecord(id="api/m", dna=V, protocol="p", backend="api", status="ok", channels={"loglik": V}),
    ModelRecord(id="local/m", dna=V, protocol="p", backend="llama-cpp", status="ok",
                channels={"loglik": V, "weights": np.ones(64, np.float32)}),
    ModelRecord(id="meta/only", status="metadata"),
]
EXPECTED = [
    {"model": "api/m", "status": "ok", "backend": "api", "channels": ["text", "loglik"]},
    {"model": "local/m", "status": "ok", "backend": "llama-cpp", "channels": ["text", "loglik", "weights"]},
    {"model": "meta/only", "status": "metadata", "backend": None, "channels": []},
]


def test_model_channels_on_both_stores(store):
    store.upsert_models(MODELS)
    assert model_channels(store) == EXPECTED
    assert channel_counts(store) == {"text": 2, "loglik": 2, "weights": 1}


def test_status_cli_lists_channels_per_model(tmp_path):
    db = tmp_path / "kb"
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        store.upsert_models(MODELS)
    data = json.loads(dnakb("--db", str(db), "status", "--json").stdout)
    assert data["model_channels"] == EXPECTED
    assert data["models_by_channel"] == {"text": 2, "loglik": 2, "weights": 1}
    human = dnakb("--db", str(db), "status").stdout
    assert "channels per model:" in human
    assert [line.split() for line in human.splitlines() if line.startswith("api/m")] == [["api/m", "ok", "api", "text,", "loglik"]]
    assert "models with weight sketch" in human
