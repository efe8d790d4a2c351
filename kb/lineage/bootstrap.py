"""Bootstrap support of inferred parents (Felsenstein 1985, applied to probes).

Each replicate resamples, with replacement and the same draw for every model:
- probes: text DNAs are recomputed from the stored per-probe projections P_i = A_i e_i
  (`kb.dna.project_probes`, computed once per model): DNA* = (1/√t) Σ_i c_i P_i with c_i the count
  of probe i in the replicate — exactly `kb.dna.combine` on the resampled indices, as one einsum;
- every other channel as it says (`Channel.bootstrap_draw`): the weight sketch resamples its blocks
  (one per weight matrix), so an edge decided by the weights gets support from resampling its
  tensors; a channel without independent parts (the log-likelihood profile: only its projection is
  stored) is held fixed.
Families are held fixed; parents are re-inferred within them with the original channel scales.
Support of an edge c → p = fraction of replicates in which p is (one of) c's parent(s). A model
without per-probe embeddings keeps its DNA in every replicate.

Cost: replicates × `infer_parents` (O(Σ m_f²) each) plus O(replicates · n · t · L) for DNAs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from kb.channels import REGISTRY
from kb.errors import InputError
from kb.lineage.costs import Scales
from kb.lineage.evidence import ModelEvidence
from kb.lineage.families import FamilyLabels
from kb.lineage.parents import ParentEdge, ParentOptions, infer_parents
from kb.progress import step


def bootstrap_support(
    evs: Sequence[ModelEvidence], families: FamilyLabels, edges: Sequence[ParentEdge],
    projections: dict[int, np.ndarray], *, replicates: int = 100, seed: int = 0,
    scales: Scales, options: ParentOptions = ParentOptions(),
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Support in [0, 1] per edge (edge order). `projections`: model index -> (t × L) per-probe
    projections; all must share t and L."""
    if replicates < 1:
        raise InputError(f"bootstrap replicates={replicates}: must be at least 1")
    shapes = {p.shape for p in projections.values()}
    if len(shapes) > 1:
        raise InputError(f"per-probe projections of different shapes {sorted(shapes)}: mixed protocols")
    rng = np.random.default_rng(seed)
    rows = sorted(projections)
    stack = np.stack([projections[i] for i in rows]).astype(np.float32) if rows else None
    # only families that have an edge need re-inference
    keep = np.isin(families.labels, np.unique([families.labels[e.child] for e in edges]))
    sub_idx = np.nonzero(keep)[0]
    local = {int(g): k for k, g in enumerate(sub_idx)}
    sub_fam = FamilyLabels(labels=families.labels[sub_idx], probability=families.probability[sub_idx],
                           n_noise=0)
    hits = np.zeros(len(edges))
    wanted = [(local[e.child], local[e.parent]) for e in edges]
    for r in range(replicates):
        dnas = {}
        if stack is not None:
            t = stack.shape[1]
            counts = np.bincount(rng.integers(0, t, t), minlength=t).astype(np.float32)
            new = np.einsum("t,ntl->nl", counts, stack) / np.sqrt(t)  # (1/√t) Σ c_i P_i
            dnas = {i: new[k] for k, i in enumerate(rows)}
        draws: dict[tuple[str, int], np.ndarray | None] = {}  # one draw per (channel, vector size)
        rep = []
        for g in sub_idx:
            e = evs[g]
            vectors = dict(e.vectors)
            if int(g) in dnas:
                vectors["text"] = dnas[int(g)]
            for chan in REGISTRY:
                v = e.vectors.get(chan.name)
                if v is None or chan.name == "text":
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
