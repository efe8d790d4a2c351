"""An adapter hangs on the model its update was added to.

Bit-identical matrices are inherited, never reproduced: a full fine-tune changes every matrix, while
a merged LoRA keeps the ones it does not target, identical to the model it was trained on (and to any
sibling adapter of that model), and adds B·A, of rank r, to the others. From a sibling adapter it
differs at rank r + r', from a fine-tune in every matrix. Distance cannot see this: real LoRAs lie
as near a sibling full fine-tune, or a sibling LoRA trained on like data, as their base (the real
SmolLM2 lineages, variants 2 and 3). So a checkpoint takes, among its cheapest admissible
non-descendants, the cheapest one that shows more of that signature (`Channel.adapter_evidence`:
identical matrices; and a low-rank rest) than its tree parent. Files (GGUF) are left alone: a copy
differs from its checkpoint by rounding in every matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from kb.channels import REGISTRY
from kb.lineage.arborescence import K_CANDIDATES
from kb.lineage.evidence import ModelEvidence

def adapter_evidence(child: ModelEvidence, parent: ModelEvidence) -> int:
    """The strongest `Channel.adapter_evidence` of a structural channel both models have."""
    return max((chan.adapter_evidence(child.vectors[chan.name], parent.vectors[chan.name]) for chan in REGISTRY
                if chan.structural and chan.name in child.vectors and chan.name in parent.vectors), default=0)


def rehang_adapters(parent: np.ndarray, evs: Sequence[ModelEvidence], cost: np.ndarray, classes: np.ndarray,
                    descends: Callable[[np.ndarray, int, int], bool], fixed: Collection[int] = (),
                    candidates: int = K_CANDIDATES) -> np.ndarray:
    """`parent` with each checkpoint moved to its `adapter_parent` among the models that are not its
    descendants (`descends(parent, q, c)`: q lies below c). Merges (`fixed`) stay."""
    parent = parent.copy()
    structural = [chan.name for chan in REGISTRY if chan.structural]
    for c, e in enumerate(evs):
        p = int(parent[c])
        if p < 0 or c in fixed or e.fmt == "gguf" or classes[p] == classes[c] or not any(
                name in e.vectors for name in structural):
            continue
        parent[c] = adapter_parent(c, p, evs, cost[c], classes, lambda q: not descends(parent, q, c), candidates)
    return parent


def adapter_parent(c: int, p: int, evs: Sequence[ModelEvidence], cost: np.ndarray, classes: np.ndarray,
                   admissible: Callable[[int], bool], candidates: int = K_CANDIDATES) -> int:
    """The cheapest of checkpoint c's `candidates` cheapest models (`cost`: c's row, finite where it
    may take them; outside c's copy class; `admissible`) showing the most adapter evidence, where that
    is more than its parent p shows; else p."""
    best, level = p, adapter_evidence(evs[c], evs[p])
    for q in np.argsort(cost, kind="stable")[:candidates]:
        q = int(q)
        if level == 2:
            break
        if np.isfinite(cost[q]) and q != p and classes[q] != classes[c]:
            found = adapter_evidence(evs[c], evs[q])
            if found > level and admissible(q):
                best, level = q, found
    return best
