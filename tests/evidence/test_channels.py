"""extract_channels: both channels with artifact reuse, and each channel failing alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.errors import InputError
from kb.protocol import DnaProtocol
from kb.records import ModelRecord
from ingest.artifacts import ArtifactStore
from ingest.channels import extract_channels, with_channels

from .conftest import make_llama

BASE = DnaProtocol(probe_set="p" * 16, n_probes=10, max_new_tokens=8, embedder="e", embedder_dim=8)


@pytest.fixture(scope="module")
def protocol() -> DnaProtocol:
    return with_channels(BASE, n_texts=60)


def test_with_channels_changes_the_protocol_id() -> None:
    full = with_channels(BASE)
    assert full.loglik_set.endswith(":n=1200:seed=0:dim=128")
    assert full.sketch == "v1:k=16:seed=0:max_kib=64"
    assert len({BASE.id, full.id, with_channels(BASE, seed=1).id, with_channels(BASE, k=8).id}) == 4
    assert with_channels(BASE, loglik=False).loglik_set is None
    with pytest.raises(InputError, match="n=5000 reference texts"):
        with_channels(BASE, n_texts=5000)


def test_both_channels_then_reuse(tiny_llama: Path, tmp_path: Path, protocol: DnaProtocol) -> None:
    store = ArtifactStore(tmp_path / "art")
    first = extract_channels(tiny_llama, protocol, store, n_threads=1)
    assert first.skipped == {}
    assert first.loglik.shape == (128,) and first.loglik_raw.shape == (60,)
    assert np.all(first.loglik_raw < 0)
    assert first.sketch.nbytes <= 64 * 1024 and first.precision == "f32" and len(first.signature) == 16
    directory = store.path_for(first.fingerprint, protocol.id)
    assert {"loglik.npy", "loglik_raw.npy", "loglik.json", "sketch.npy", "sketch.json"} <= {p.name for p in directory.iterdir()}
    again = extract_channels(tiny_llama, protocol, store)
    assert again.reused == {"loglik": True, "sketch": True}
    assert np.array_equal(again.loglik, first.loglik) and np.array_equal(again.sketch, first.sketch)
    redo = extract_channels(tiny_llama, protocol, store, channels=("sketch",), force=True)
    assert redo.reused == {"sketch": False} and np.array_equal(redo.sketch, first.sketch)
    record = again.apply(ModelRecord(id="tiny"))
    assert record.signature == first.signature and len(record.loglik) == 128 and record.precision == "f32"


def test_loglik_fails_alone(tmp_path: Path, protocol: DnaProtocol) -> None:
    """A checkpoint without a tokenizer cannot be run: no profile, but a sketch."""
    model = make_llama(tmp_path / "notok", seed=3)
    result = extract_channels(model, protocol, tmp_path / "art")
    assert result.loglik is None and result.sketch is not None
    assert result.skipped["loglik"].startswith("cannot load the tokenizer of")


def test_sketch_fails_alone(tmp_path: Path, protocol: DnaProtocol) -> None:
    import gguf

    path = tmp_path / "q81.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((8, 2 * 40), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_1)
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    result = extract_channels(path, protocol, tmp_path / "art", channels=("sketch",))
    assert result.sketch is None and result.signature is not None
    assert "Q8_1, which the gguf reader cannot dequantise" in result.skipped["sketch"]
    again = extract_channels(path, protocol, tmp_path / "art", channels=("sketch",))
    assert again.reused["sketch"] and again.skipped == result.skipped


def test_protocol_without_channels(tiny_llama: Path, tmp_path: Path) -> None:
    result = extract_channels(tiny_llama, BASE, tmp_path / "art")
    assert result.loglik is None and result.sketch is None
    assert set(result.skipped) == {"loglik", "sketch"}
    with pytest.raises(InputError, match="unknown channel"):
        extract_channels(tiny_llama, BASE, tmp_path / "art", channels=("dna",))
