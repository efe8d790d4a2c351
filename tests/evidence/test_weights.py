"""Weight sketch: HF <-> GGUF agreement, distance tracking, adapters, bad input, streaming."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from kb.errors import InputError
from kb.channels.weights import CHANNEL, SKETCH_K, block_effective_rank, sketch_blocks, sketch_distance, weight_growth
from ingest.weights import weight_signature, weight_sketch

from .conftest import make_llama, perturb, write_gguf


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_sketch_size_and_layout(tiny_hf: Path) -> None:
    s = weight_sketch(tiny_hf, seed=0)
    # 2 layers x 7 matrices + token_embd + output, 16x16 float32 each (norms only in the signature)
    assert s.vector.dtype == np.float32 and s.vector.size == 16 * 256
    assert s.vector.nbytes <= 64 * 1024
    assert s.blocks[0] == "token_embd.weight" and s.blocks[-1] == "output.weight"
    assert any(name.endswith("norm.weight") for name, _ in s.tensors)
    assert s.precision == "f32" and s.source == "safetensors" and s.arch == "llama"
    assert s.skipped == []
    again = weight_sketch(tiny_hf, seed=0)
    assert np.array_equal(s.vector, again.vector)
    assert not np.allclose(s.vector, weight_sketch(tiny_hf, seed=1).vector)


@pytest.mark.parametrize("qtype,limit", [("F32", 1e-6), ("F16", 1e-3), ("Q8_0", 2e-2)])
def test_gguf_conversion_lands_on_hf_sketch(tiny_hf: Path, tmp_path: Path, qtype: str, limit: float) -> None:
    hf = weight_sketch(tiny_hf, seed=3)
    gg = weight_sketch(write_gguf(tiny_hf, tmp_path / f"m-{qtype}.gguf", qtype), seed=3)
    assert gg.signature == hf.signature
    assert gg.blocks == hf.blocks
    assert gg.precision == qtype.lower()
    assert _rel(hf.vector, gg.vector) < limit


def test_permutation_matters(tiny_hf: Path, tmp_path: Path) -> None:
    """Without undoing llama.cpp's q/k permutation the q/k blocks would disagree."""
    import ingest.weights as weights

    path = write_gguf(tiny_hf, tmp_path / "m.gguf", "F32")
    hf = weight_sketch(tiny_hf, seed=0)
    saved = weights._ROPE_PERMUTED
    weights._ROPE_PERMUTED = set()
    try:
        raw = weight_sketch(path, seed=0)
    finally:
        weights._ROPE_PERMUTED = saved
    q = hf.blocks.index("blk.0.attn_q.weight")
    assert _rel(sketch_blocks(hf.vector)[q], sketch_blocks(raw.vector)[q]) > 0.3


def test_sketch_distance_tracks_weight_distance(tiny_hf: Path, tmp_path: Path) -> None:
    from scipy.stats import spearmanr
    from safetensors.numpy import load_file

    base = load_file(str(tiny_hf / "model.safetensors"))
    s0 = weight_sketch(tiny_hf, seed=0).vector
    true, est = [], []
    for i, scale in enumerate([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0]):
        child = perturb(tiny_hf, tmp_path / f"c{i}", scale, seed=i)
        w = load_file(str(child / "model.safetensors"))
        true.append(np.sqrt(np.mean([np.mean((w[n] - base[n]) ** 2) for n in base if base[n].ndim == 2])))
        est.append(sketch_distance(s0, weight_sketch(child, seed=0).vector))
    assert spearmanr(true, est).statistic >= 0.95


def test_low_rank_difference_stays_low_rank(tiny_hf: Path, tmp_path: Path) -> None:
    lora = perturb(tiny_hf, tmp_path / "lora", 0.5, seed=7, rank=2)
    full = perturb(tiny_hf, tmp_path / "full", 0.5, seed=7)
    s0 = weight_sketch(tiny_hf).vector
    names = weight_sketch(tiny_hf).blocks
    q = names.index("blk.1.attn_q.weight")
    d_lora = sketch_blocks(weight_sketch(lora).vector - s0)[q]
    d_full = sketch_blocks(weight_sketch(full).vector - s0)[q]
    assert block_effective_rank(d_lora) <= 2
    assert block_effective_rank(d_full) >= 10


