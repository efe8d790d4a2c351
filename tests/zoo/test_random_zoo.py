"""A built tiny random zoo (seed 3, 8 models; built once per code version, then cached): its
manifest is valid and its truth is the plan's, its GGUF copies (llama.cpp's converter, and
quantized from a float GGUF) agree with their source by weight sketch; CLI errors are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.zoo.build import MANIFEST, RELATION
from ingest.zoo.manifest import load_zoo_manifest
from ingest.zoo.random_plan import random_plan
from tests.cli.test_status_cli import assert_one_line_error, dnakb

SEED, N = 3, 8  # GPT-2 copies by llama.cpp's converter, one quantized to q4_k_m, a GPT-2 -> GPT-NeoX distillation
LIMIT = {"f32": 1e-5, "f16": 1e-3, "q8_0": 2e-2, "q5_0": 0.1, "q4_0": 0.2, "q4_k_m": 0.2}


@pytest.fixture(scope="module")
def zoo() -> Path:
    from ingest.zoo.build import build_zoo
    from ingest.zoo.cache import cached_build

    return cached_build("random-zoo", {"seed": SEED, "models": N},
                        lambda tmp: build_zoo(tmp, random_seed=SEED, n_models=N)) / MANIFEST


@pytest.mark.slow
def test_manifest_truth_is_the_plan(zoo: Path) -> None:
    plan = random_plan(SEED, N)
    entries = {e.id: e for e in load_zoo_manifest(zoo)}
    assert list(entries) == [s.id for s in plan.steps]
    for s in plan.steps:
        e = entries[s.id]
        assert [(p.id, p.relation) for p in e.parents] == [(f"zoo/{p}", RELATION[s.op]) for p in s.parents]
        assert e.tags == s.tags and e.released == plan.released[s.name]
        assert e.file.exists() and e.backend == ("llama-cpp" if s.op in ("gguf", "quantize") else "transformers")
    arch = {e.id: e.architecture for e in entries.values()}
    assert arch["zoo/b06-distill-gptneox"] == "GPTNeoXForCausalLM" and arch["zoo/a01-base-gpt2"] == "GPT2LMHeadModel"
    assert "cross-arch-distill" in entries["zoo/b06-distill-gptneox"].tags


@pytest.mark.slow
def test_gguf_copies_agree_with_their_source(zoo: Path) -> None:
    from ingest.weights import weight_sketch

    entries = {e.id: e for e in load_zoo_manifest(zoo)}
    copies = [e for e in entries.values() if e.backend == "llama-cpp"]
    assert len(copies) == 4 and all("converter:llama.cpp" in e.tags for e in copies)
    for e in copies:
        source = e
        while source.backend == "llama-cpp":  # up the quantized edges to the HF folder
            source = entries[source.parents[0].id]
        hf, gg = weight_sketch(source.file), weight_sketch(e.file)
        assert hf.mapping == gg.mapping == "verified"
        assert gg.signature == hf.signature, e.id
        qtype = e.path.removesuffix(".gguf").rsplit("-", 1)[-1]
        rel = float(np.linalg.norm(hf.vector - gg.vector) / np.linalg.norm(hf.vector))
        assert rel < LIMIT[qtype], (e.id, rel)


@pytest.mark.slow
def test_gguf_copies_load_in_llama_cpp(zoo: Path) -> None:
    """llama.cpp checks every tensor's shape against its own hyperparameters on load (it refused
    GPT-2 copies whose FFN was not 4 x hidden before the plan fixed that)."""
    import llama_cpp

    for e in load_zoo_manifest(zoo):
        if e.backend == "llama-cpp":
            model = llama_cpp.Llama(str(e.file), n_ctx=64, verbose=False)
            assert model.n_vocab() > 256
            del model


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(dnakb("zoo", "build", str(tmp_path), "--small", "--random", "1"),
                          "choose one zoo: --small or --random SEED")
    assert_one_line_error(dnakb("zoo", "build", str(tmp_path), "--models", "12"),
                          "--models sizes a random zoo: give --random SEED too")
    assert_one_line_error(dnakb("zoo", "build", str(tmp_path), "--random", "0", "--models", "3"),
                          "a random zoo needs at least 8 models (got 3)")
