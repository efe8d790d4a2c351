"""transformers path on the real tiny Llama: determinism, batching, reuse, empty responses, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kb.artifacts import ArtifactStore
from ingest.backends import choose_backend, load_backend
from ingest.backends.hf import HFBackend
from ingest.cli import main
from ingest.extract import EmptyResponsesWarning, extract_dna
from kb.errors import InputError

@pytest.fixture(scope="module")
def hf(tiny_llama):
    with load_backend(tiny_llama, n_threads=1) as backend:
        yield backend


def test_backend_chosen_from_folder(tiny_llama):
    assert choose_backend(tiny_llama) == "transformers" == choose_backend(tiny_llama, "hf")
    with pytest.raises(InputError, match="no .gguf file"):
        choose_backend(tiny_llama, "llama-cpp")
    with pytest.raises(InputError, match="unknown backend 'vllm'"):
        choose_backend(tiny_llama, "vllm")


def test_batched_equals_one_at_a_time(hf, probe_prompts):
    hf.batch_size = 7  # batches of mixed lengths, left-padded
    batched = hf.generate(probe_prompts, 16)
    hf.batch_size = 1
    single = hf.generate(probe_prompts, 16)
    hf.batch_size = None
    assert batched == single
    assert sum(bool(r.strip()) for r in batched) >= len(batched) // 2  # the model does answer
    hf.generate(probe_prompts[:3], 2)  # the auto batch on the CPU is larger than three prompts
    assert hf.last_batch_size == 3


def test_responses_exclude_prompt_and_respect_budget(hf, probe_prompts):
    before = hf.tokens_generated
    responses = hf.generate(probe_prompts[:6], 5)
    assert hf.tokens_generated - before <= 6 * 5
    for prompt, response in zip(probe_prompts, responses):
        assert not response.startswith(prompt)
        assert len(hf.tokenizer(response, add_special_tokens=False)["input_ids"]) <= 6


def test_score_is_a_log_likelihood(hf):
    texts = ["The quiet horse sleeps in the field.", "field the in sleeps horse quiet The.", ""]
    (good, n_good), (bad, n_bad), (empty, n_empty) = hf.score(texts)
    assert n_good == n_bad == 36 and (empty, n_empty) == (0.0, 0)
    assert good < 0 and bad < good  # shuffled words are less likely


class _OOMOnBigBatches(HFBackend):
    """Raises CUDA's out-of-memory error for batches above 4 rows, to exercise the halving retry."""

    def _generate_batch(self, batch_ids, gen_config):
        if len(batch_ids) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super()._generate_batch(batch_ids, gen_config)


def test_out_of_memory_halves_the_batch(tiny_llama, probe_prompts, hf, monkeypatch):
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    backend = _OOMOnBigBatches(tiny_llama, batch_size=16, n_threads=1)
    messages = []
    assert backend.generate(probe_prompts[:10], 8, progress=messages.append) == hf.generate(probe_prompts[:10], 8)
    assert backend.last_batch_size == 4 and "batch size now 8" in " ".join(messages)


class _OOMOnBigScoreBatches(HFBackend):
    def _score_batch(self, batch_ids):
        if len(batch_ids) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super()._score_batch(batch_ids)


def test_out_of_memory_halves_the_scoring_batch(tiny_llama, probe_prompts, hf, monkeypatch):
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    backend = _OOMOnBigScoreBatches(tiny_llama, n_threads=1)
    texts = probe_prompts[:7] + ["x"]  # one text too short to score
    halved, single = backend.score(texts, batch_size=8), hf.score(texts, batch_size=1)
    assert [n for _, n in halved] == [n for _, n in single]
    assert [lp for lp, _ in halved] == pytest.approx([lp for lp, _ in single], abs=1e-3)


