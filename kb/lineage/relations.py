"""The relation of an inferred edge: finetune, adapter, quantized, merge or distill.

Merges are found geometrically (merges.py). For the other edges, by the evidence that decided them:
- decided by a structural (weight) channel saying "related": quantized when the child is at lower
  precision, or holds the same weights in another file format (a conversion); else the channel's own
  hint (a low-rank difference is an adapter); else finetune (closeness alone is no quantization: a
  real model's fine-tune moves its weights little relative to their size);
- decided by a structural channel but far: finetune, marked as weak evidence;
- decided by behaviour while the weights compare and are far: distill (close in behaviour only);
- no weights to compare: distill across architecture signatures; quantized at lower precision, or
  at near-identical behaviour when a precision is unknown; finetune otherwise.
"""

from __future__ import annotations

import numpy as np

from kb.channels import NAMES, REGISTRY
from kb.lineage.costs import QUANT_NEAR_WEIGHTS, Scales
from kb.lineage.evidence import ModelEvidence, precision_rank

QUANT_NEAR_FUNCTIONAL = 0.01


def relation_for(c: ModelEvidence, p: ModelEvidence, code: int, ch: dict[str, np.ndarray], ci: int,
                 pi: int, scales: Scales, kin: bool = False) -> tuple[str, str]:
    """(relation, reason) of edge c → p, whose cost channel `code` (index into NAMES) gave; `kin`: a
    structural channel found the two kin (close, or a low-rank difference)."""
    rc, rp = precision_rank(c.precision), precision_rank(p.precision)
    lower = rc is not None and rp is not None and rc < rp
    deciding = REGISTRY[code] if code >= 0 else None
    structural = next((chan for chan in REGISTRY if chan.structural and np.isfinite(ch[chan.name][ci, pi])), None)
    if structural is not None:
        d = ch[structural.name][ci, pi]
        if deciding is structural and (kin or d / scales[structural.name] < structural.related_below):
            near = d / scales[structural.name] < QUANT_NEAR_WEIGHTS
            if lower:
                return "quantized", f"weights d={d:.3g} at lower precision ({c.precision} < {p.precision})"
            if near and c.fmt and p.fmt and c.fmt != p.fmt:
                return "quantized", f"the same weights (d={d:.3g}) converted from {p.fmt} to {c.fmt}"
            if "relation" in structural.decides:
                hint = structural.relation_hint(c.vectors[structural.name], p.vectors[structural.name])
                if hint is not None:
                    return hint
            if near:  # closeness alone is no quantization: a real model's fine-tune moves its weights little
                return "finetune", f"near-identical weights d={d:.3g} at the same precision and format"
            return "finetune", f"weights d={d:.3g}, full-rank difference"
        if deciding is not None and deciding.structural:  # the weights decided, yet far
            return "finetune", f"weak evidence: weights d={d:.3g} and nothing closer"
        return "distill", f"functionally close ({NAMES[code]}) but weights far (d={d:.3g})"
    name = NAMES[code] if code >= 0 else "text"
    if c.signature and p.signature and c.signature != p.signature:
        return "distill", f"functionally close ({name}), different architecture"
    if lower:
        return "quantized", f"lower precision ({c.precision} < {p.precision}), no weight sketch"
    d = ch[name][ci, pi]
    if np.isfinite(d) and d / scales[name] < QUANT_NEAR_FUNCTIONAL and (rc is None or rp is None):
        return "quantized", f"near-identical behaviour ({name} d={d:.3g}), precision unknown"
    return "finetune", f"closest by {name} (d={d:.3g}); no weight evidence"
