"""HF folder -> GGUF conversion (our own, on the `gguf` package's GGUFWriter) and quantization.

Why our own converter: llama.cpp's `convert_hf_to_gguf.py` ships only inside the
llama-cpp-python sdist (fetching and unpacking it costs a download per machine and couples us to
its vendored gguf-py), while the architectures the zoo uses (Llama, Qwen2) with a GPT-2-style
byte-level BPE need only ~150 lines: rename tensors to GGUF names, permute Llama's Q/K rows from
HF's rotate-half layout into GGML's interleaved RoPE layout, and write the tokenizer's tokens,
merges, special ids and chat template (as llama.cpp's converter does: `tokenizer.chat_template`).
Quantization beyond q8_0 goes through llama.cpp itself
(`llama_cpp.llama_model_quantize`).

Supported input: a folder with config.json (LlamaForCausalLM or Qwen2ForCausalLM),
model.safetensors and a byte-level BPE tokenizer.json (ByteLevel pre-tokenizer, GPT-2 regex).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import InputError

_ARCH = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
_OUTTYPES = ("f32", "f16", "q8_0")
# llama.cpp's llama_ftype values (include/llama.h); names as `llama-quantize` spells them.
QUANT_TYPES = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9,
    "q2_k": 10, "q3_k_m": 12, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18,
}
_LAYER_NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_tensor_name(hf_name: str) -> str:
    """Canonical GGUF name of a HF Llama/Qwen2 tensor name (the same map serves weight sketches).

    >>> gguf_tensor_name("model.layers.3.self_attn.q_proj.weight")
    'blk.3.attn_q.weight'
    """
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if hf_name in fixed:
        return fixed[hf_name]
    parts = hf_name.split(".")
    if len(parts) >= 5 and parts[:2] == ["model", "layers"]:
        stem, suffix = ".".join(parts[3:-1]), parts[-1]
        if stem in _LAYER_NAMES:
            return f"blk.{parts[2]}.{_LAYER_NAMES[stem]}.{suffix}"
    raise InputError(f"tensor {hf_name!r} has no GGUF name; only Llama/Qwen2 layouts convert")


def _rope_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotate-half row order -> GGML interleaved pairs, per head (rows = n_head * head_dim).

    Within a head, HF pairs dimension j with j + d/2; GGML pairs 2j with 2j+1. Reshape rows as
    (head, 2, d/2) and swap the last two axes: row (h, half, j) moves to (h, j, half).
    """
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _read_config(hf_dir: Path) -> dict[str, Any]:
    if not hf_dir.exists():
        raise InputError(f"no model folder {str(hf_dir)!r}; pass a HF folder with config.json")
    if not (hf_dir / "config.json").is_file():
        raise InputError(f"{str(hf_dir)!r} has no config.json; pass a HF model folder")
    if not (hf_dir / "model.safetensors").is_file():
        raise InputError(f"{str(hf_dir)!r} has no model.safetensors; only single-file safetensors convert")
    if not (hf_dir / "tokenizer.json").is_file():
        raise InputError(f"{str(hf_dir)!r} has no tokenizer.json; save the tokenizer with the model")
    config = json.loads((hf_dir / "config.json").read_text())
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in _ARCH:
        raise InputError(f"unknown architecture {arch!r} in {str(hf_dir)!r}; converts {', '.join(_ARCH)}")
    return config