def test_other_architecture_other_signature(tiny_hf: Path, tmp_path: Path) -> None:
    other = make_llama(tmp_path / "wide", seed=0, intermediate_size=192)
    assert weight_signature(other)[0] != weight_signature(tiny_hf)[0]


def test_unsupported_quant_type_says_so(tiny_hf: Path, tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "q81.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_head_count(4)
    writer.add_tensor("token_embd.weight", np.zeros((8, 2 * 40), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_1)
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    with pytest.raises(InputError, match=r"Q8_1, which the gguf reader cannot dequantise: weight channel skipped"):
        weight_sketch(path)
    assert len(weight_signature(path)[0]) == 16  # the signature still works


def test_misnamed_and_missing_tensors(tiny_hf: Path, tmp_path: Path) -> None:
    hf = weight_sketch(tiny_hf)
    missing = weight_sketch(write_gguf(tiny_hf, tmp_path / "miss.gguf", "F32", drop=("blk.1.ffn_up.weight",)))
    assert missing.signature != hf.signature
    assert "blk.1.ffn_up.weight" not in missing.blocks
    # an HF checkpoint with a tensor the architecture does not know: skipped with a reason
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad"
    bad.mkdir()
    tensors = load_file(str(tiny_hf / "model.safetensors"))
    tensors["model.layers.0.mlp.up_projj.weight"] = tensors.pop("model.layers.0.mlp.up_proj.weight")
    save_file(tensors, str(bad / "model.safetensors"))
    (bad / "config.json").write_text((tiny_hf / "config.json").read_text())
    s = weight_sketch(bad)
    assert s.signature != hf.signature
    assert s.skipped == [("model.layers.0.mlp.up_projj.weight",
                          "no canonical name for 'model.layers.0.mlp.up_projj.weight' under architecture 'llama'")]


def test_no_weights_message(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(InputError, match=r"no \*\.safetensors weights in .*pytorch_model.bin: re-save"):
        weight_sketch(tmp_path)
    with pytest.raises(InputError, match="no model at"):
        weight_sketch(tmp_path / "nope")


def test_block_budget_keeps_whole_layers(tmp_path: Path) -> None:
    deep = make_llama(tmp_path / "deep", seed=0, num_hidden_layers=12, hidden_size=32, intermediate_size=32,
                      num_attention_heads=2, num_key_value_heads=2, vocab_size=64)
    s = weight_sketch(deep, max_kib=32)  # 32 blocks for 2 + 12 * 7 = 86 matrices
    assert s.vector.nbytes <= 32 * 1024
    layers = {int(b.split(".")[1]) for b in s.blocks if b.startswith("blk.")}
    assert len(layers) == 4 and {0, 11} <= layers
    assert all(sum(b.startswith(f"blk.{i}.") for b in s.blocks) == 7 for i in layers)
    assert sum(r == "over block budget" for _, r in s.skipped) == 86 - 30


def test_streaming_memory_is_bounded(tmp_path: Path) -> None:
    """A 48 MiB checkpoint sketched with 8 MiB of Python/numpy allocations at most."""
    from safetensors.numpy import save_file

    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(0)
    save_file({f"model.layers.{i}.mlp.up_proj.weight": rng.standard_normal((1024, 4096), dtype=np.float32)
               for i in range(3)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text('{"model_type": "llama", "num_hidden_layers": 3}')
    tracemalloc.start()
    try:
        s = weight_sketch(folder, chunk_elems=1 << 18)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert s.vector.size == 3 * 256
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_rank3_tensors_stream_as_matrices(tmp_path: Path) -> None:
    """A 3-D tensor (stacked experts) is sketched as rows x last dim, chunked along its first axis;
    an architecture gguf does not know keeps its HF names (and says so)."""
    from safetensors.numpy import save_file

    from kb.channels.weights import sketch_matrix

    rng = np.random.default_rng(4)
    w = rng.standard_normal((4, 24, 40)).astype(np.float32)
    save_file({"experts.w": w, "norm.w": np.ones(40, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text('{"model_type": "made-up-arch"}')
    s = weight_sketch(tmp_path, seed=2, chunk_elems=50)
    assert s.blocks == ["experts.w"]
    assert np.allclose(sketch_blocks(s.vector)[0], sketch_matrix(w.reshape(96, 40), 2, "experts.w"), atol=1e-5)
    assert "not in gguf's tensor map" in s.notes[0]


def test_detail_records_exact_rms(tiny_hf: Path) -> None:
    from safetensors.numpy import load_file

    s = weight_sketch(tiny_hf)
    w = load_file(str(tiny_hf / "model.safetensors"))["model.layers.0.self_attn.q_proj.weight"]
    i = s.blocks.index("blk.0.attn_q.weight")
    assert s.rms[i] == pytest.approx(float(np.sqrt(np.mean(w.astype(np.float64) ** 2))), rel=1e-6)
    detail = s.detail()
    assert detail["signature"] == s.signature and len(detail["rms"]) == len(detail["blocks"])
    assert detail["descriptor"] == "v1:k=16:seed=0:max_kib=64"


def test_tied_head_is_explicit_on_both_sides(tmp_path: Path) -> None:
    """A tied HF checkpoint has no lm_head; our converter stores the copy as output.weight."""
    tied = make_llama(tmp_path / "tied", seed=5, tie_word_embeddings=True)
    hf = weight_sketch(tied)
    assert "output.weight tied to token_embd.weight" in hf.notes and hf.blocks[-1] == "output.weight"
    without = weight_sketch(write_gguf(tied, tmp_path / "a.gguf", "F32"))
    assert without.signature == hf.signature and _rel(hf.vector, without.vector) < 1e-6
    with_copy = tmp_path / "b.gguf"
    copy = weight_sketch(write_gguf(tied, with_copy, "F32", tie_copy=True))
    assert "output.weight tied to token_embd.weight" not in copy.notes
    assert copy.signature == hf.signature and _rel(hf.vector, copy.vector) < 1e-6


def test_weight_growth_of_every_pair_is_the_mean_log_norm_ratio():
    """b doubles every matrix of a, c doubles one of two; d has another signature and e a matrix of
    zeros, which counts for no pair."""
    size = SKETCH_K * SKETCH_K
    rng = np.random.default_rng(0)
    a = rng.normal(size=2 * size)
    b = 2 * a
    c = a.copy()
    c[:size] *= 2
    d = rng.normal(size=3 * size)
    e = a.copy()
    e[size:] = 0
    g = weight_growth([a, b, c, d, e])
    assert g[0, 1] == pytest.approx(np.log(2)) and g[1, 0] == pytest.approx(-np.log(2))
    assert g[0, 2] == pytest.approx(np.log(2) / 2)
    assert g[0, 4] == pytest.approx(0.0) and g[1, 4] == pytest.approx(-np.log(2))
    assert np.isnan(g[0, 3]) and np.isnan(g[3, 4]) and g[3, 3] == 0


def test_an_adapter_shows_identical_blocks_beside_a_low_rank_update():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(4, 16, 16))
    update = np.stack([rng.normal(size=(16, 2)) @ rng.normal(size=(2, 16)) for _ in range(4)])
    adapter, low_rank_everywhere = base + update, base + update
    adapter[0] = base[0]
    full_rank = base + 0.1 * rng.normal(size=base.shape)
    frozen_full_rank = full_rank.copy()
    frozen_full_rank[0] = base[0]
    assert CHANNEL.adapter_evidence(adapter.ravel(), base.ravel()) == 2
    assert CHANNEL.adapter_evidence(frozen_full_rank.ravel(), base.ravel()) == 1  # a rank >= k/2 adapter
    assert CHANNEL.adapter_evidence(low_rank_everywhere.ravel(), base.ravel()) == 0  # a tiny fine-tune can look low-rank
    assert CHANNEL.adapter_evidence(full_rank.ravel(), base.ravel()) == 0
    assert CHANNEL.adapter_evidence(base.ravel(), base.ravel()) == 0
