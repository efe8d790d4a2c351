"""The reference implementation's generation algorithm (llm-dna 1.0.1's Hugging Face path): one
`generate` call per prompt, fp16, greedy. The anchor our batched backend is measured against."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_reference(model_dir: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(model in fp16 on `device`, its tokenizer), as the reference loads them."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float16).to(device).eval()
    return model, tokenizer


def generate_one_at_a_time(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int,
                           device: str = "cpu") -> int:
    """Greedy responses to `prompts`, one `generate` call each; returns the tokens generated."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    generated = 0
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt").to(device)
        with torch.inference_mode():
            out = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
        generated += out.shape[1] - encoded["input_ids"].shape[1]
    return generated
