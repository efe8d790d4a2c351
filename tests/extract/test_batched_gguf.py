"""llama-cpp batched decoding: the same responses as one prompt at a time, sized from memory, recorded in meta."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.backends import load_backend
from ingest.backends.llamacpp import LlamaCppBackend
from ingest.backends.llamacpp_batch import ModelShape, choose_n_seq, model_shape, padded_ctx
from ingest.extract import extract_dna
from ingest.packaged import smollm2_gguf
from kb.probes import load_probes
from kb.errors import InputError


@pytest.fixture(scope="module")
def prompts48() -> list[str]:
    return load_probes().head(48)


@pytest.mark.parametrize("kind", ["f16", "q8_0", "q4_0"])
def test_batched_equals_one_at_a_time_on_the_tiny_model(kind, tiny_llama_gguf, prompts48):
    """Every probe decoded alone in its own KV stream: on the tiny model the greedy answers are identical,
    whether all 48 run together or 5 slots are reused as sequences finish (continuous batching)."""
    with LlamaCppBackend(tiny_llama_gguf[kind], n_threads=1, batch_size=1) as one:
        expected = one.generate(prompts48, 16)
        assert one.describe()["decode"] == "sequential"
    for batch_size in (None, 5):
        with LlamaCppBackend(tiny_llama_gguf[kind], n_threads=1, batch_size=batch_size) as many:
            steps: list[str] = []
            got = many.generate(prompts48, 16, progress=steps.append)
            assert got == expected
            assert many.tokens_generated == one.tokens_generated
            assert many.describe()["decode"] == "batched"
            assert many.last_batch_size == (batch_size or 48)
            assert steps[-1] == "generate: 48/48"


def test_batched_respects_the_token_budget_and_stops_at_end_of_generation(tiny_llama_gguf, prompts48):
    with LlamaCppBackend(tiny_llama_gguf["f16"], n_threads=1, batch_size=7) as gg:
        texts = gg.generate(prompts48, 3)
        tokens = [gg.llm.tokenize(t.encode(), add_bos=False, special=False) for t in texts]
        assert all(len(t) <= 3 for t in tokens) and gg.tokens_generated <= 48 * 3
        long = gg.generate(prompts48[:8], 200)
    # 200 tokens leave room for an end-of-generation token: the tiny model ends most answers well before
    assert sum(len(t) < 60 for t in long) >= 6


def test_real_model_batched_equals_one_at_a_time():
    """SmolLM2-135M Q4_1, 24 probes in 5 slots: each prompt is prefilled whole and decoded one row per KV
    stream, the kernels one-at-a-time decoding runs, so the answers agree (measured: all of 600 x 64)."""
    prompts = load_probes().head(24)
    with LlamaCppBackend(smollm2_gguf(), n_threads=1, batch_size=1) as one:
        expected = one.generate(prompts, 16)
    with LlamaCppBackend(smollm2_gguf(), n_threads=1, batch_size=5) as many:
        got = many.generate(prompts, 16)
    same = np.mean([a == b for a, b in zip(expected, got)])
    print(f"SmolLM2 batched vs one at a time: {same:.3f} identical")
    assert same >= 0.95  # at most one near-tie flip on another CPU's kernels


def test_batch_size_from_memory():
    shape = ModelShape(n_layer=30, n_head_kv=3, key_length=64, value_length=64, n_vocab=49152)
    # SmolLM2-135M: 256 cells x 30 layers x 3 heads x 128 x 2 bytes = 5.9 MB + one logits row
    assert shape.bytes_per_seq(256) == 256 * 30 * 3 * 128 * 2 + 49152 * 4
    per = shape.bytes_per_seq(256)
    assert choose_n_seq(600, per, 10 * per) == 10  # memory-bound
    assert choose_n_seq(600, per, 10_000 * per) == 64  # capped
    assert choose_n_seq(3, per, 10_000 * per) == 3  # no more sequences than prompts
    assert choose_n_seq(600, per, per // 2) == 1  # never zero
    assert [padded_ctx(n) for n in (1, 256, 257, 700)] == [256, 256, 512, 768]


def test_model_shape_reads_the_gguf(tiny_llama, tiny_llama_gguf):
    import json

    config = json.loads((tiny_llama / "config.json").read_text())
    with LlamaCppBackend(tiny_llama_gguf["f16"], n_threads=1) as gg:
        shape = model_shape(gg._llama_cpp, gg.llm.model, gg.n_vocab)
    head = config["hidden_size"] // config["num_attention_heads"]
    assert shape == ModelShape(n_layer=config["num_hidden_layers"],
                               n_head_kv=config.get("num_key_value_heads", config["num_attention_heads"]),
                               key_length=head, value_length=head, n_vocab=config["vocab_size"])


def test_decode_mode_in_the_artifact_meta_and_bad_batch_size(tiny_llama_gguf, small_protocol, tmp_path):
    batched = extract_dna(tiny_llama_gguf["q8_0"], small_protocol, artifacts=tmp_path / "a", n_threads=1)
    one = extract_dna(tiny_llama_gguf["q8_0"], small_protocol, artifacts=tmp_path / "b", n_threads=1, batch_size=1)
    assert batched.meta["decode"] == "batched" and batched.meta["batch_size"] == len(batched.responses)
    assert one.meta["decode"] == "sequential" and one.meta["batch_size"] == 1
    assert batched.responses == one.responses and np.array_equal(batched.dna, one.dna)
    with pytest.raises(InputError, match="batch_size=0: expected at least 1"):
        load_backend(tiny_llama_gguf["q8_0"], batch_size=0)


def test_each_decode_step_sends_consecutive_sequence_ids(tiny_llama_gguf, prompts48, monkeypatch):
    """llama.cpp puts only consecutive sequence ids (in batch order) into one ubatch when each sequence
    has its own KV stream: a step in any other order runs as many small products, as slow as one at a
    time. Rows go in increasing ids, and while prompts wait the running ids fill 0..slots-1."""
    from ingest.backends.llamacpp_batch import BatchedGreedy

    steps: list[list[int]] = []
    decode = BatchedGreedy._decode

    def recording(self, n, rows, running, free):
        if n == len(rows):  # one row per sequence: a decode step (a prefill call has whole prompts)
            steps.append([self._batch.seq_id[k][0] for k in range(n)])
        return decode(self, n, rows, running, free)

    monkeypatch.setattr(BatchedGreedy, "_decode", recording)
    with LlamaCppBackend(tiny_llama_gguf["q8_0"], n_threads=1, batch_size=6) as many:
        many.generate(prompts48, 16)
    assert steps and all(ids == sorted(set(ids)) for ids in steps)
    full = [ids for ids in steps if len(ids) == 6]
    assert len(full) >= len(steps) // 2 and all(ids == list(range(6)) for ids in full)
