"""Encoder-decoder models (T5-style, BART-style) through the transformers backend: the backend contract,
every channel (the weight sketch under GGUF's canonical names where gguf maps the architecture, else
compared within one signature), and lineage: each encoder-decoder fine-tune finds its parent in a KB
that also holds decoder-only models."""

from __future__ import annotations

import pytest
import yaml

from ingest.backends import load_backend
from ingest.backends.seq2seq import Seq2SeqBackend
from ingest.extract import extract
from tests.ingest.models import protocol

PROMPTS = ["The cat", "Question: what does the chef cook?", "a", "The silver probe lands near the dock"]
TEXTS = ["a b c", "The quiet horse eats in the field.", "Boats wait in the harbor at dawn."]


@pytest.mark.parametrize("name", ["t5-s", "bart-s"])
def test_backend_contract_batched_equals_one_at_a_time(seq2seq_zoo, name):
    backend = load_backend(seq2seq_zoo.parent / name, n_threads=1)
    assert isinstance(backend, Seq2SeqBackend) and backend.architecture == name.split("-")[0]
    batched = backend.generate(PROMPTS, 12)
    assert batched == [backend.generate([p], 12)[0] for p in PROMPTS]
    assert any(text.strip() for text in batched)
    scores = backend.score(TEXTS)
    assert [n for _, n in scores] == [len(t.encode()) for t in TEXTS]
    assert all(logp < 0 for logp, _ in scores)
    assert [s for s, _ in scores] == pytest.approx([backend.score([t])[0][0] for t in TEXTS], rel=1e-5)
    assert backend.describe()["encoder_decoder"] is True and backend.describe()["score_source"] == "empty"


def test_chat_is_the_raw_probe_for_an_encoder_decoder(seq2seq_zoo):
    """An encoder-decoder model reads the probe as its source: no chat template, chat=True answers raw."""
    with load_backend(seq2seq_zoo.parent / "t5-s", n_threads=1) as backend:
        assert backend.chat_template is None
        raw = backend.generate(PROMPTS, 8)
        assert "chat" not in backend.describe()
        assert backend.generate(PROMPTS, 8, chat=True) == raw and backend.describe()["chat"] == "raw"


def test_every_channel_and_the_weight_names(seq2seq_zoo, tmp_path):
    t5 = extract(seq2seq_zoo.parent / "t5-s", protocol(), artifacts=tmp_path, n_threads=1)
    bart = extract(seq2seq_zoo.parent / "bart-s", protocol(), artifacts=tmp_path, n_threads=1)
    for done in (t5, bart):
        assert set(done.vectors()) == {"text", "loglik", "weights"} and not done.skipped()
    # T5 is in gguf's tensor map: canonical names for both stacks, every layer
    t5_sig = t5.record_fields()["signature"]
    bart_sig = bart.record_fields()["signature"]
    assert t5_sig != bart_sig
    from ingest.weights import open_weights

    names = {e.name for e in open_weights(seq2seq_zoo.parent / "t5-s").entries}
    assert {"enc.blk.1.attn_q.weight", "dec.blk.1.cross_attn_k.weight", "token_embd.weight"} <= names
    reader = open_weights(seq2seq_zoo.parent / "bart-s")  # BART is not: HF names kept, said so
    assert any("not in gguf's tensor map" in note for note in reader.notes)
    assert "model.encoder.layers.1.self_attn.q_proj.weight" in {e.name for e in reader.entries}


def test_an_encoder_decoder_finetune_finds_its_parent(seq2seq_zoo, small_zoo, tmp_path):
    """Both zoos in one KB (declared parents withheld): every encoder-decoder fine-tune's inferred
    parent is its base, and no decoder-only model is placed under an encoder-decoder one."""
    from ingest.evaluation import evaluate_zoo
    from kb.stores import StoreConfig, open_store

    rows = []
    for manifest in (small_zoo, seq2seq_zoo):
        for entry in yaml.safe_load(manifest.read_text())["models"]:
            entry["path"] = str(manifest.parent / entry["path"])
            rows.append(entry)
    merged = tmp_path / "zoo.yaml"
    merged.write_text(yaml.safe_dump({"models": rows}, sort_keys=False))
    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as store:
        report = evaluate_zoo(merged, store, bootstrap=0, artifacts=tmp_path / "art", protocol=protocol())
        inferred = {e.child: e for e in store.inferred_edges()}
    seq2seq = {f"zoo/{n}": f"zoo/{n.rsplit('-', 1)[0]}" for n in ("t5-s-sea", "t5-s-music", "bart-s-animals",
                                                                   "bart-s-cooking")}
    found = {child: (inferred[child].parent, inferred[child].channel) if child in inferred else None for child in seq2seq}
    print(f"\nencoder-decoder fine-tunes -> inferred parent (channel): {found}; "
          f"whole KB parent accuracy {report.parents.accuracy:.2f} over {report.parents.n}")
    assert {child: got[0] if got else None for child, got in found.items()} == seq2seq
    bases = {"zoo/t5-s", "zoo/bart-s", *seq2seq}
    assert not [e for e in inferred.values() if e.parent in bases and e.child not in bases]
