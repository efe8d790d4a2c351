"""GPT-2 and GPT-NeoX zoo models: they build and train, a merged LoRA (GPT-2's Conv1D included) leaves
a low-rank difference, and the saved folders carry what llama.cpp's converter reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.zoo.tiny import ArchSpec, TinySpec, TrainSpec, build_tiny
from ingest.zoo.tokenizers import TokenizerSpec

TOK = TokenizerSpec("tok-test", vocab_size=320, topics=("animals", "sea"), n_docs=400, seed=5,
                    bos="<|bos|>", eos="<|eos|>", pad="<|pad|>")


def _spec(arch: str) -> TinySpec:
    return TinySpec(tokenizer=TOK, arch=ArchSpec(arch=arch, hidden=32, intermediate=64, heads=4, kv_heads=4),
                    train=TrainSpec(topics=("animals",), n_docs=200, steps=6, batch_size=4, seq_len=32, seed=2),
                    init_seed=2)


@pytest.mark.parametrize("arch,matrix", [("gpt2", "transformer.h.0.attn.c_attn.weight"),
                                         ("gptneox", "gpt_neox.layers.0.attention.query_key_value.weight")])
def test_lora_on_new_architectures_is_low_rank(arch: str, matrix: str, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from ingest.zoo.ops import lora_finetune

    base = build_tiny(_spec(arch), tmp_path / "base")
    child = lora_finetune(base, tmp_path / "lora", TrainSpec(topics=("sea",), n_docs=200, steps=6, batch_size=4,
                                                               seq_len=32, seed=3, lr=5e-2), rank=2, alpha=4.0)
    a, b = load_file(str(base / "model.safetensors")), load_file(str(child / "model.safetensors"))
    diff = b[matrix].astype(np.float64) - a[matrix]
    s = np.linalg.svd(diff, compute_uv=False)
    assert s[0] > 1e-4 and s[2] < 1e-6 * s[0] + 1e-7  # changed, and rank <= 2
    config = json.loads((base / "config.json").read_text())
    assert config["architectures"] == [{"gpt2": "GPT2LMHeadModel", "gptneox": "GPTNeoXForCausalLM"}[arch]]
    if arch == "gptneox":
        assert config["rotary_pct"] == 0.25  # llama.cpp's converter reads it; transformers 5 no longer writes it