def test_same_model_twice_identical_dna_and_reuse(model_copy, small_protocol, tmp_path):
    first = extract_dna(model_copy, small_protocol, artifacts=tmp_path / "a1", n_threads=1)
    second = extract_dna(model_copy, small_protocol, artifacts=tmp_path / "a2", n_threads=1)
    assert not first.reused and not second.reused
    assert np.array_equal(first.dna, second.dna) and first.responses == second.responses
    assert first.dna.dtype == np.float32 and first.dna.shape == (128,)
    assert first.fingerprint == second.fingerprint and "generate" in first.timings

    # Break the model's config: loading it would now fail, so a reuse proves nothing was generated.
    (model_copy / "config.json").write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_backend(model_copy)
    again = extract_dna(model_copy, small_protocol, artifacts=tmp_path / "a1")
    assert again.reused and "generate" not in again.timings and "load" not in again.timings
    assert np.array_equal(again.dna, first.dna) and again.responses == first.responses
    assert again.meta["tokens_generated"] == first.meta["tokens_generated"]
    with pytest.raises(InputError, match="not valid JSON"):  # --force redoes, and so must load the model
        extract_dna(model_copy, small_protocol, artifacts=tmp_path / "a1", force=True)
    # a failed redo leaves the finished artifact as it was
    assert ArtifactStore(tmp_path / "a1").artifact(first.fingerprint, small_protocol.id).read_dna().responses == first.responses


def _make_eos_only(folder):
    """Edit the tiny Llama so that EOS always wins: a huge constant residual channel feeds EOS's logit."""
    from safetensors.numpy import load_file, save_file

    config = json.loads((folder / "config.json").read_text())
    weights = load_file(folder / "model.safetensors")
    eos = config["eos_token_id"]
    weights["model.embed_tokens.weight"][:, 0] += 1000.0  # residual x_0 ≈ 1000 at every position
    weights["model.norm.weight"][0] = 1.0
    head = weights["lm_head.weight"]
    head[:, 0] = 0.0
    head[eos, 0] = 50.0  # logit_eos ≈ 50 · x_0/rms(x) ≈ 50 · 8, far above every other logit
    save_file(weights, folder / "model.safetensors")


def test_model_that_only_emits_eos(model_copy, small_protocol, tmp_path):
    _make_eos_only(model_copy)
    with pytest.warns(EmptyResponsesWarning, match=f"{small_protocol.n_probes} of {small_protocol.n_probes} responses"):
        result = extract_dna(model_copy, small_protocol, artifacts=tmp_path, n_threads=1)
    assert result.n_empty == small_protocol.n_probes and set(result.responses) == {""}
    assert not result.embeddings.any() and result.dna.shape == (128,) and np.isfinite(result.dna).all()
    assert ArtifactStore(tmp_path).is_complete(result.fingerprint, small_protocol.id)


def test_bad_inputs_leave_no_artifact(tmp_path, model_copy, small_protocol):
    arts = tmp_path / "arts"
    cases = []
    cases.append((tmp_path / "missing", "no model at"))
    empty = tmp_path / "no-weights"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model_type": "llama"}))
    cases.append((empty, "no weight files"))
    config = json.loads((model_copy / "config.json").read_text())
    config["model_type"] = "quantumformer"
    (model_copy / "config.json").write_text(json.dumps(config))
    cases.append((model_copy, "unknown architecture 'quantumformer'"))
    not_model = tmp_path / "notes.txt"
    not_model.write_text("hello")
    cases.append((not_model, "not a .gguf"))
    for path, message in cases:
        with pytest.raises(InputError, match=message):
            extract_dna(path, small_protocol, artifacts=arts)
    assert not arts.exists() or not any(arts.rglob("DONE"))


def test_cli_extract_and_errors(model_copy, tmp_path, capsys):
    code = main(["extract", str(model_copy), "--probes", "8", "--max-new-tokens", "8", "--threads", "1",
                 "--artifacts", str(tmp_path), "--json", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["n_probes"] == 8 and len(data["dna"]) == 128 and data["reused"] is False
    assert main(["extract", str(model_copy), "--probes", "8", "--max-new-tokens", "8", "--artifacts", str(tmp_path),
                 "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is True
    assert main(["extract", str(tmp_path / "nope"), "--artifacts", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: no model at") and "Traceback" not in err and err.count("\n") == 1
