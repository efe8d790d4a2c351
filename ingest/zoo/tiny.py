"""Tiny causal language models: build, train on a generated corpus, save as a HF folder.

Determinism: every build runs single-threaded (`torch.set_num_threads(1)`) with its own
seeded generators, so the same arguments give bit-identical weights in any process; the zoo
gets its parallelism from several worker processes instead of intra-op threads.

Cost: a Llama with hidden 64 and 2 layers (~100K parameters with a 512-token vocabulary)
trains at roughly 30 steps/s (batch 16 x 64 tokens) on one core; a few hundred steps give
fluent grammar text.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import InputError

if TYPE_CHECKING:  # heavy imports stay lazy
    import torch

    from ingest.zoo.tokenizers import TokenizerSpec
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "gpt2": "GPT2LMHeadModel",
                 "gptneox": "GPTNeoXForCausalLM"}


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a tiny model; `arch` is a key of ARCHITECTURES (GPT-2 and GPT-NeoX ignore kv_heads
    and rope_theta: they have neither grouped KV heads nor, for GPT-2, rotary positions)."""

    arch: str = "llama"
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 192
    max_positions: int = 256
    rope_theta: float = 10000.0


@dataclass(frozen=True)
class TrainSpec:
    """A training run: corpus (topics, styles, size), optimiser and schedule, seed."""

    topics: tuple[str, ...] = ("animals", "cooking", "space")
    styles: tuple[str, ...] = ("plain", "qa", "list", "dialogue")
    n_docs: int = 3000
    steps: int = 300
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3
    seed: int = 0
    corpus_seed: int | None = None  # defaults to seed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _single_thread() -> None:
    import torch

    from transformers.utils import logging

    torch.set_num_threads(1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.disable_progress_bar()


def new_model(spec: ArchSpec, tokenizer: "PreTrainedTokenizerBase", seed: int) -> "PreTrainedModel":
    """A freshly initialised model of `spec` sized to `tokenizer`, identical for the same seed."""
    import torch
    from transformers import (GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig,
                              LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM)

    if spec.arch not in ARCHITECTURES:
        raise InputError(f"unknown zoo architecture {spec.arch!r}; use one of {', '.join(ARCHITECTURES)}")
    _single_thread()
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    if spec.arch == "gpt2":
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=spec.hidden, n_layer=spec.layers,
                                           n_head=spec.heads, n_inner=spec.intermediate, n_positions=spec.max_positions,
                                           n_ctx=spec.max_positions, tie_word_embeddings=True, **ids))
        model.config.architectures = [ARCHITECTURES[spec.arch]]
        return model
    if spec.arch == "gptneox":
        torch.manual_seed(seed)
        model = GPTNeoXForCausalLM(GPTNeoXConfig(
            vocab_size=len(tokenizer), hidden_size=spec.hidden, num_hidden_layers=spec.layers,
            num_attention_heads=spec.heads, intermediate_size=spec.intermediate,
            max_position_embeddings=spec.max_positions, rotary_pct=0.25, tie_word_embeddings=False, **ids))
        model.config.architectures = [ARCHITECTURES[spec.arch]]
        return model
    common = dict(
        vocab_size=len(tokenizer), hidden_size=spec.hidden, intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads, max_position_embeddings=spec.max_positions,
        rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rope_parameters={"rope_type": "default", "rope_theta": spec.rope_theta},
    )
    torch.manual_seed(seed)
    if spec.arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**common, use_sliding_window=False))
    model.config.architectures = [ARCHITECTURES[spec.arch]]
    return model


def token_rows(tokenizer: "PreTrainedTokenizerBase", texts: list[str], seq_len: int) -> "torch.Tensor":
    """Pack `BOS text EOS` documents into one stream and cut it into rows of `seq_len` tokens."""
    import torch

    stream: list[int] = []
    for ids in tokenizer(texts)["input_ids"]:  # the tokenizer prepends BOS itself
        stream.extend(ids)
        stream.append(tokenizer.eos_token_id)
    n = len(stream) // seq_len
    if n == 0:
        raise InputError(f"corpus too small: {len(stream)} tokens for rows of {seq_len}")
    return torch.tensor(stream[: n * seq_len], dtype=torch.long).view(n, seq_len)


