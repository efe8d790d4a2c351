"""Artifact store: layout, atomic files, DONE marker, generic arrays; weights fingerprint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kb.artifacts import ArtifactStore, default_root, load_array, save_array
from ingest.fingerprint import fingerprint
from kb.errors import InputError, NotFoundError
from kb.protocol import DnaProtocol

FP = "ab" * 32


def proto(n=3) -> DnaProtocol:
    return DnaProtocol(probe_set="p" * 16, n_probes=n, max_new_tokens=8, embedder="e", embedder_dim=4, dim=8)


def write(store: ArtifactStore, p: DnaProtocol):
    art = store.artifact(FP, p.id)
    art.write_dna(protocol=p, prompts=["a", "b\nc", "d"], responses=["x", "", "ü"], embeddings=np.eye(3, 4),
                  dna=np.arange(8), meta={"timings": {"generate": 1.0}, "n_empty": 1})
    return art


def test_round_trip_and_layout(tmp_path):
    store, p = ArtifactStore(tmp_path), proto()
    assert not store.is_complete(FP, p.id)
    art = write(store, p)
    assert store.is_complete(FP, p.id) and art.directory == tmp_path / FP / p.id
    names = sorted(f.name for f in art.directory.iterdir())
    assert names == ["DONE", "dna.npy", "embeddings.npy", "meta.json", "protocol.json", "responses.jsonl"]
    lines = [json.loads(line) for line in (art.directory / "responses.jsonl").read_text().splitlines()]
    assert lines[1] == {"probe": 1, "prompt": "b\nc", "response": ""}
    stored = art.read_dna()
    assert stored.protocol == p and stored.responses == ["x", "", "ü"] and stored.dna.dtype == np.float32
    assert stored.meta["fingerprint"] == FP and stored.meta["n_empty"] == 1
    assert [a.directory for a in store.entries()] == [art.directory]


def test_unfinished_artifact_is_not_read(tmp_path):
    store, p = ArtifactStore(tmp_path), proto()
    art = write(store, p)
    art.invalidate()  # what a killed redo leaves: files but no marker
    assert not art.complete and list(store.entries()) == []
    with pytest.raises(NotFoundError, match="extract it first"):
        art.read_dna()


def test_no_temp_files_left_and_counts_checked(tmp_path):
    store, p = ArtifactStore(tmp_path), proto()
    art = store.artifact(FP, p.id)
    with pytest.raises(InputError, match="counts disagree"):
        art.write_dna(protocol=p, prompts=["a"], responses=["x"], embeddings=np.eye(1, 4), dna=np.zeros(8), meta={})
    assert not art.complete
    write(store, p)
    assert not [f for f in art.directory.iterdir() if f.name.endswith(".tmp")]


def test_generic_arrays_for_other_channels(tmp_path):
    store, p = ArtifactStore(tmp_path), proto()
    d = store.path_for(FP, p.id)
    save_array(d, "loglik", np.array([1.5, 2.5]))
    np.testing.assert_array_equal(load_array(d, "loglik"), [1.5, 2.5])
    assert store.artifact(FP, p.id).load_array("sketch") is None
    store.save_array(FP, p.id, "sketch", np.ones(3))
    assert store.load_array(FP, p.id, "sketch").sum() == 3
    assert not store.is_complete(FP, p.id)  # other channels do not mark the DNA done
    with pytest.raises(InputError, match="bad artifact file name"):
        save_array(d, "../evil", np.ones(1))
    with pytest.raises(InputError, match="bad fingerprint"):
        store.path_for("../x", p.id)


def test_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DNAKB_ARTIFACTS", str(tmp_path / "arts"))
    assert default_root() == tmp_path / "arts" and ArtifactStore().root == tmp_path / "arts"


def test_fingerprint(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "config.json").write_text("{}")
    (a / "model.safetensors").write_bytes(b"weights" * 100)
    b = tmp_path / "b"
    b.mkdir()
    (b / "config.json").write_text('{"other": "config"}')
    (b / "model.safetensors").write_bytes(b"weights" * 100)
    assert fingerprint(a) == fingerprint(b) and len(fingerprint(a)) == 64  # same weights, other names
    (b / "model.safetensors").write_bytes(b"weights" * 99 + b"weightz")
    assert fingerprint(a) != fingerprint(b)
    g = tmp_path / "m.gguf"
    g.write_bytes(b"GGUF....")
    assert fingerprint(g) != fingerprint(a)
    with pytest.raises(InputError, match="no model at"):
        fingerprint(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no weight files"):
        fingerprint(tmp_path / "empty")
