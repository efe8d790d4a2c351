"""A documented random process for synthetic lineages (tests and scale benchmarks).

Process (all draws from one `numpy.random.Generator(seed)`):
1. Family sizes: 1 + Poisson(mean_family − 1), until `n` models are allotted (the last one is cut).
2. Per family a root with text DNA ~ N(0, family_spread² I_L), weight sketch ~ N(0, I_s) with its
   own architecture signature, precision f32 or bf16, release date uniform over 2021–2023.
3. Tree: model k ≥ 1 of a family picks its parent uniformly among models 0..k−1 that are not
   quantized copies (a random recursive tree: expected depth ≈ ln k, hubs near the root, as in real
   model trees; a quantized file is an end product, nobody trains from it).
4. Relation by probability `relation_mix` (finetune .6, quantized .15, adapter .12, merge .06,
   distill .07). Text DNA step from the parent: N(0, σ² I) with σ = `text_step` × (0.1 for quantized,
   1 otherwise). Weight sketch: finetune adds full-rank noise (relative size `weight_step`); adapter
   a rank-2 difference in a quarter of the blocks; quantized small full-rank noise (relative 0.01)
   at q8_0/q4_0 precision; merge the midpoint of the parent and another earlier family member of the same
   signature (two true parents; a finetune when there is none); distill a fresh sketch under a new signature (close in behaviour only).
5. Release date: parent's (latest parent's for merges) + 1..200 days.

Returned truth: one (child, parent, relation) per true parent edge (merges give two).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kb.channels.weights import SKETCH_K as SKETCH_BLOCK
from kb.lineage.evidence import ModelEvidence

RELATION_MIX = {"finetune": 0.60, "quantized": 0.15, "adapter": 0.12, "merge": 0.06, "distill": 0.07}


@dataclass
class SyntheticLineage:
    evidence: list[ModelEvidence]
    truth: list[tuple[str, str, str]]
    family: np.ndarray  # true family index per model


def synthetic_lineage(
    n: int, *, mean_family: float = 20.0, dim: int = 128, family_spread: float = 4.0,
    text_step: float = 0.5, sketches: bool = False, sketch_blocks: int = 8, weight_step: float = 0.1,
    loglik: bool = False, dates: bool = True, relation_mix: dict[str, float] | None = None,
    seed: int = 0,
) -> SyntheticLineage:
    """`n` models in families with tree structure (see the module docstring for the process)."""
    rng = np.random.default_rng(seed)
    mix = relation_mix or RELATION_MIX
    names, probs = list(mix), np.array(list(mix.values()), dtype=float)
    probs /= probs.sum()
    k2 = SKETCH_BLOCK * SKETCH_BLOCK
    evs: list[ModelEvidence] = []
    truth: list[tuple[str, str, str]] = []
    family: list[int] = []
    f = 0
    base_day = dt.date(2021, 1, 1).toordinal()
    while len(evs) < n:
        size = min(1 + int(rng.poisson(max(mean_family - 1, 0))), n - len(evs))
        text = [rng.normal(0, family_spread, dim)]
        ll = [rng.normal(0, family_spread, dim)] if loglik else None
        sk = [rng.normal(0, 1, sketch_blocks * k2)] if sketches else None
        sig = [f"sig-{f}"]
        prec = [str(rng.choice(["f32", "bf16"]))]
        day = [base_day + int(rng.integers(0, 3 * 365))]
        ids = [f"f{f}/m0"]
        relation_of = ["base"]
        for k in range(1, size):
            trainable = [j for j in range(k) if relation_of[j] != "quantized"]
            p = int(trainable[rng.integers(0, len(trainable))])
            rel = str(rng.choice(names, p=probs))
            mates = [j for j in range(k) if j != p and sig[j] == sig[p]]  # merges need one architecture
            if rel == "merge" and not mates:
                rel = "finetune"
            step = text_step * (0.1 if rel == "quantized" else 1.0)
            parents = [p]
            if rel == "merge":
                q = int(rng.choice(mates))
                parents.append(q)
                t_new = (text[p] + text[q]) / 2 + rng.normal(0, step * 0.3, dim)
            else:
                t_new = text[p] + rng.normal(0, step, dim)
            text.append(t_new)
            if ll is not None:
                base = (ll[p] + ll[parents[-1]]) / 2
                ll.append(base + rng.normal(0, step * 0.5, dim))
            new_sig, new_prec = sig[p], prec[p]
            if sk is not None:
                s_new = _child_sketch(rng, rel, [sk[j] for j in parents], sketch_blocks, weight_step)
                if rel == "distill":
                    new_sig = f"sig-{f}-d{k}"
                sk.append(s_new)
            if rel == "quantized":
                new_prec = str(rng.choice(["q8_0", "q4_0"]))
            sig.append(new_sig)
            prec.append(new_prec)
            day.append(max(day[j] for j in parents) + int(rng.integers(1, 201)))
            ids.append(f"f{f}/m{k}")
            relation_of.append(rel)
            for j in parents:
                truth.append((ids[k], ids[j], rel))
        for k in range(size):
            vectors = {"text": text[k], "loglik": None if ll is None else ll[k],
                       "weights": None if sk is None else sk[k]}
            evs.append(ModelEvidence(
                id=ids[k], vectors={name: v for name, v in vectors.items() if v is not None},
                signature=sig[k], precision=prec[k],
                released=dt.date.fromordinal(day[k]).isoformat() if dates else None,
            ))
            family.append(f)
        f += 1
    return SyntheticLineage(evidence=evs, truth=truth, family=np.array(family))


def _child_sketch(rng: np.random.Generator, rel: str, parents: list[np.ndarray], blocks: int,
                  step: float) -> np.ndarray:
    k = SKETCH_BLOCK
    p = parents[0]
    scale = np.linalg.norm(p) / np.sqrt(p.size)
    if rel == "merge":
        return (parents[0] + parents[1]) / 2
    if rel == "distill":
        return rng.normal(0, scale, p.size)
    if rel == "quantized":
        return p + rng.normal(0, 0.01 * scale, p.size)
    if rel == "adapter":
        out = p.reshape(blocks, k, k).copy()
        for b in rng.choice(blocks, max(1, blocks // 4), replace=False):
            u, v = rng.normal(0, 1, (k, 2)), rng.normal(0, 1, (2, k))
            out[b] += 2.0 * step * scale * (u @ v) / np.sqrt(2)  # rank-2 difference
        return out.ravel()
    return p + rng.normal(0, step * scale, p.size)  # finetune: full-rank difference
