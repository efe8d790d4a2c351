"""An adapter hangs on the model its update was added to.

A merged LoRA leaves the matrices it does not target bit-identical to the model it was trained on and
adds B·A, of rank r, to the others. From any other model it differs by that update plus the other's
own difference: a full-rank sum from a fine-tune (no matrix left identical), rank r + r' from a
sibling adapter. Distance cannot see this: an adapter and a sibling adapter trained on similar data
lie nearer each other than either lies to their base (the real SmolLM2 lineages, variant 2). So a
checkpoint whose tree parent does not show that signature, while an admissible model that is not its
descendant does (some matrices identical, the rest apart at low rank), is re-hung on the cheapest
such model. Low rank alone is not enough: between a tiny model's fine-tune and a sibling LoRA the
99%-energy rank falls to k/2 too (the fixed zoo's llama-a-cooking and llama-a-lora-music). Files
(GGUF) are left alone: a copy differs from its checkpoint by rounding in every matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from kb.channels.weights import CHANNEL, difference_rank_profile, is_low_rank_difference, sketch_blocks
from kb.lineage.evidence import ModelEvidence

CANDIDATES = 15
"""Admissible parents tested per child, cheapest first: each test is a batch of k x k SVDs."""


def is_adapter_of(child: np.ndarray, parent: np.ndarray) -> bool:
    """Whether `child` is `parent` plus an adapter: some sketch blocks identical, the changed ones low-rank.
    The identity test comes first: it is cheap, and fails for almost every pair of a large family."""
    if child.size != parent.size:
        return False
    same = (sketch_blocks(child) == sketch_blocks(parent)).all(axis=(1, 2))
    return bool(same.any()) and not same.all() and is_low_rank_difference(difference_rank_profile(child, parent))


def rehang_adapters(parent: np.ndarray, evs: Sequence[ModelEvidence], cost: np.ndarray, classes: np.ndarray,
                    descends: Callable[[np.ndarray, int, int], bool], fixed: Collection[int] = ()) -> np.ndarray:
    """`parent` with each checkpoint that is not an adapter of its parent, but is one of an admissible
    model (`cost` finite) that is not its descendant (`descends(parent, q, c)`: q lies below c),
    moved to the cheapest such model. Merges (`fixed`) stay."""
    parent = parent.copy()
    name = CHANNEL.name
    for c, e in enumerate(evs):
        p = int(parent[c])
        if p < 0 or c in fixed or e.fmt == "gguf" or name not in e.vectors or classes[p] == classes[c]:
            continue
        if name in evs[p].vectors and is_adapter_of(e.vectors[name], evs[p].vectors[name]):
            continue
        for q in np.argsort(cost[c], kind="stable")[:CANDIDATES]:
            q = int(q)
            if (np.isfinite(cost[c, q]) and q != p and classes[q] != classes[c] and name in evs[q].vectors
                    and is_adapter_of(e.vectors[name], evs[q].vectors[name]) and not descends(parent, q, c)):
                parent[c] = q
                break
    return parent
