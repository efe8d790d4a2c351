"""`extract` over the optional channels: artifacts reused, and each channel failing alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.artifacts import ArtifactStore
from kb.channels import with_channels
from kb.errors import InputError
from kb.protocol import DnaProtocol
from ingest.extract import extract

OPTIONAL = ("loglik", "weights")

from .conftest import make_llama

BASE = DnaProtocol(probe_set="p" * 16, n_probes=10, max_new_tokens=8, embedder="e", embedder_dim=8)


@pytest.fixture(scope="module")
def protocol() -> DnaProtocol:
    return with_channels(BASE, n_texts=60)


def test_with_channels_changes_the_protocol_id() -> None:
    full = with_channels(BASE)
    assert full.channel("loglik").endswith(":n=1200:seed=0:dim=128")
    assert full.channel("weights") == "v1:k=16:seed=0:max_kib=64"
    reseeded = with_channels(BASE.with_channels({}), k=8)
    assert len({BASE.id, full.id, reseeded.id}) == 3
    assert with_channels(BASE, ["weights"]).channel("loglik") is None
    with pytest.raises(InputError, match="n=5000 reference texts"):
        with_channels(BASE, n_texts=5000)


def test_both_channels_then_reuse(tiny_llama: Path, tmp_path: Path, protocol: DnaProtocol) -> None:
    store = ArtifactStore(tmp_path / "art")
    first = extract(tiny_llama, protocol, channels=OPTIONAL, artifacts=store, n_threads=1)
    assert first.skipped() == {}
    loglik, sketch = first.produced["loglik"], first.produced["weights"]
    assert loglik.vector.shape == (128,) and loglik.arrays["loglik_raw"].shape == (60,)
    assert np.all(loglik.arrays["loglik_raw"] < 0)
    record = first.record_fields()
    assert sketch.vector.nbytes <= 64 * 1024 and record["precision"] == "f32" and len(record["signature"]) == 16
    directory = store.path_for(first.fingerprint, protocol.id)
    assert {"loglik.npy", "loglik_raw.npy", "loglik.json", "sketch.npy", "sketch.json"} <= {p.name for p in directory.iterdir()}
    again = extract(tiny_llama, protocol, channels=OPTIONAL, artifacts=store)
    assert again.reused and again.record_fields() == record
    assert all(np.array_equal(again.vectors()[k], first.vectors()[k]) for k in OPTIONAL)
    redo = extract(tiny_llama, protocol, channels=("weights",), artifacts=store, force=True)
    assert not redo.reused and np.array_equal(redo.vectors()["weights"], sketch.vector)


def test_loglik_fails_alone(tmp_path: Path, protocol: DnaProtocol) -> None:
    """A checkpoint without a tokenizer cannot be run: no profile, but a sketch."""
    model = make_llama(tmp_path / "notok", seed=3)
    result = extract(model, protocol, channels=OPTIONAL, artifacts=tmp_path / "art")
    assert set(result.vectors()) == {"weights"}
    assert result.skipped()["loglik"].startswith("cannot load the tokenizer of")


def test_sketch_fails_alone(tmp_path: Path, protocol: DnaProtocol) -> None:
    import gguf

    path = tmp_path / "q81.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((8, 2 * 40), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_1)
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    result = extract(path, protocol, channels=("weights",), artifacts=tmp_path / "art")
    assert result.vectors() == {} and result.record_fields()["signature"]
    assert "Q8_1, which the gguf reader cannot dequantise" in result.skipped()["weights"]
    again = extract(path, protocol, channels=("weights",), artifacts=tmp_path / "art")
    assert again.reused and again.skipped() == result.skipped()


def test_protocol_without_channels(tiny_llama: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not make channel 'weights'"):
        extract(tiny_llama, BASE, channels=("weights",), artifacts=tmp_path / "art")
    with pytest.raises(InputError, match="unknown channel 'dna'"):
        extract(tiny_llama, BASE, channels=("dna",), artifacts=tmp_path / "art")