def _tokenizer_metadata(hf_dir: Path, vocab_rows: int) -> dict[str, Any]:
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    model = tok.get("model", {})
    pre = json.dumps(tok.get("pre_tokenizer"))
    if model.get("type") != "BPE" or "ByteLevel" not in pre:
        raise InputError(f"tokenizer in {str(hf_dir)!r} is not a byte-level BPE; cannot map it to GGUF 'gpt2'")
    vocab: dict[str, int] = dict(model["vocab"])
    special: set[int] = set()
    for added in tok.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
        if added.get("special"):
            special.add(added["id"])
    tokens = [f"[PAD{i}]" for i in range(vocab_rows)]
    for text, i in vocab.items():
        if i < vocab_rows:
            tokens[i] = text
    types = [3 if i in special else (1 if not tokens[i].startswith("[PAD") else 5)  # control/normal/unused
             for i in range(vocab_rows)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    tconf_path = hf_dir / "tokenizer_config.json"
    tconf = json.loads(tconf_path.read_text()) if tconf_path.is_file() else {}

    def special_id(key: str) -> int | None:
        value = tconf.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return vocab.get(value) if value is not None else None

    # Does the HF tokenizer prepend BOS? Then llama.cpp must too (explicit, not left to defaults).
    post = json.dumps(tok.get("post_processor"))
    bos = special_id("bos_token")
    add_bos = bos is not None and tconf.get("add_bos_token", True) and (
        "TemplateProcessing" in post or tconf.get("add_bos_token") is True)
    return {"tokens": tokens, "types": types, "merges": merges, "bos": bos,
            "eos": special_id("eos_token"), "pad": special_id("pad_token"), "add_bos": bool(add_bos),
            "chat_template": chat_template(hf_dir, tconf)}


def chat_template(hf_dir: Path, tconf: dict[str, Any]) -> str | list[dict[str, str]] | None:
    """The folder's chat template as transformers saves it: `chat_template.jinja` (transformers >= 4.50),
    else `tokenizer_config.json`'s `chat_template` (a string, or a list of {name, template})."""
    jinja = hf_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    value = tconf.get("chat_template")
    if isinstance(value, dict):  # {name: template}, as a tokenizer holds several in memory
        value = [{"name": name, "template": text} for name, text in value.items()]
    return value if isinstance(value, (str, list)) and value else None


def hf_to_gguf(hf_dir: Path | str, out_file: Path | str, outtype: str = "f16") -> Path:
    """Convert a Llama/Qwen2 HF folder to a GGUF file (`f32`, `f16` or `q8_0`); returns the path.

    Norms and biases stay f32 (as llama.cpp's own converter does); 2-D weights take `outtype`
    (q8_0 only where the row length is a multiple of 32). Written to a temp file, then renamed.
    Cost: one pass over the weights; a 200K-parameter model converts in ~50 ms.
    """
    import gguf
    from safetensors.numpy import load_file

    if outtype not in _OUTTYPES:
        raise InputError(f"unknown outtype {outtype!r}; use one of {', '.join(_OUTTYPES)}")
    hf_dir, out_file = Path(hf_dir), Path(out_file)
    config = _read_config(hf_dir)
    arch = _ARCH[config["architectures"][0]]
    tensors = load_file(str(hf_dir / "model.safetensors"))
    if "lm_head.weight" not in tensors and config.get("tie_word_embeddings"):
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"]
    n_head, n_kv = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // n_head
    rope = config.get("rope_parameters") or {}
    rope_theta = float(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
    vocab_rows = tensors["model.embed_tokens.weight"].shape[0]
    tk = _tokenizer_metadata(hf_dir, vocab_rows)

    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out_file.name + ".", suffix=".tmp", dir=out_file.parent)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(tmp, arch)
        w.add_name(hf_dir.name)
        w.add_context_length(config.get("max_position_embeddings", 2048))
        w.add_embedding_length(config["hidden_size"])
        w.add_block_count(config["num_hidden_layers"])
        w.add_feed_forward_length(config["intermediate_size"])
        w.add_head_count(n_head)
        w.add_head_count_kv(n_kv)
        w.add_rope_dimension_count(head_dim)
        w.add_rope_freq_base(rope_theta)
        w.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
        w.add_vocab_size(vocab_rows)
        w.add_file_type({"f32": 0, "f16": 1, "q8_0": 7}[outtype])
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")
        w.add_token_list(tk["tokens"])
        w.add_token_types(tk["types"])
        w.add_token_merges(tk["merges"])
        for key, adder in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id), ("pad", w.add_pad_token_id)):
            if tk[key] is not None:
                adder(tk[key])
        w.add_add_bos_token(tk["add_bos"])
        w.add_add_eos_token(False)
        if tk["chat_template"] is not None:
            w.add_chat_template(tk["chat_template"])
        for name in sorted(tensors, key=_tensor_order):
            data = tensors[name].astype(np.float32)
            if arch == "llama" and ".self_attn.q_proj." in name:
                data = _rope_permute(data, n_head)
            elif arch == "llama" and ".self_attn.k_proj." in name:
                data = _rope_permute(data, n_kv)
            new_name = gguf_tensor_name(name)
            if data.ndim < 2 or outtype == "f32":
                w.add_tensor(new_name, np.ascontiguousarray(data))
            elif outtype == "q8_0" and data.shape[-1] % 32 == 0:
                q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
                w.add_tensor(new_name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                w.add_tensor(new_name, np.ascontiguousarray(data.astype(np.float16)))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(tmp, out_file)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_file


def _tensor_order(name: str) -> tuple[int, int, str]:
    if name.startswith("model.layers."):
        return (1, int(name.split(".")[2]), name)
    return (0 if "embed" in name else 2, 0, name)


def quantize_gguf(src_gguf: Path | str, dst_gguf: Path | str, qtype: str = "q4_0",
                  n_threads: int = 1) -> Path:
    """Quantize a GGUF with llama.cpp (`llama_model_quantize`); returns the destination path.

    `qtype` is a name from QUANT_TYPES (q4_0, q8_0, q4_k_m, ...). k-quants need row lengths that
    are multiples of 256; llama.cpp falls back to a legacy type for narrower tensors.
    Written to a temp file, then renamed, so a failure never leaves a half file.
    """
    src, dst = Path(src_gguf), Path(dst_gguf)
    if not src.is_file():
        raise InputError(f"no GGUF file {str(src)!r}; convert the model first (hf_to_gguf)")
    key = qtype.lower()
    if key not in QUANT_TYPES:
        raise InputError(f"unknown quantization {qtype!r}; use one of {', '.join(QUANT_TYPES)}")
    try:
        import llama_cpp
    except ImportError as error:  # optional heavy dependency
        raise InputError("llama-cpp-python is not installed; pip install llama-cpp-python==0.3.36") from error
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dst.name + ".", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    import logging

    log = logging.getLogger("llama-cpp-python")  # llama.cpp's per-tensor log lines go through it
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = QUANT_TYPES[key]
        params.nthread = n_threads
        rc = llama_cpp.llama_model_quantize(str(src).encode(), tmp.encode(), params)
        if rc != 0:
            raise InputError(f"llama.cpp could not quantize {str(src)!r} to {qtype} (code {rc}); is it a valid GGUF?")
        os.replace(tmp, dst)
    finally:
        log.setLevel(level)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


__all__ = ["hf_to_gguf", "quantize_gguf", "gguf_tensor_name", "QUANT_TYPES"]