def train(model: "PreTrainedModel", rows: "torch.Tensor", *, steps: int, batch_size: int,
          lr: float, seed: int, params: list["torch.nn.Parameter"] | None = None,
          loss_fn: Any = None, threads: int = 1) -> list[float]:
    """Next-token training with AdamW and a cosine schedule; returns the loss per step.

    `params` restricts what is trained (LoRA trains only its factors). Batches are drawn from
    a generator seeded with `seed`, so runs repeat exactly. One thread by default: the zoo builds
    several tiny models in parallel; a real-sized model takes every core (`threads`).
    """
    import torch

    _single_thread()
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    trainable = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    model.train()
    losses: list[float] = []
    for step in range(steps):
        # lr: linear warm-up, then cosine decay to 10%
        scale = (step + 1) / warmup if step < warmup else 0.1 + 0.45 * (
            1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        batch = rows[torch.randint(0, rows.shape[0], (batch_size,), generator=gen)]
        loss = loss_fn(model, batch) if loss_fn else model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def save_model(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", out_dir: Path | str,
               info: dict[str, Any] | None = None) -> Path:
    """Write config.json, model.safetensors and the tokenizer (plus `zoo.json` with `info`)."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    _legacy_config_keys(model, out)
    if info is not None:
        (out / "zoo.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    return out


def _legacy_config_keys(model: "PreTrainedModel", out: Path) -> None:
    """Keys released checkpoints carry that transformers 5 no longer writes but llama.cpp's
    converter reads (Pythia's `rotary_pct`), and a tokenizer class every reader agrees on."""
    import json

    kind = getattr(model.config, "model_type", None)
    if kind == "gpt_neox":
        config = json.loads((out / "config.json").read_text())
        rope = config.get("rope_parameters") or {}
        config.setdefault("rotary_pct", rope.get("partial_rotary_factor", 0.25))
        (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    if kind == "qwen2":  # else transformers' Qwen2Tokenizer appends <|endoftext|> past the embedding rows
        conf = json.loads((out / "tokenizer_config.json").read_text())
        conf.setdefault("unk_token", None)
        (out / "tokenizer_config.json").write_text(json.dumps(conf, indent=2, sort_keys=True))


def load_model(path: Path | str) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Load a zoo folder (model in float32, eval mode) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _single_thread()
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    model.eval()
    return model, AutoTokenizer.from_pretrained(str(path))


def count_params(model: "PreTrainedModel") -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class TinySpec:
    """One tiny base model: tokenizer, shape, training run. `build_tiny` is a pure function of it."""

    tokenizer: "str | TokenizerSpec" = "tok-a"  # a name in TOKENIZERS, or a spec (random zoos)
    arch: ArchSpec = field(default_factory=ArchSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    init_seed: int = 0


def build_tiny(spec: TinySpec, out_dir: Path | str) -> Path:
    """Train a tokenizer and a fresh model per `spec` and save both in `out_dir`."""
    import tempfile

    from transformers import AutoTokenizer

    from ingest.zoo.corpora import corpus
    from ingest.zoo.tokenizers import TOKENIZERS, TokenizerSpec, train_tokenizer

    if isinstance(spec.tokenizer, TokenizerSpec):
        tok_spec = spec.tokenizer
    elif spec.tokenizer in TOKENIZERS:
        tok_spec = TOKENIZERS[spec.tokenizer]
    else:
        raise InputError(f"unknown zoo tokenizer {spec.tokenizer!r}; use one of {', '.join(TOKENIZERS)}")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = AutoTokenizer.from_pretrained(str(train_tokenizer(tok_spec, tmp)))
    model = new_model(spec.arch, tokenizer, spec.init_seed)
    t = spec.train
    rows = token_rows(tokenizer, corpus(t.topics, t.n_docs, t.corpus_seed if t.corpus_seed is not None
                                        else t.seed, t.styles), t.seq_len)
    losses = train(model, rows, steps=t.steps, batch_size=t.batch_size, lr=t.lr, seed=t.seed)
    info = {"spec": asdict(spec), "final_loss": sum(losses[-20:]) / len(losses[-20:])}
    return save_model(model, tokenizer, out_dir, info)


def greedy(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", prompt: str,
           max_new_tokens: int = 24) -> list[int]:
    """Greedy continuation token ids of `prompt` (BOS prepended by the tokenizer), prompt excluded."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    new = out[0, ids.shape[1]:].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id)]
    return new


__all__ = [
    "ARCHITECTURES", "ArchSpec", "TrainSpec", "TinySpec", "new_model", "token_rows", "train",
    "save_model", "load_model", "count_params", "build_tiny", "greedy",
]
