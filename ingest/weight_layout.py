"""Per-architecture tensor layouts: how one checkpoint's tensors map onto the canonical sketch form.

The weight sketch compares an HF folder with the GGUF files made from it, so both must present the
same matrices under the same names. Names come from the `gguf` package's TensorNameMap; this module
undoes what converters do to the *layout* (pure functions of names, shapes and hyperparameters):

- Canonical form: one matrix per projection, in nn.Linear orientation (out x in), rows in the
  order HF's attention code reads them. Fused tensors are split into their parts (row blocks):
  `attn_qkv` -> `attn_q`, `attn_k`, `attn_v`; Phi-3's fused `gate_up` -> `ffn_gate`, `ffn_up`.
  Why parts rather than fusing: the fused layouts differ between sources of one model (GPT-NeoX
  interleaves q/k/v per head, Falcon per KV group, llama.cpp stores q|k|v contiguous), while the
  parts are defined by the attention math alone, every source reaches them by a row selection
  (so streaming stays possible), and an adapter touching one projection stays a low-rank block
  of its own. Llama-family models already ship the parts, so their sketches are unchanged.
- Conv1D (GPT-2 stores in x out): read transposed.
- llama.cpp's q/k rope permutation (Llama, Mistral, OLMo and other LlamaModel descendants): the
  GGUF rows are selected back into HF order.
- Tied heads, norm offsets (Gemma stores 1 + w), learned position embeddings: handled by the
  caller (output tied to token_embd; norms are never sketched; position_embd is a plain matrix).

`VERIFIED_HF` / `VERIFIED_GGUF` list the architectures whose HF <-> GGUF agreement is tested
(tests/evidence/test_formats.py, against llama.cpp's own converter). For any other architecture the
sketch is still made, but its detail says `mapping: "unknown"`: a distance between a safetensors
sketch and a GGUF sketch of it is then no evidence either way (see `mapping_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kb.errors import InputError

# HF config.json model_type whose tensors map onto the canonical form (tested both ways).
VERIFIED_HF = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text",
                         "phi3", "gpt2", "gpt_neox", "falcon", "starcoder2", "stablelm", "olmo"})
# GGUF general.architecture values made by llama.cpp's converter for those (mistral -> llama).
VERIFIED_GGUF = frozenset({"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "gpt2", "gptneox",
                           "falcon", "starcoder2", "stablelm", "olmo"})
# GGUF architectures whose q/k rows llama.cpp's converter permutes for its rope layout.
ROPE_PERMUTED = frozenset({"llama", "granite", "granitemoe", "deci", "llama4", "olmo"})
# Architectures with a fused attn_qkv whose layout is known on each side.
_FUSED_QKV_HF = frozenset({"gpt2", "gptneox", "falcon", "phi3"})
_FUSED_QKV_GGUF = frozenset({"gpt2", "gptneox", "falcon", "phi3"})
_CONV1D = frozenset({"gpt2"})


@dataclass(frozen=True)
class Part:
    """One canonical matrix cut from a stored tensor.

    `index[j]` is the row of the stored tensor (in canonical orientation: after transposing a
    Conv1D) that holds canonical row j; None means all rows in stored order.
    """

    name: str
    rows: int
    index: np.ndarray | None = None


def _suffix(name: str) -> tuple[str, str]:
    stem, _, suffix = name.rpartition(".")
    return stem, suffix


def _qkv_rows(kind: str, rows: int, n_head: int, n_kv: int) -> dict[str, np.ndarray]:
    """Rows of q, k, v inside a fused QKV tensor of `rows` rows.

    kind "contiguous": [q (n_head*d) | k (n_kv*d) | v (n_kv*d)] (llama.cpp, GPT-2, Phi-3);
    "per_head": (n_head, 3, d), GPT-NeoX; "grouped": (n_kv, n_head/n_kv + 2, d), Falcon.
    """
    if rows % (n_head + 2 * n_kv):
        raise InputError(f"a fused QKV of {rows} rows does not split into {n_head} query and {n_kv} key/value heads")
    d = rows // (n_head + 2 * n_kv)
    if kind == "contiguous":
        q = np.arange(n_head * d)
        k = n_head * d + np.arange(n_kv * d)
        return {"q": q, "k": k, "v": k + n_kv * d}
    if kind == "per_head":
        grid = np.arange(rows).reshape(n_head, 3, d)
        return {"q": grid[:, 0].ravel(), "k": grid[:, 1].ravel(), "v": grid[:, 2].ravel()}
    if kind == "grouped":
        if n_head % n_kv:
            raise InputError(f"{n_head} query heads do not group under {n_kv} key/value heads")
        grid = np.arange(rows).reshape(n_kv, n_head // n_kv + 2, d)
        return {"q": grid[:, :-2].ravel(), "k": grid[:, -2].ravel(), "v": grid[:, -1].ravel()}
    raise InputError(f"unknown fused QKV layout {kind!r}")


def _split_qkv(name: str, rows: int, kind: str, n_head: int, n_kv: int) -> list[Part]:
    stem, suffix = _suffix(name)
    base = stem.removesuffix(".attn_qkv")
    cut = _qkv_rows(kind, rows, n_head, n_kv)
    return [Part(f"{base}.attn_{p}.{suffix}", len(cut[p]), cut[p]) for p in ("q", "k", "v")]


def _split_gate_up(name: str, rows: int) -> list[Part]:
    stem, suffix = _suffix(name)
    base = stem.removesuffix(".ffn_up")
    half = rows // 2
    return [Part(f"{base}.ffn_gate.{suffix}", half, np.arange(half)),
            Part(f"{base}.ffn_up.{suffix}", half, half + np.arange(half))]


def hf_is_conv1d(arch: str | None, canonical: str, ndim: int) -> bool:
    """GPT-2 stores its layer matrices as Conv1D (in x out): they are read transposed."""
    return arch in _CONV1D and ndim == 2 and canonical.startswith("blk.")


def hf_parts(arch: str | None, canonical: str, rows: int, config: dict[str, Any]) -> list[Part]:
    """The canonical parts of one HF tensor (`rows`: its rows in Linear orientation; 1-D: its length)."""
    n_head = int(config.get("num_attention_heads") or config.get("n_head") or 0)
    if ".attn_qkv." in canonical and arch in _FUSED_QKV_HF and n_head:
        if arch == "gpt2":
            return _split_qkv(canonical, rows, "contiguous", n_head, n_head)
        if arch == "phi3":
            n_kv = int(config.get("num_key_value_heads") or n_head)
            return _split_qkv(canonical, rows, "contiguous", n_head, n_kv)
        if arch == "gptneox":
            return _split_qkv(canonical, rows, "per_head", n_head, n_head)
        if arch == "falcon":  # HF's FalconAttention: KV groups under the new architecture, else MQA or MHA
            if config.get("new_decoder_architecture"):
                n_kv = int(config.get("num_kv_heads") or n_head)
            else:
                n_kv = 1 if config.get("multi_query", True) else n_head
            return _split_qkv(canonical, rows, "grouped", n_head, n_kv)
    if arch == "phi3" and ".ffn_up." in canonical and rows == 2 * int(config.get("intermediate_size") or -1):
        return _split_gate_up(canonical, rows)
    return [Part(canonical, rows)]


def gguf_parts(arch: str | None, canonical: str, rows: int, fields: dict[str, Any],
               rope_permuted: frozenset[str] | set[str] = ROPE_PERMUTED) -> list[Part]:
    """The canonical parts of one GGUF tensor; `fields` holds head_count, head_count_kv, feed_forward_length."""
    n_head = int(fields.get("head_count") or 0)
    n_kv = int(fields.get("head_count_kv") or n_head)
    index = None
    if arch in rope_permuted and n_head and canonical.endswith(".weight") and (
            ".attn_q." in canonical or ".attn_k." in canonical):
        heads = n_head if ".attn_q." in canonical else n_kv
        index = np.argsort(rope_permutation(rows, heads))  # canonical row j sits at GGUF row index[j]
    if ".attn_qkv." in canonical and arch in _FUSED_QKV_GGUF and n_head:
        return _split_qkv(canonical, rows, "contiguous", n_head, n_kv)
    if arch == "phi3" and ".ffn_up." in canonical and rows == 2 * int(fields.get("feed_forward_length") or -1):
        return _split_gate_up(canonical, rows)
    return [Part(canonical, rows, index)]


def rope_permutation(rows: int, n_head: int) -> np.ndarray:
    """Row permutation llama.cpp's converter applies to Llama q/k weights (HF rotate-half layout to
    GGML's interleaved rope): gguf_row[i] = hf_row[perm[i]]. Within each head the halves are
    interleaved: perm = arange(rows).reshape(n_head, 2, d/2).swapaxes(1, 2).ravel().

    >>> rope_permutation(4, 1).tolist()
    [0, 2, 1, 3]
    """
    if rows % (2 * n_head):
        raise InputError(f"a q/k matrix of {rows} rows does not split into {n_head} heads of even size")
    return np.arange(rows).reshape(n_head, 2, rows // n_head // 2).swapaxes(1, 2).ravel()


def mapping_of(kind: str, arch: str | None, names: list[str]) -> str:
    """"verified" when this source's architecture is one whose HF <-> GGUF sketches are tested to
    agree, else "unknown". A GGUF holding stacked experts (`*_exps`) is unknown even under a
    verified architecture name (Mixtral GGUFs say "llama"; HF ships each expert separately)."""
    if kind == "gguf":
        known = arch in VERIFIED_GGUF and not any("_exps." in n for n in names)
    else:
        known = arch in VERIFIED_HF
    return "verified" if known else "unknown"


def comparable_across_formats(detail_a: dict[str, Any], detail_b: dict[str, Any]) -> bool:
    """May two sketch details be compared? Same format always (same naming, same layout); across
    formats (safetensors vs GGUF) only when both mappings are verified. When False, a large
    distance or a different signature says nothing about relatedness: treat the weights as missing.

    >>> comparable_across_formats({"source": "gguf", "mapping": "unknown"}, {"source": "safetensors", "mapping": "verified"})
    False
    """
    if detail_a.get("source") == detail_b.get("source"):
        return True
    return detail_a.get("mapping") == "verified" and detail_b.get("mapping") == "verified"


__all__ = ["VERIFIED_HF", "VERIFIED_GGUF", "ROPE_PERMUTED", "Part", "hf_is_conv1d", "hf_parts", "gguf_parts",
           "rope_permutation", "mapping_of", "comparable_across_formats"]
