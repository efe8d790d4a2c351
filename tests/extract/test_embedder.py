"""The packaged MiniLM embedder: offline, batched, unit rows, empty responses as zero rows."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ingest.embedder import DEFAULT_EMBEDDER_NAME, Embedder, default_embedder_path, embedder_info
from kb.errors import InputError


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_default_info_without_loading():
    info = embedder_info()
    assert info.dim == 384 and info.id.startswith(DEFAULT_EMBEDDER_NAME + "-") and info.id == embedder_info().id


def test_embed_unit_rows_and_zero_rows(embedder):
    texts = ["The cat sat on the mat.", "", "   ", "A cat was sitting on a mat.", "Stock prices fell sharply."]
    vectors, n_empty = embedder.embed(texts)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32 and n_empty == 2
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 3, 4]], axis=1), 1.0, atol=1e-5)
    assert not vectors[1].any() and not vectors[2].any()
    assert vectors[0] @ vectors[3] > vectors[0] @ vectors[4] + 0.2  # paraphrase nearer than an unrelated line


def test_batched_equals_single(embedder):
    texts = ["one two three", "a much longer sentence about rivers, lanterns and gardens at night", "x"]
    together, _ = embedder.embed(texts)
    apart = np.vstack([embedder.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, apart, atol=1e-5)


def test_other_local_folder_has_its_own_id(tmp_path):
    copy = tmp_path / "my-embedder"
    shutil.copytree(default_embedder_path(), copy)
    same = embedder_info(copy)
    assert same.id.startswith("my-embedder-") and same.dim == 384
    assert same.id.split("-")[-1] == embedder_info().id.split("-")[-1]  # same content, same hash
    config = json.loads((copy / "1_Pooling" / "config.json").read_text())
    config["pooling_mode_cls_token"], config["pooling_mode_mean_tokens"] = True, False
    (copy / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert embedder_info(copy).id != same.id  # another pooling is another embedder


def test_bad_embedder_paths(tmp_path):
    with pytest.raises(InputError, match="no embedder folder"):
        embedder_info(tmp_path / "missing")
    with pytest.raises(InputError, match="not a sentence-transformers model"):
        embedder_info(tmp_path)


TEXTS = ["The cat sat on the mat.", "  padded  ", "Ünïcödé — 東京 🚀", "word " * 400,  # past 256 tokens
         "a much longer sentence about rivers, lanterns and gardens at night", "x"]


def test_mean_pooling_models_skip_sentence_transformers_and_agree_with_it(embedder):
    from sentence_transformers import SentenceTransformer

    from ingest.embedder import _MeanPoolingEncoder, _load

    assert isinstance(_load(embedder.info.path, "cpu"), _MeanPoolingEncoder)
    ours, _ = embedder.embed(TEXTS)
    reference = SentenceTransformer(str(embedder.info.path), device="cpu", local_files_only=True).encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, reference, atol=2e-6)


def test_other_pooling_goes_through_sentence_transformers(tmp_path):
    from ingest.embedder import _SentenceTransformerEncoder, _load

    copy = tmp_path / "cls-embedder"
    shutil.copytree(default_embedder_path(), copy)
    config = json.loads((copy / "1_Pooling" / "config.json").read_text())
    config["pooling_mode_cls_token"], config["pooling_mode_mean_tokens"] = True, False
    (copy / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert isinstance(_load(copy, "cpu"), _SentenceTransformerEncoder)
    vectors, _ = Embedder(copy, device="cpu").embed(TEXTS[:2])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
