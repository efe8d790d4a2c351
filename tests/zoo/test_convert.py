"""HF -> GGUF conversion: the same weights must generate the same greedy text through llama.cpp."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from kb.errors import InputError
from ingest.convert import gguf_tensor_name, hf_to_gguf, quantize_gguf
from ingest.zoo.tiny import greedy, load_model

PROMPTS = [
    "The", "A cat", "In the kitchen,", "Question: where does the fox go?", "Ada said,",
    "The quick brown", "Things in the farm:", "The rocket", "Ben saw a", "The hot soup",
    "In the field, the owl", "A star shines", "Cleo said, \"Look at the", "The old bear sleeps",
    "Question: where does the cake go? Answer:", "The comet", "Eva saw a bright", "In winter",
    "The bread bakes near", "A goat",
]
N_NEW = 20


def _llama_greedy(gguf: Path, prompts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt tokens, greedy continuation tokens) per prompt through llama.cpp, BOS explicit."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=128, n_threads=1, n_batch=128, verbose=False)
    prompt_ids, outs = [], []
    for p in prompts:
        ids = llm.tokenize(p.encode(), add_bos=False, special=False)
        ids = [llm.token_bos()] + ids
        out: list[int] = []
        for t in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            if t == llm.token_eos() or len(out) >= N_NEW:
                break
            out.append(t)
        prompt_ids.append(ids)
        outs.append(out)
    llm.close()
    return prompt_ids, outs


@functools.cache
def _hf_greedy_cached(folder: Path, prompts: tuple[str, ...]) -> tuple[list[list[int]], list[list[int]]]:
    model, tok = load_model(folder)
    return [tok(p)["input_ids"] for p in prompts], [greedy(model, tok, p, N_NEW) for p in prompts]


def _hf_greedy(folder: Path, prompts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    return _hf_greedy_cached(folder, tuple(prompts))


def test_f16_gguf_generates_what_the_hf_model_generates(tiny_llama, tiny_llama_gguf):
    hf_prompts, hf_out = _hf_greedy(tiny_llama, PROMPTS)
    gg_prompts, gg_out = _llama_greedy(tiny_llama_gguf["f16"], PROMPTS)
    assert gg_prompts == hf_prompts  # same tokenizer, same BOS
    assert all(len(o) > 3 for o in hf_out)  # the model really generates
    assert gg_out == hf_out


def test_q8_0_mostly_agrees_and_q4_0_still_runs(tiny_llama, tiny_llama_gguf):
    _, hf_out = _hf_greedy(tiny_llama, PROMPTS)
    _, q8 = _llama_greedy(tiny_llama_gguf["q8_0"], PROMPTS)
    _, q4 = _llama_greedy(tiny_llama_gguf["q4_0"], PROMPTS)
    same8 = sum(a == b for a, b in zip(hf_out, q8))
    assert same8 >= 0.8 * len(PROMPTS), same8
    assert all(len(o) > 0 for o in q4)
    assert tiny_llama_gguf["q4_0"].stat().st_size < tiny_llama_gguf["q8_0"].stat().st_size


def test_qwen2_conversion_round_trip(small_zoo):
    root = small_zoo.parent
    hf_prompts, hf_out = _hf_greedy(root / "qwen-s", PROMPTS[:8])
    gg_prompts, gg_out = _llama_greedy(root / "qwen-s-f16.gguf", PROMPTS[:8])
    assert gg_prompts == hf_prompts
    assert gg_out == hf_out


def test_tensor_names_map_to_gguf():
    assert gguf_tensor_name("model.embed_tokens.weight") == "token_embd.weight"
    assert gguf_tensor_name("model.layers.1.mlp.down_proj.weight") == "blk.1.ffn_down.weight"
    assert gguf_tensor_name("model.layers.0.self_attn.k_proj.bias") == "blk.0.attn_k.bias"
    with pytest.raises(InputError, match="no GGUF name"):
        gguf_tensor_name("model.layers.0.cross_attn.q.weight")


def test_bad_inputs_raise_one_line_errors(tmp_path, tiny_llama):
    with pytest.raises(InputError, match="no model folder"):
        hf_to_gguf(tmp_path / "missing", tmp_path / "x.gguf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no config.json"):
        hf_to_gguf(tmp_path / "empty", tmp_path / "x.gguf")
    with pytest.raises(InputError, match="unknown outtype 'q3'"):
        hf_to_gguf(tiny_llama, tmp_path / "x.gguf", "q3")
    with pytest.raises(InputError, match="no GGUF file"):
        quantize_gguf(tmp_path / "missing.gguf", tmp_path / "y.gguf")
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\0" * 20)
    with pytest.raises(InputError, match="could not quantize"):
        quantize_gguf(corrupt, tmp_path / "y.gguf", "q4_0")
    assert not (tmp_path / "x.gguf").exists() and not (tmp_path / "y.gguf").exists()
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_unknown_architecture_is_refused(tmp_path, tiny_llama):
    import json
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_llama, bad)
    config = json.loads((bad / "config.json").read_text())
    config["architectures"] = ["MambaForCausalLM"]
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="unknown architecture 'MambaForCausalLM'"):
        hf_to_gguf(bad, tmp_path / "bad.gguf")
