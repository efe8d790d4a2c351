"""llama-cpp path: agreement with transformers on the same weights, GGUF errors, real packaged models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kb.artifacts import ArtifactStore
from ingest.backends import choose_backend, load_backend
from ingest.extract import default_protocol, extract_dna
from ingest.packaged import gemma3_gguf, smollm2_gguf
from kb.dna import cosine_similarity
from kb.errors import InputError


@pytest.fixture(scope="module")
def cross_protocol():
    return default_protocol(48, 16)


@pytest.fixture(scope="module")
def hf_result(tiny_llama_128, cross_protocol, tmp_path_factory):
    return extract_dna(tiny_llama_128["hf"], cross_protocol, artifacts=tmp_path_factory.mktemp("arts"), n_threads=1)


@pytest.mark.parametrize("kind,threshold", [("f16", 0.99), ("q8_0", 0.98)])
def test_same_weights_through_gguf_land_at_the_same_dna(kind, threshold, hf_result, tiny_llama_128, cross_protocol,
                                                         tmp_path):
    assert choose_backend(tiny_llama_128[kind]) == "llama-cpp"
    gg = extract_dna(tiny_llama_128[kind], cross_protocol, artifacts=tmp_path, n_threads=1)
    assert gg.backend == "llama-cpp" and gg.fingerprint != hf_result.fingerprint
    agree = np.mean([a == b for a, b in zip(hf_result.responses, gg.responses)])
    cos = cosine_similarity(hf_result.dna, gg.dna)
    print(f"{kind}: responses equal {agree:.2f}, DNA cosine {cos:.4f}")
    assert cos >= threshold
    if kind == "f16":
        assert agree >= 0.95


def test_gguf_greedy_and_scores_match_transformers(tiny_llama, tiny_llama_gguf, probe_prompts):
    texts = ["The quiet horse sleeps in the field.", "Once upon a time a small bird", "x"]
    with load_backend(tiny_llama, n_threads=1) as hf, load_backend(tiny_llama_gguf["f16"], n_threads=1) as gg:
        assert gg.name == "llama-cpp" and gg.architecture == "llama"
        assert gg.generate(probe_prompts[:8], 12) == hf.generate(probe_prompts[:8], 12)
        for (a, na), (b, nb) in zip(hf.score(texts), gg.score(texts)):
            assert na == nb and a == pytest.approx(b, rel=0.02, abs=0.05)
        assert gg.tokens_generated <= 8 * 12


def test_same_gguf_twice_identical_and_folder_with_one_gguf(tiny_llama_gguf, small_protocol, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(tiny_llama_gguf["q8_0"], folder / "model.gguf")
    assert choose_backend(folder) == "llama-cpp"
    a = extract_dna(folder, small_protocol, artifacts=tmp_path / "a", n_threads=1)
    b = extract_dna(tiny_llama_gguf["q8_0"], small_protocol, artifacts=tmp_path / "b", n_threads=1)
    assert np.array_equal(a.dna, b.dna) and a.fingerprint == b.fingerprint


def _write_gguf(path, arch: str) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(64)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_bad_gguf_files(tiny_llama_gguf, small_protocol, tmp_path):
    good = tiny_llama_gguf["f16"].read_bytes()
    cases = {}
    (tmp_path / "truncated.gguf").write_bytes(good[: len(good) * 2 // 3])
    cases["truncated.gguf"] = "truncated GGUF: tensor"
    (tmp_path / "cut-header.gguf").write_bytes(good[:200])
    cases["cut-header.gguf"] = "truncated or corrupt GGUF"
    (tmp_path / "garbage.gguf").write_bytes(b"\x00\x01" * 5000)
    cases["garbage.gguf"] = "not a GGUF file"
    _write_gguf(tmp_path / "alien.gguf", "quantumformer")
    cases["alien.gguf"] = "unknown architecture 'quantumformer'"
    arts = tmp_path / "arts"
    for name, message in cases.items():
        with pytest.raises(InputError, match=message):
            extract_dna(tmp_path / name, small_protocol, artifacts=arts)
    assert not arts.exists() or not any(arts.rglob("DONE"))
    two = tmp_path / "two"
    two.mkdir()
    for n in ("a", "b"):
        shutil.copy(tiny_llama_gguf["q8_0"], two / f"{n}.gguf")
    with pytest.raises(InputError, match="holds 2 .gguf files"):
        choose_backend(two)
    with pytest.raises(InputError, match="the transformers backend needs a model folder"):
        choose_backend(tiny_llama_gguf["f16"], "transformers")


@pytest.fixture(scope="module")
def real_protocol():
    return default_protocol(8, 16)


@pytest.fixture(scope="module")
def real_results(real_protocol, tmp_path_factory):
    arts = tmp_path_factory.mktemp("real")
    return {name: extract_dna(path, real_protocol, artifacts=arts)
            for name, path in (("smollm2", smollm2_gguf()), ("gemma3", gemma3_gguf()))}


@pytest.mark.parametrize("name,arch", [("smollm2", "llama"), ("gemma3", "gemma3")])
def test_real_packaged_models_extract(name, arch, real_results, real_protocol):
    result = real_results[name]
    assert result.backend == "llama-cpp" and result.meta["architecture"] == arch
    assert len(result.responses) == 8 and result.n_empty <= 2
    assert np.isfinite(result.dna).all() and np.linalg.norm(result.dna) > 0.1
    assert 0 < result.meta["tokens_generated"] <= 8 * 16
    print(name, result.timings, result.responses[:2])


def test_real_models_differ_and_are_reused(real_results, real_protocol):
    a, b = real_results["smollm2"], real_results["gemma3"]
    assert cosine_similarity(a.dna, b.dna) < 0.99
    root = ArtifactStore(Path(a.artifact_dir).parents[1])  # <root>/<fingerprint>/<protocol id>
    again = extract_dna(smollm2_gguf(), real_protocol, artifacts=root)
    assert again.reused and np.array_equal(again.dna, a.dna) and again.responses == a.responses
