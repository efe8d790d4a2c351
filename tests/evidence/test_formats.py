"""Weights matched across formats for every architecture people commonly ship as GGUF.

A tiny random model of each architecture (built from a config, no download) is converted with
llama.cpp's own convert_hf_to_gguf.py (fetched from the llama-cpp-python sdist on PyPI, see
ingest/zoo/llamacpp.py) at f32, f16 and q8_0, with the project's converter where it supports the
architecture, and quantized from the f16 with llama.cpp; the weight sketches of the HF folder and of
every GGUF must agree. Built once per code version (~30 s on 2 cores), then cached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.weight_layout import Part, comparable_across_formats
from ingest.weights import weight_sketch
from ingest.zoo.archs import TINY_ARCHS

pytestmark = pytest.mark.slow

_CODE = ("corpora.py", "tokenizers.py", "archs.py", "llamacpp.py", "../convert.py")
OUTTYPES = ("f32", "f16", "q8_0")
LIMIT = {"f32": 1e-5, "f16": 1e-3, "q8_0": 2e-2, "q4_0": 0.2}  # relative sketch difference
QUANTIZED = ("llama", "gpt2", "gptneox", "falcon")  # quantized from llama.cpp's f16 with llama_model_quantize


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


@pytest.fixture(scope="module")
def formats() -> Path:
    from ingest.convert import quantize_gguf
    from ingest.zoo.archs import build_format_set
    from ingest.zoo.cache import cached_build

    def build(tmp: Path) -> None:
        build_format_set(tmp, outtypes=OUTTYPES)
        for arch in QUANTIZED:
            quantize_gguf(tmp / f"{arch}-f16.gguf", tmp / f"{arch}-q4_0.gguf", "q4_0")

    return cached_build("format-archs", {"archs": list(TINY_ARCHS), "outtypes": OUTTYPES, "quantized": QUANTIZED},
                        build, code=_CODE)


@pytest.mark.parametrize("arch", list(TINY_ARCHS))
def test_llamacpp_conversions_land_on_hf_sketch(formats: Path, arch: str) -> None:
    hf = weight_sketch(formats / arch, seed=5)
    assert hf.mapping == "verified" and hf.skipped == [], hf.skipped
    assert hf.source == "safetensors" and hf.precision == "f32"
    files = [f"{arch}-{t}.gguf" for t in OUTTYPES]
    files += [f"{arch}-own-{t}.gguf" for t in OUTTYPES if (formats / f"{arch}-own-{t}.gguf").is_file()]
    files += [f"{arch}-q4_0.gguf"] if arch in QUANTIZED else []
    for name in files:
        gg = weight_sketch(formats / name, seed=5)
        assert gg.mapping == "verified", (name, gg.notes)
        assert gg.signature == hf.signature, (name, sorted(set(gg.tensors) ^ set(hf.tensors)))
        assert gg.blocks == hf.blocks, name
        qtype = name.removesuffix(".gguf").rsplit("-", 1)[-1]
        assert _rel(hf.vector, gg.vector) < LIMIT[qtype], (name, _rel(hf.vector, gg.vector))
        assert comparable_across_formats(hf.detail(), gg.detail())


def _file_fact(path: Path, fact: str) -> str | None:
    """What the weight reader records about one file (`made_by`, `metadata_digest`)."""
    from ingest.weights import open_weights

    source = open_weights(path)
    try:
        return getattr(source, fact)
    finally:
        source.close()


@pytest.mark.parametrize("arch", list(TINY_ARCHS))
def test_a_files_tensor_order_tells_which_llama_cpp_tool_wrote_it(formats: Path, arch: str) -> None:
    """The converter (llama.cpp's and ours) writes the checkpoint's tensor order; the quantize tool its
    loader's (globals, then block by block, names sorted): every architecture's files say which."""
    def made_by(name: str) -> str | None:
        return _file_fact(formats / name, "made_by")

    converted = [f"{arch}-{t}.gguf" for t in OUTTYPES]
    converted += [f"{arch}-own-{t}.gguf" for t in OUTTYPES if (formats / f"{arch}-own-{t}.gguf").is_file()]
    assert {name: made_by(name) for name in converted} == {name: "convert" for name in converted}
    if arch in QUANTIZED:
        assert made_by(f"{arch}-q4_0.gguf") == "quantize"
    assert made_by(arch) is None  # an HF folder


@pytest.mark.parametrize("arch", list(QUANTIZED))
def test_a_quantized_file_carries_the_metadata_digest_of_the_file_it_was_made_from(formats: Path, arch: str) -> None:
    """llama.cpp's quantize tool copies its input's metadata but for the file type: the q4_0 made from
    llama.cpp's f16 has that file's digest (and that of the f32 the same converter wrote), not the one
    of the f16 our converter wrote from the same checkpoint, whose weights are the same."""
    def digest(name: str) -> str | None:
        return _file_fact(formats / name, "metadata_digest")

    assert digest(f"{arch}-q4_0.gguf") == digest(f"{arch}-f16.gguf") == digest(f"{arch}-f32.gguf")
    if (formats / f"{arch}-own-f16.gguf").is_file():
        assert digest(f"{arch}-own-f16.gguf") != digest(f"{arch}-f16.gguf")
    assert digest(arch) is None  # an HF folder


def test_our_converter_covers_llama_and_qwen2(formats: Path) -> None:
    owned = sorted(p.name for p in formats.glob("*-own-*.gguf"))
    assert owned == sorted(f"{a}-own-{t}.gguf" for a in ("llama", "qwen2") for t in OUTTYPES)


def test_canonical_form_splits_fused_tensors(formats: Path) -> None:
    """Every architecture lands on one projection per matrix: no fused attn_qkv or gate_up remains,
    and the Llama-style parts are there (position embeddings stay a matrix of their own)."""
    for arch in TINY_ARCHS:
        blocks = weight_sketch(formats / arch).blocks
        assert not any(".attn_qkv." in b for b in blocks), arch
        assert {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"} <= set(blocks), arch
        assert "token_embd.weight" in blocks[:2] and blocks[-1] == "output.weight", arch
    phi3 = weight_sketch(formats / "phi3").blocks
    assert {"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"} <= set(phi3)
    assert "position_embd.weight" in weight_sketch(formats / "gpt2").blocks


@pytest.mark.parametrize("arch", ["gpt2", "gptneox", "falcon", "olmo"])
def test_without_the_layout_mapping_they_disagree(formats: Path, arch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mapping is what makes them agree: with fused tensors kept whole, Conv1D read as stored
    and rope rows left permuted, the HF folder and its GGUF look like different models."""
    import ingest.weights as weights

    monkeypatch.setattr(weights, "hf_parts", lambda arch, name, rows, config: [Part(name, rows)])
    monkeypatch.setattr(weights, "gguf_parts", lambda arch, name, rows, fields, rope: [Part(name, rows)])
    monkeypatch.setattr(weights, "hf_is_conv1d", lambda arch, name, ndim: False)
    hf, gg = weight_sketch(formats / arch), weight_sketch(formats / f"{arch}-f32.gguf")
    assert hf.signature != gg.signature or _rel(hf.vector, gg.vector) > 0.2


def test_unrelated_models_are_far(formats: Path, tmp_path: Path) -> None:
    """The agreement above is meaningful: another seed of the same architecture is nowhere near."""
    from ingest.zoo.archs import build_random_model

    other = build_random_model("gpt2", tmp_path / "gpt2-other", seed=1, bpe_dir=formats / "gpt2")
    a, b = weight_sketch(formats / "gpt2"), weight_sketch(other)
    assert a.signature == b.signature and _rel(a.vector, b.vector) > 0.5


def test_unknown_architecture_says_so(tmp_path: Path) -> None:
    """An architecture without a verified mapping (BLOOM: fused QKV interleaved per head) is
    sketched, but both sides flag it, and a cross-format comparison is declared meaningless rather
    than read as "unrelated"; same-format comparisons stay allowed."""
    import torch
    import transformers

    from ingest.zoo.llamacpp import convert_hf
    from ingest.zoo.tokenizers import TOKENIZER_A, train_tokenizer

    folder = train_tokenizer(TOKENIZER_A, tmp_path / "bloom")
    torch.manual_seed(0)
    model = transformers.BloomForCausalLM(transformers.BloomConfig(vocab_size=512, hidden_size=64, n_layer=2, n_head=4))
    model.config.architectures = ["BloomForCausalLM"]
    model.save_pretrained(str(folder))
    gguf_file = convert_hf([(folder, tmp_path / "bloom.gguf", "f32")])[0]
    hf, gg = weight_sketch(folder), weight_sketch(gguf_file)
    for s in (hf, gg):
        assert s.mapping == "unknown" and s.detail()["mapping"] == "unknown"
        assert any("architecture 'bloom'" in n and "not verified" in n for n in s.notes), s.notes
    assert not comparable_across_formats(hf.detail(), gg.detail())
    assert comparable_across_formats(hf.detail(), weight_sketch(folder, seed=1).detail())


def test_a_tensor_the_map_does_not_know_makes_the_mapping_unknown(formats: Path, tmp_path: Path) -> None:
    """A checkpoint of a verified architecture with a tensor the name map does not know is a
    variant nobody checked: its sketch is made, but flagged."""
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "variant"
    shutil.copytree(formats / "stablelm", folder)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["model.layers.0.self_attn.q_layernorm.norms.0.weight"] = np.ones(16, dtype=np.float32)
    save_file(tensors, str(folder / "model.safetensors"))
    s = weight_sketch(folder)
    assert s.mapping == "unknown" and s.skipped and "stablelm" in " ".join(s.notes)


def test_saved_buffers_are_not_weights(formats: Path, tmp_path: Path) -> None:
    """GPT-2 checkpoints saved by older transformers carry causal-mask buffers (`h.0.attn.bias`):
    skipped as buffers, and the mapping stays verified (llama.cpp's converter drops them too)."""
    import shutil

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "old-gpt2"
    shutil.copytree(formats / "gpt2", folder)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 8, 8), dtype=np.float32))
    save_file(tensors, str(folder / "model.safetensors"))
    s, clean = weight_sketch(folder), weight_sketch(formats / "gpt2")
    assert s.mapping == "verified" and s.signature == clean.signature
    assert s.skipped == [("transformer.h.0.attn.bias",
                          "a buffer saved by older transformers (causal mask, rope table), not a weight")]
