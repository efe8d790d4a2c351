"""An adapter hangs on the model its update was added to.

A merged LoRA leaves the matrices it does not target bit-identical to the model it was trained on and
adds B·A, of rank r, to the others. From any other model it differs by that update plus the other's
own difference: a full-rank sum from a fine-tune (no matrix left identical), rank r + r' from a
sibling adapter. Distance cannot see this: an adapter and a sibling adapter trained on similar data
lie nearer each other than either lies to their base (the real SmolLM2 lineages, variant 2). So a
checkpoint whose tree parent does not show that signature (`Channel.adapter_of`), while an admissible
model that is not its descendant does, is re-hung on the cheapest such model. Files (GGUF) are left
alone: a copy differs from its checkpoint by rounding in every matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from kb.channels import REGISTRY
from kb.lineage.evidence import ModelEvidence

CANDIDATES = 15
"""Admissible parents tested per child, cheapest first: each test may cost a batch of k x k SVDs."""


def adapter_of(child: ModelEvidence, parent: ModelEvidence) -> bool:
    """Whether a structural channel both models have shows `child` to be `parent` plus an adapter."""
    return any(chan.structural and chan.name in child.vectors and chan.name in parent.vectors
               and chan.adapter_of(child.vectors[chan.name], parent.vectors[chan.name]) for chan in REGISTRY)


def rehang_adapters(parent: np.ndarray, evs: Sequence[ModelEvidence], cost: np.ndarray, classes: np.ndarray,
                    descends: Callable[[np.ndarray, int, int], bool], fixed: Collection[int] = ()) -> np.ndarray:
    """`parent` with each checkpoint that is not an adapter of its parent, but is one of an admissible
    model (`cost` finite) that is not its descendant (`descends(parent, q, c)`: q lies below c),
    moved to the cheapest such model. Merges (`fixed`) stay."""
    parent = parent.copy()
    for c, e in enumerate(evs):
        p = int(parent[c])
        if p < 0 or c in fixed or e.fmt == "gguf" or classes[p] == classes[c] or adapter_of(e, evs[p]):
            continue
        for q in np.argsort(cost[c], kind="stable")[:CANDIDATES]:
            q = int(q)
            if (np.isfinite(cost[c, q]) and q != p and classes[q] != classes[c]
                    and adapter_of(e, evs[q]) and not descends(parent, q, c)):
                parent[c] = q
                break
    return parent
