"""Bootstrap support of inferred parents (Felsenstein 1985, applied to probes, texts and tensors).

Each replicate resamples every channel's independent parts, with replacement and the same draw for
every model:
- a channel whose parts an artifact keeps (`Channel.parts_array`: the text DNA's per-probe
  embeddings, the log-likelihood profile's per-text values) is recomputed from a resample of them
  (`Channel.from_parts`), so an edge that rests on a few probes or texts loses support;
- a channel whose stored vector has parts of its own resamples them (`Channel.bootstrap_draw`: the
  weight sketch's blocks, one per weight matrix);
- a model whose parts are missing keeps its stored vector in every replicate.
Families are held fixed; parents are re-inferred within them with the original channel scales.
Support of an edge c → p = fraction of replicates in which p is (one of) c's parent(s).

Resampling measures how stable an edge is under sampling noise, not whether another explanation
fits the same evidence. For a distillation edge one always does: behaviour alone links the two, and
models that share no weights come to behave alike from shared training data too. On the random zoos
no behaviour statistic separates students from unrelated bases trained on similar data (AUC
0.39-0.59 for the log-likelihood profile, 0.39-0.68 for greedy answers, over the development seeds
and six held-out sets: bench/distill_separability.py), so a distillation's stated support is at
most `DISTILL_SUPPORT_MAX` (`stated_support`): two explanations, one observation.

Cost: replicates × `infer_parents` (O(Σ m_f²) each) plus O(replicates · n · t · L) for the parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from kb.channels import REGISTRY
from kb.channels.base import Channel
from kb.errors import InputError
from kb.lineage.costs import Scales
from kb.lineage.evidence import ModelEvidence
from kb.lineage.families import FamilyLabels
from kb.lineage.parents import ParentEdge, ParentOptions, infer_parents
from kb.progress import step
from kb.protocol import DnaProtocol


DISTILL_SUPPORT_MAX = 0.5
"""The most support a distillation edge can state (see the module docstring)."""

Parts = dict[str, dict[int, np.ndarray]]
"""Channel name -> model index -> that model's parts (`Channel.parts`); one shape per channel."""


def bootstrap_support(
    evs: Sequence[ModelEvidence], families: FamilyLabels, edges: Sequence[ParentEdge],
    parts: Parts, *, protocol: DnaProtocol | None = None, replicates: int = 100, seed: int = 0,
    scales: Scales, options: ParentOptions = ParentOptions(),
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Support in [0, 1] per edge (edge order). `protocol`: the record the parts were made under
    (needed when `parts` is not empty)."""
    if replicates < 1:
        raise InputError(f"bootstrap replicates={replicates}: must be at least 1")
    by_name = {c.name: c for c in REGISTRY}
    stacks: list[tuple[Channel, list[int], np.ndarray]] = []
    for name, per_model in sorted(parts.items()):
        if not per_model:
            continue
        shapes = {v.shape for v in per_model.values()}
        if len(shapes) > 1:
            raise InputError(f"{name} parts of different shapes {sorted(shapes)}: mixed protocols")
        if protocol is None:
            raise InputError("bootstrap over parts needs the protocol record they were made under")
        rows = sorted(per_model)
        stacks.append((by_name[name], rows, np.stack([per_model[i] for i in rows])))
    rng = np.random.default_rng(seed)
    # only families that have an edge need re-inference
    keep = np.isin(families.labels, np.unique([families.labels[e.child] for e in edges]))
    sub_idx = np.nonzero(keep)[0]
    local = {int(g): k for k, g in enumerate(sub_idx)}
    sub_fam = FamilyLabels(labels=families.labels[sub_idx], probability=families.probability[sub_idx],
                           n_noise=0)
    hits = np.zeros(len(edges))
    wanted = [(local[e.child], local[e.parent]) for e in edges]
    for r in range(replicates):
        remade: dict[tuple[str, int], np.ndarray] = {}  # (channel, model) -> vector of this replicate
        for chan, rows, stack in stacks:
            t = stack.shape[1]
            counts = np.bincount(rng.integers(0, t, t), minlength=t)
            for i, v in zip(rows, chan.from_parts(stack, counts, protocol)):
                remade[(chan.name, i)] = v
        draws: dict[tuple[str, int], np.ndarray | None] = {}  # one draw per (channel, vector size)
        rep = []
        for g in sub_idx:
            e = evs[g]
            vectors = dict(e.vectors)
            for chan in REGISTRY:
                v = e.vectors.get(chan.name)
                if v is None:
                    continue
                if (chan.name, int(g)) in remade:
                    vectors[chan.name] = remade[(chan.name, int(g))]
                    continue
                key = (chan.name, v.size)
                if key not in draws:
                    draws[key] = chan.bootstrap_draw(v.size, rng)
                if draws[key] is not None:
                    vectors[chan.name] = chan.resample(v, draws[key])
            rep.append(replace(e, vectors=vectors))
        chosen: dict[int, set[int]] = {}
        for pe in infer_parents(rep, sub_fam, scales, options):
            chosen.setdefault(pe.child, set()).add(pe.parent)
        hits += [1.0 if p in chosen.get(c, ()) else 0.0 for c, p in wanted]
        step(progress, "bootstrap replicates", r + 1, replicates)
    return hits / replicates


def stated_support(support: float, edge: ParentEdge) -> float:
    """An edge's support as reported: its share of replicates, divided among the parents the evidence
    cannot tell apart (`ParentEdge.among`), and at most `DISTILL_SUPPORT_MAX` for a distillation."""
    out = support / edge.among
    return min(out, DISTILL_SUPPORT_MAX) if edge.relation == "distill" else out
