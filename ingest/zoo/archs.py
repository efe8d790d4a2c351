"""Tiny random models of every architecture people commonly ship as GGUF, built from a config.

No download and no training: a config of hidden 64, 2 layers and a 512-token vocabulary per
architecture, weights from transformers' own initialisation under a fixed torch seed, saved as
safetensors with a tokenizer llama.cpp's converter accepts (the zoo's byte-level BPE, or a
SentencePiece model for the architectures whose converter insists on one). These exist to check
that a model's weights are recognised across formats (tests/evidence/test_formats.py), so each
config exercises what its converter does to the weights: fused QKV (GPT-2, GPT-NeoX, Falcon,
Phi-3), Conv1D layout (GPT-2), fused gate/up (Phi-3), q/k rope permutation (Llama, Mistral,
OLMo), norm offsets and tied heads (Gemma), learned positions (GPT-2), grouped KV heads.

Cost: well under a second per model (one init, one safetensors write).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import InputError

_H, _L, _HEADS, _KV, _FF, _POS = 64, 2, 4, 2, 128, 128


@dataclass(frozen=True)
class TinyArch:
    """One architecture: its transformers class, config fields, and the tokenizer kind its
    llama.cpp converter needs ("bpe": tokenizer.json byte-level BPE; "spm": tokenizer.model)."""

    name: str
    hf_class: str
    config_class: str
    config: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = "bpe"
    tokenizer_class: str = "PreTrainedTokenizerFast"  # tokenizer_config.json; the converter loads it with AutoTokenizer
    tokenizer_config: dict[str, Any] = field(default_factory=dict)  # extra tokenizer_config.json keys
    legacy: dict[str, Any] = field(default_factory=dict)  # config.json keys released checkpoints carry and the converter reads


_COMMON = dict(hidden_size=_H, num_hidden_layers=_L, num_attention_heads=_HEADS,
               max_position_embeddings=_POS)
TINY_ARCHS: dict[str, TinyArch] = {a.name: a for a in (
    TinyArch("llama", "LlamaForCausalLM", "LlamaConfig",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, tie_word_embeddings=False)),
    TinyArch("mistral", "MistralForCausalLM", "MistralConfig",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, head_dim=_H // _HEADS,
                  sliding_window=None, tie_word_embeddings=False)),
    TinyArch("qwen2", "Qwen2ForCausalLM", "Qwen2Config",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, use_sliding_window=False,
                  tie_word_embeddings=False),
             tokenizer_config={"unk_token": None}),  # else transformers' Qwen2Tokenizer appends <|endoftext|>
    TinyArch("qwen3", "Qwen3ForCausalLM", "Qwen3Config",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, head_dim=_H // _HEADS,
                  use_sliding_window=False, tie_word_embeddings=True)),
    TinyArch("gemma", "GemmaForCausalLM", "GemmaConfig",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, head_dim=_H // _HEADS),
             tokenizer="spm"),
    TinyArch("gemma2", "Gemma2ForCausalLM", "Gemma2Config",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, head_dim=_H // _HEADS,
                  sliding_window=32, layer_types=["sliding_attention", "full_attention"]),
             tokenizer="spm"),
    TinyArch("gemma3", "Gemma3ForCausalLM", "Gemma3TextConfig",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, head_dim=_H // _HEADS,
                  sliding_window=32, layer_types=["sliding_attention", "full_attention"])),
    TinyArch("phi3", "Phi3ForCausalLM", "Phi3Config",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, tie_word_embeddings=False,
                  sliding_window=None), tokenizer_class="GPT2Tokenizer"),
    TinyArch("gpt2", "GPT2LMHeadModel", "GPT2Config",
             dict(n_embd=_H, n_layer=_L, n_head=_HEADS, n_positions=_POS, n_ctx=_POS)),
    TinyArch("gptneox", "GPTNeoXForCausalLM", "GPTNeoXConfig",
             dict(_COMMON, intermediate_size=_FF, rotary_pct=0.25, tie_word_embeddings=False),
             legacy={"rotary_pct": 0.25}),  # Pythia's config.json has it; transformers 5 writes rope_parameters
    TinyArch("falcon", "FalconForCausalLM", "FalconConfig",
             dict(hidden_size=_H, num_hidden_layers=_L, num_attention_heads=_HEADS, num_kv_heads=_KV,
                  new_decoder_architecture=True, multi_query=False, parallel_attn=True, bias=False)),
    TinyArch("starcoder2", "Starcoder2ForCausalLM", "Starcoder2Config",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, sliding_window=None)),
    TinyArch("stablelm", "StableLmForCausalLM", "StableLmConfig",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, partial_rotary_factor=0.25)),
    TinyArch("olmo", "OlmoForCausalLM", "OlmoConfig",
             dict(_COMMON, intermediate_size=_FF, num_key_value_heads=_KV, tie_word_embeddings=False)),
)}


def build_random_model(arch: str, out_dir: Path | str, seed: int = 0, spm_model: Path | None = None,
                       bpe_dir: Path | None = None) -> Path:
    """Save a randomly initialised tiny `arch` model (f32 safetensors) with its tokenizer in `out_dir`.

    `spm_model`: a SentencePiece tokenizer.model, required by the "spm" architectures (see
    `ingest.zoo.llamacpp.spm_tokenizer`); `bpe_dir`: a folder holding the zoo's tok-a tokenizer
    already trained (copied instead of training it again). Deterministic for a given seed.
    """
    import torch
    import transformers
    from transformers import AutoTokenizer

    from ingest.zoo.tokenizers import TOKENIZER_A, train_tokenizer

    if arch not in TINY_ARCHS:
        raise InputError(f"unknown tiny architecture {arch!r}; use one of {', '.join(TINY_ARCHS)}")
    spec = TINY_ARCHS[arch]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if spec.tokenizer == "spm":
        if spm_model is None or not Path(spm_model).is_file():
            raise InputError(f"architecture {arch!r} needs a SentencePiece tokenizer.model (spm_model)")
        vocab, bos, eos, pad = _write_spm_folder(Path(spm_model), out)
    else:
        if bpe_dir is not None:
            for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                if (Path(bpe_dir) / name).is_file():
                    shutil.copyfile(Path(bpe_dir) / name, out / name)
        else:
            train_tokenizer(TOKENIZER_A, out)
        tok = AutoTokenizer.from_pretrained(str(out))
        vocab, bos, eos, pad = len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
        # the generic class: AutoTokenizer would otherwise pick the model type's own (Qwen2's adds a token)
        conf = json.loads((out / "tokenizer_config.json").read_text())
        conf.update(tokenizer_class=spec.tokenizer_class, **spec.tokenizer_config)
        (out / "tokenizer_config.json").write_text(json.dumps(conf, indent=2))
    config = getattr(transformers, spec.config_class)(
        **spec.config, vocab_size=vocab, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = getattr(transformers, spec.hf_class)(config)
    with torch.no_grad():  # some inits leave norms at exactly 1 or biases at 0: make every tensor informative
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    model.config.architectures = [spec.hf_class]
    model.save_pretrained(str(out), safe_serialization=True)
    if spec.legacy:
        saved = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**saved, **spec.legacy}, indent=2))
    return out


def _write_spm_folder(spm_model: Path, out: Path) -> tuple[int, int, int, int]:
    """Copy a SentencePiece model into `out` with the tokenizer_config.json the converter reads."""
    shutil.copyfile(spm_model, out / "tokenizer.model")
    meta = json.loads(spm_model.with_suffix(".json").read_text())  # written beside it by spm_tokenizer
    (out / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False,
    }, indent=2))
    return meta["vocab_size"], meta["bos"], meta["eos"], meta["pad"]


def build_format_set(out_dir: Path | str, archs: tuple[str, ...] = tuple(TINY_ARCHS), seed: int = 0,
                     outtypes: tuple[str, ...] = ("f32", "f16", "q8_0")) -> dict[str, dict[str, Path]]:
    """Every architecture as an HF folder plus its GGUFs made by llama.cpp's converter, and by the
    project's converter where it supports the architecture.

    Layout: `<arch>/` (HF), `<arch>-<outtype>.gguf` (llama.cpp), `<arch>-own-<outtype>.gguf` (ours).
    Returns {arch: {"hf": folder, "<outtype>": gguf, "own-<outtype>": gguf}}. One converter process
    for all files. Cost: ~10 s to build 14 models, ~15 s to convert them at three types.
    """
    from ingest.convert import _ARCH as OWN_ARCHS
    from ingest.convert import hf_to_gguf
    from ingest.zoo.llamacpp import convert_hf, spm_tokenizer
    from ingest.zoo.tokenizers import TOKENIZER_A, train_tokenizer

    root = Path(out_dir)
    spm = spm_tokenizer(root / ".spm") if any(TINY_ARCHS[a].tokenizer == "spm" for a in archs) else None
    bpe = train_tokenizer(TOKENIZER_A, root / ".bpe")
    out: dict[str, dict[str, Path]] = {}
    jobs = []
    for arch in archs:
        hf = build_random_model(arch, root / arch, seed=seed, spm_model=spm, bpe_dir=bpe)
        out[arch] = {"hf": hf}
        for outtype in outtypes:
            out[arch][outtype] = root / f"{arch}-{outtype}.gguf"
            jobs.append((hf, out[arch][outtype], outtype))
        if TINY_ARCHS[arch].hf_class in OWN_ARCHS:
            for outtype in outtypes:
                out[arch][f"own-{outtype}"] = hf_to_gguf(hf, root / f"{arch}-own-{outtype}.gguf", outtype)
    convert_hf(jobs)
    return out


__all__ = ["TinyArch", "TINY_ARCHS", "build_random_model", "build_format_set"]
