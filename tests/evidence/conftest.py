"""Fixtures for the evidence-channel tests: random tiny Llamas (no training needed for weight
tests) and a minimal GGUF writer that lays tensors out like llama.cpp's converter (q/k rows
permuted for the rope layout), so the HF <-> GGUF name and layout mapping is checked both ways."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            tie_word_embeddings=False)


def make_llama(folder: Path, seed: int = 0, **overrides) -> Path:
    """Save a randomly initialised tiny LlamaForCausalLM (safetensors, f32)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**{**TINY, **overrides}))
    model.save_pretrained(folder)
    return folder


def perturb(src: Path, dst: Path, scale: float, seed: int, rank: int | None = None) -> Path:
    """Copy a model adding noise (full-rank, or rank-`rank` like a merged LoRA) to every matrix."""
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(seed)
    tensors = load_file(str(src / "model.safetensors"))
    out = {}
    for name, w in tensors.items():
        if w.ndim == 2 and (rank is None or "proj" in name):
            if rank is None:
                delta = rng.standard_normal(w.shape).astype(np.float32)
            else:
                delta = (rng.standard_normal((w.shape[0], rank)) @ rng.standard_normal((rank, w.shape[1]))
                         / np.sqrt(rank)).astype(np.float32)
            w = w + scale * float(np.std(w)) * delta
        out[name] = np.ascontiguousarray(w)
    dst.mkdir(parents=True, exist_ok=True)
    save_file(out, str(dst / "model.safetensors"), metadata={"format": "pt"})
    (dst / "config.json").write_text((src / "config.json").read_text())
    return dst


def write_gguf(hf_folder: Path, path: Path, qtype: str = "F16", *, rename: dict[str, str] | None = None,
               drop: tuple[str, ...] = (), tie_copy: bool = False) -> Path:
    """A GGUF of an HF tiny Llama, laid out as llama.cpp's converter does (weights only)."""
    import json

    import gguf
    from safetensors.numpy import load_file

    config = json.loads((hf_folder / "config.json").read_text())
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_embedding_length(config["hidden_size"])
    quant = getattr(gguf.GGMLQuantizationType, qtype)
    tensors = load_file(str(hf_folder / "model.safetensors"))
    if tie_copy and "lm_head.weight" not in tensors:  # store the tied head, as ingest/convert.py does
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"]
    for hf_name, w in tensors.items():
        name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name in drop:
            continue
        name = (rename or {}).get(name, name)
        if ".attn_q." in name or ".attn_k." in name:
            heads = n_head if ".attn_q." in name else n_kv
            w = w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        w = np.ascontiguousarray(w, dtype=np.float32)
        if w.ndim == 1 or quant == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, w)
        elif quant == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(name, w.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quants.quantize(w, quant), raw_dtype=quant)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_llama(tmp_path_factory.mktemp("tiny") / "base", seed=0)
