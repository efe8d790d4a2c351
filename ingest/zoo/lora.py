"""LoRA (Hu et al., 2021, arXiv 2106.09685) in plain torch: train low-rank factors, then merge.

A wrapped linear layer computes W x + (alpha / r) * B (A x), with A (r x in) random and B (out x r)
zero at the start, so training begins at the base model. Only A and B train. Merging writes
W' = W + (alpha / r) * B @ A back into the base weight, leaving a plain model whose difference
from its parent has rank <= r per matrix: the signature the weight channel looks for.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                   "c_attn", "c_proj", "c_fc",  # GPT-2 (Conv1D)
                   "query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")  # GPT-NeoX


def _lora_linear_class() -> type:
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """`base(x) + scale * B(A(x))` with a frozen base (an nn.Linear, or GPT-2's Conv1D whose
        weight is stored in x out)."""

        def __init__(self, base: nn.Module, rank: int, alpha: float, generator: torch.Generator) -> None:
            super().__init__()
            self.base = base
            for p in base.parameters():
                p.requires_grad_(False)
            self.conv1d = not isinstance(base, nn.Linear)
            n_in, n_out = base.weight.shape[::-1] if not self.conv1d else base.weight.shape
            self.scale = alpha / rank
            bound = 1.0 / math.sqrt(n_in)  # A ~ U(-1/sqrt(in), 1/sqrt(in)); B = 0
            self.lora_a = nn.Parameter((torch.rand(rank, n_in, generator=generator) * 2 - 1) * bound)
            self.lora_b = nn.Parameter(torch.zeros(n_out, rank))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + self.scale * ((x @ self.lora_a.T) @ self.lora_b.T)

        def merged(self) -> nn.Module:
            with torch.no_grad():
                delta = self.scale * (self.lora_b @ self.lora_a)  # W' = W + (alpha/r) B A
                self.base.weight += delta.T if self.conv1d else delta
            for p in self.base.parameters():
                p.requires_grad_(True)
            return self.base

    return LoRALinear


def attach_lora(model: "torch.nn.Module", rank: int = 4, alpha: float = 8.0,
                targets: tuple[str, ...] = DEFAULT_TARGETS, seed: int = 0) -> list["torch.nn.Parameter"]:
    """Wrap every linear layer named in `targets` (in place); returns the trainable LoRA factors."""
    import torch
    from torch import nn

    cls = _lora_linear_class()
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    factors: list[nn.Parameter] = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and (isinstance(child, nn.Linear) or type(child).__name__ == "Conv1D"):
                wrapped = cls(child, rank, alpha, gen)
                setattr(module, child_name, wrapped)
                factors += [wrapped.lora_a, wrapped.lora_b]
    return factors


def merge_lora(model: "torch.nn.Module") -> "torch.nn.Module":
    """Fold every LoRA wrapper back into a plain linear layer (W += scale * B @ A), in place."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if hasattr(child, "lora_a") and hasattr(child, "merged"):
                setattr(module, child_name, child.merged())
    for p in model.parameters():
        p.requires_grad_(True)
    return model


__all__ = ["DEFAULT_TARGETS", "attach_lora", "merge_lora"]
