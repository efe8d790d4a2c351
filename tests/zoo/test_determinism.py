"""Same arguments -> bit-identical weights; LoRA and merges leave their known weight signatures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ingest.zoo.tiny import ArchSpec, TinySpec, TrainSpec, build_tiny, load_model

QUICK = TinySpec(tokenizer="tok-b", arch=ArchSpec(arch="qwen2", hidden=32, intermediate=64),
                 train=TrainSpec(n_docs=300, steps=8, batch_size=4, seq_len=32, seed=3), init_seed=3)


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory) -> Path:
    return build_tiny(QUICK, tmp_path_factory.mktemp("quick") / "m")


def test_building_twice_gives_identical_weights(quick_model, tmp_path):
    again = build_tiny(QUICK, tmp_path / "again")
    assert _digest(again) == _digest(quick_model)
    assert (again / "tokenizer.json").read_bytes() == (quick_model / "tokenizer.json").read_bytes()


def test_another_seed_gives_other_weights(quick_model, tmp_path):
    other = TinySpec(tokenizer=QUICK.tokenizer, arch=QUICK.arch, train=QUICK.train, init_seed=4)
    assert _digest(build_tiny(other, tmp_path / "other")) != _digest(quick_model)


def test_lora_difference_is_low_rank_and_merge_is_the_mean(quick_model, tmp_path):
    import torch

    from ingest.zoo.ops import average_merge, finetune, lora_finetune

    spec = TrainSpec(topics=("sea",), n_docs=200, steps=5, batch_size=4, seq_len=32, seed=9, lr=1e-2)
    lora = lora_finetune(quick_model, tmp_path / "lora", spec, rank=2)
    ft = finetune(quick_model, tmp_path / "ft", spec)
    merged = average_merge(lora, ft, tmp_path / "merged")
    (base, _), (lo, _), (f, _), (m, _) = (load_model(p) for p in (quick_model, lora, ft, merged))
    name = "model.layers.0.mlp.up_proj.weight"
    delta = lo.state_dict()[name] - base.state_dict()[name]
    assert float(delta.abs().max()) > 0
    assert int(torch.linalg.matrix_rank(delta)) <= 2
    full = f.state_dict()[name] - base.state_dict()[name]
    assert int(torch.linalg.matrix_rank(full)) > 2
    mean = (lo.state_dict()[name] + f.state_dict()[name]) / 2
    assert torch.allclose(m.state_dict()[name], mean, atol=1e-6)


def test_a_lora_merged_at_half_strength_moves_half_as_far(quick_model, tmp_path):
    from ingest.zoo.ops import lora_finetune

    spec = TrainSpec(topics=("sea",), n_docs=200, steps=5, batch_size=4, seq_len=32, seed=9, lr=1e-2)
    full = lora_finetune(quick_model, tmp_path / "full", spec, rank=2)
    half = lora_finetune(quick_model, tmp_path / "half", spec, rank=2, strength=0.5)
    (base, _), (f, _), (h, _) = (load_model(p) for p in (quick_model, full, half))
    name = "model.layers.0.mlp.up_proj.weight"
    w0 = base.state_dict()[name]
    assert float((f.state_dict()[name] - w0).abs().max()) > 0
    assert (h.state_dict()[name] - w0).allclose((f.state_dict()[name] - w0) / 2, atol=1e-6)
