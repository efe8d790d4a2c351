"""The zoo's derivation operations, each HF folder(s) in -> HF folder out, deterministic.

`save` writes the result (default `save_model`, in the model's own dtype; the real-model lineage of
bench/real_lineage.py saves bf16, as real checkpoints ship) and `threads` sets training's threads.

- finetune: all weights trained further on a new corpus.
- lora_finetune: LoRA factors trained on a new corpus, then merged into the weights.
- distill: a freshly initialised student trained on text the teacher generates (sampling with a
  seeded generator, so the data set repeats exactly).
- average_merge: the element-wise mean (or convex combination) of two same-shaped models.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from kb.errors import InputError
from ingest.zoo.corpora import corpus
from ingest.zoo.tiny import ArchSpec, TrainSpec, load_model, new_model, save_model, token_rows, train


def _corpus_rows(tokenizer: Any, spec: TrainSpec) -> Any:
    seed = spec.corpus_seed if spec.corpus_seed is not None else spec.seed
    return token_rows(tokenizer, corpus(spec.topics, spec.n_docs, seed, spec.styles), spec.seq_len)


Save = Callable[[Any, Any, "Path | str", dict[str, Any]], Path]


def finetune(parent: Path | str, out_dir: Path | str, spec: TrainSpec, *, threads: int = 1,
             save: Save = save_model) -> Path:
    """Full fine-tune of `parent` on the corpus of `spec`."""
    model, tokenizer = load_model(parent)
    losses = train(model, _corpus_rows(tokenizer, spec), steps=spec.steps, batch_size=spec.batch_size,
                   lr=spec.lr, seed=spec.seed, threads=threads)
    return save(model, tokenizer, out_dir, {"op": "finetune", "train": spec.to_dict(), "final_loss": losses[-1]})


def lora_finetune(parent: Path | str, out_dir: Path | str, spec: TrainSpec, rank: int = 4,
                  alpha: float = 8.0, *, strength: float = 1.0, threads: int = 1, save: Save = save_model) -> Path:
    """LoRA fine-tune of `parent` (rank `rank` on attention and MLP matrices), merged on save at
    `strength`: W + strength · (alpha/rank) B A (merging at half strength is a common way to soften one)."""
    from ingest.zoo.lora import attach_lora, merge_lora

    model, tokenizer = load_model(parent)
    factors = attach_lora(model, rank=rank, alpha=alpha, seed=spec.seed)
    losses = train(model, _corpus_rows(tokenizer, spec), steps=spec.steps, batch_size=spec.batch_size,
                   lr=spec.lr, seed=spec.seed, params=factors, threads=threads)
    if strength != 1.0:
        for module in model.modules():
            if hasattr(module, "lora_a"):
                module.scale *= strength
    merge_lora(model)
    return save(model, tokenizer, out_dir, {"op": "lora", "rank": rank, "alpha": alpha, "strength": strength,
                                            "train": spec.to_dict(), "final_loss": losses[-1]})


def teacher_texts(teacher: Any, tokenizer: Any, n_samples: int, seed: int, max_new_tokens: int = 48,
                  batch_size: int = 64) -> list[str]:
    """`n_samples` texts sampled from `teacher` (temperature 1) after short seeded prompts."""
    import random

    import torch

    from ingest.zoo.corpora import TOPICS

    rng = random.Random(f"distill:{seed}")
    words = sorted({w for t in TOPICS.values() for w in t.nouns})
    starts = ["The", "A", "In", "Question: where does the", "Things in", "Ada said,"]
    prompts = [f"{rng.choice(starts)} {rng.choice(words)}" if rng.random() < 0.4 else rng.choice(starts)
               for _ in range(n_samples)]
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    texts: list[str] = []
    for i in range(0, n_samples, batch_size):
        chunk = prompts[i:i + batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = teacher.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0,
                                   top_k=0, top_p=1.0, eos_token_id=tokenizer.eos_token_id,
                                   pad_token_id=tokenizer.pad_token_id)
        for prompt, row in zip(chunk, out[:, enc["input_ids"].shape[1]:].tolist()):
            if tokenizer.eos_token_id in row:
                row = row[: row.index(tokenizer.eos_token_id)]
            texts.append(prompt + tokenizer.decode(row, skip_special_tokens=True))
    tokenizer.padding_side = "right"
    return texts


def distill(teacher_dir: Path | str, out_dir: Path | str, arch: ArchSpec, spec: TrainSpec,
            n_samples: int = 512, init_seed: int = 0) -> Path:
    """A fresh `arch` student (teacher's tokenizer) trained on `n_samples` teacher generations."""
    teacher, tokenizer = load_model(teacher_dir)
    texts = teacher_texts(teacher, tokenizer, n_samples, seed=spec.seed)
    del teacher
    student = new_model(arch, tokenizer, init_seed)
    losses = train(student, token_rows(tokenizer, texts, spec.seq_len), steps=spec.steps,
                   batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed)
    return save_model(student, tokenizer, out_dir, {"op": "distill", "arch": asdict(arch), "n_samples": n_samples,
                                                    "train": spec.to_dict(), "final_loss": losses[-1]})


def average_merge(a_dir: Path | str, b_dir: Path | str, out_dir: Path | str, weight: float = 0.5, *,
                  save: Save = save_model) -> Path:
    """W = weight * W_a + (1 - weight) * W_b for every tensor; tokenizer and config from `a`."""
    import torch

    a, tokenizer = load_model(a_dir)
    b, _ = load_model(b_dir)
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise InputError(f"cannot merge {str(a_dir)!r} and {str(b_dir)!r}: their tensors differ in names or shapes")
    with torch.no_grad():
        a.load_state_dict({k: weight * sa[k] + (1 - weight) * sb[k] for k in sa})
    return save(a, tokenizer, out_dir, {"op": "merge", "weight": weight})


__all__ = ["finetune", "lora_finetune", "teacher_texts", "distill", "average_merge"]
