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

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _lora_linear_class() -> type:
    import torch
    from torch import nn

    class LoRALinear(nn.Module):
        """`base(x) + scale * B(A(x))` with a frozen base."""

        def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator) -> None:
            super().__init__()
            self.base = base
            for p in base.parameters():
                p.requires_grad_(False)
            self.scale = alpha / rank
            bound = 1.0 / math.sqrt(base.in_features)  # A ~ U(-1/sqrt(in), 1/sqrt(in)); B = 0
            self.lora_a = nn.Parameter(
                (torch.rand(rank, base.in_features, generator=generator) * 2 - 1) * bound)
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + self.scale * ((x @ self.lora_a.T) @ self.lora_b.T)

        def merged(self) -> nn.Linear:
            with torch.no_grad():
                self.base.weight += self.scale * (self.lora_b @ self.lora_a)  # W' = W + (alpha/r) B A
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
            if child_name in targets and isinstance(child, nn.Linear):
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
