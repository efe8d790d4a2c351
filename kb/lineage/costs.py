"""Edge costs: every channel's distance on one scale, and the constraints that shape parent choice.

Common scale: a channel's distance divided by its "unrelated" distance (`channel_scales`: fixed by
geometry for the weights, √2; the median pairwise distance for functional channels), so 1 means
"unrelated" on every channel. The cost of a pair comes from the strongest evidence that applies
(`pair_costs`): a structural (weight) channel decides when it says the two are kin — close (cost
below its `related_below`), or apart by a low-rank difference (`Channel.kin`: a merged LoRA however
strong; independent models differ at full rank); otherwise the smaller of the structural and the
functional cost (the first functional channel in registry order that compares both: log-likelihood
profile, else text DNA). The channel that gave the cost decided the edge.

Parent choice (`edge_costs`) makes the costs lexicographic: a pair not related by weights costs
`W_RELATED` more, so a same-signature pair with related weights always beats a pair linked only by
behaviour; then constraints and evidence:
- dates (`use_dates`): no parent released after its child (edge removed);
- declared parents: cost × `DECLARED_DISCOUNT` (evidence, not law: a contradicted one still loses);
- copies: a child pays the same for every copy of one model (copies.py) and they are ordered by how
  people make files (a quantized GGUF from a float GGUF, everything else from the checkpoint);
- precision: a parent at lower precision than its child costs `PRECISION_PENALTY` more when it is
  quantized (q8_0 or below) or a near-identical copy (a model is not the child of its own
  conversion);
- determinism: costs are rounded to `COST_BITS` bits of mantissa, so two candidates equal up to float
  noise are exactly equal and the earlier one (models sorted by id) wins on every machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.channels import REGISTRY
from kb.lineage.copies import copy_classes, equalise
from kb.lineage.evidence import ModelEvidence, channel_distances, precision_rank

W_RELATED = 0.5
DECLARED_DISCOUNT = 0.5
PRECISION_PENALTY = 2.0
QUANTIZED_RANK = 6  # q8_0 and below (evidence.PRECISION_RANK)
QUANT_NEAR_WEIGHTS = 0.02
COST_BITS = 30
"""Mantissa bits kept in a cost (relative precision ~1e-9): far below any tie factor, far above the
noise of summation order."""

Scales = dict[str, float]
"""Channel name -> its "unrelated" distance (the divisor of the common scale)."""


def channel_scales(evs: Sequence[ModelEvidence], sample: int = 1500, seed: int = 0) -> Scales:
    """Each channel's unrelated distance over (a sample of) the KB. O(sample²·L) per measured channel."""
    rng = np.random.default_rng(seed)
    pick = np.arange(len(evs)) if len(evs) <= sample else rng.choice(len(evs), sample, replace=False)
    measured = [c for c in REGISTRY if c.fixed_unrelated is None]
    sub = [ModelEvidence(id=evs[i].id, vectors={c.name: evs[i].vectors[c.name] for c in measured
                                                 if c.name in evs[i].vectors}) for i in pick]
    distances = channel_distances(sub)
    return {c.name: c.fixed_unrelated if c.fixed_unrelated is not None else c.unrelated(distances[c.name])
            for c in REGISTRY}


def _first(ch: dict[str, np.ndarray], scales: Scales, structural: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised cost, channel code, raw distance) of the first channel of a kind that applies."""
    shape = next(iter(ch.values())).shape
    cost, code, raw = np.full(shape, np.nan), np.full(shape, -1), np.full(shape, np.nan)
    for index, chan in enumerate(REGISTRY):
        if chan.structural != structural or "relatedness" not in chan.decides:
            continue
        take = np.isnan(cost) & np.isfinite(ch[chan.name])
        cost = np.where(take, ch[chan.name] / scales[chan.name], cost)
        code = np.where(take, index, code)
        raw = np.where(take, ch[chan.name], raw)
    return cost, code, raw


KIN_CHECK = 1.2
"""Structural cost up to which a pair is checked for kinship beyond distance (unrelated sits at 1)."""


@dataclass(frozen=True)
class PairCosts:
    """Per pair of models: the cost on the common scale, the channel that gave it (an index into
    `kb.channels.NAMES`, −1 where none compares the pair), that channel's raw distance, whether a
    structural channel compares the two (`weighed`) and whether it says they share training history
    (`kin`)."""

    cost: np.ndarray
    code: np.ndarray
    raw: np.ndarray
    kin: np.ndarray
    weighed: np.ndarray

    def for_clustering(self) -> np.ndarray:
        """Symmetric dissimilarity for families: kin pairs count as close whatever their distance,
        pairs no channel compares as twice unrelated."""
        cost = np.where(self.kin, np.minimum(self.cost, KIN_CLUSTER_COST), self.cost)
        cost = np.where(np.isfinite(cost), cost, UNRELATED_FILL)
        np.fill_diagonal(cost, 0.0)
        return (cost + cost.T) / 2.0


KIN_CLUSTER_COST = W_RELATED / 2
UNRELATED_FILL = 2.0
"""Cost used for pairs no channel compares (twice the 'unrelated' level) in clustering and trees."""


def pair_costs(evs: Sequence[ModelEvidence], scales: Scales,
               ch: dict[str, np.ndarray] | None = None) -> PairCosts:
    """The costs of every pair of `evs` (`ch`: their `channel_distances`, when already at hand)."""
    ch = channel_distances(evs) if ch is None else ch
    s_cost, s_code, s_raw = _first(ch, scales, structural=True)
    f_cost, f_code, f_raw = _first(ch, scales, structural=False)
    has_s, has_f = np.isfinite(s_cost), np.isfinite(f_cost)
    kin = _kin(evs, s_cost, s_code)
    use_s = has_s & (kin | ~has_f | (s_cost <= np.where(has_f, f_cost, np.inf)))
    cost = np.where(use_s, s_cost, np.where(has_f, f_cost, np.inf))
    code = np.where(use_s, s_code, np.where(has_f, f_code, -1))
    raw = np.where(use_s, s_raw, np.where(has_f, f_raw, np.nan))
    return PairCosts(cost, code, raw, kin, has_s)


def _kin(evs: Sequence[ModelEvidence], s_cost: np.ndarray, s_code: np.ndarray) -> np.ndarray:
    """Pairs a structural channel finds close, or (checked up to `KIN_CHECK`) kin by its own test."""
    kin = np.zeros(s_cost.shape, bool)
    for index, chan in enumerate(REGISTRY):
        if not chan.structural:
            continue
        mine = s_code == index
        kin |= mine & (s_cost < chan.related_below)
        check = np.triu(mine & (s_cost >= chan.related_below) & (s_cost < KIN_CHECK), 1)
        for i, j in zip(*np.nonzero(check)):
            if chan.kin(evs[i].vectors[chan.name], evs[j].vectors[chan.name]):
                kin[i, j] = kin[j, i] = True
    return kin


def structural_codes(code: np.ndarray) -> np.ndarray:
    """Where the deciding channel compares weights."""
    return np.isin(code, [i for i, chan in enumerate(REGISTRY) if chan.structural])


def quantize(x: np.ndarray, bits: int = COST_BITS) -> np.ndarray:
    """`x` rounded to `bits` bits of mantissa (inf and nan unchanged)."""
    mantissa, exponent = np.frexp(np.where(np.isfinite(x), x, 0.0))
    out = np.ldexp(np.round(mantissa * 2.0**bits) / 2.0**bits, exponent)
    return np.where(np.isfinite(x), out, x)


def precision_ranks(evs: Sequence[ModelEvidence]) -> np.ndarray:
    """Precision rank per model (−1 when unknown)."""
    return np.array([r if (r := precision_rank(e.precision)) is not None else -1 for e in evs])


def ordinal(date: str | None) -> float:
    return float(dt.date.fromisoformat(date[:10]).toordinal()) if date else np.nan


def edge_costs(
    evs: Sequence[ModelEvidence], pairs: PairCosts, *, use_dates: bool, use_declared: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(edge cost [child, parent] for the arborescence, allowed mask, lexicographic cost, copy class
    per model), see the module docstring."""
    cost, code = pairs.cost, pairs.code
    allowed = np.isfinite(cost)
    np.fill_diagonal(allowed, False)
    if use_dates:
        day = np.array([ordinal(e.released) for e in evs])
        dated = np.isfinite(day)
        allowed &= ~(dated[:, None] & dated[None, :] & (day[None, :] > day[:, None]))  # parent later
    structural = structural_codes(code)
    lexical = quantize(np.where(pairs.kin & structural, cost, W_RELATED + cost))
    classes = copy_classes(cost, structural | ~pairs.weighed)
    edge = equalise(lexical, allowed, classes, evs)
    ranks = precision_ranks(evs)
    known = ranks >= 0
    both = known[:, None] & known[None, :]
    rc, rp = ranks[:, None], ranks[None, :]
    near_copy = structural & (cost < QUANT_NEAR_WEIGHTS)  # same weights up to rounding
    quantized_parent = both & (rp < rc) & ((rp <= QUANTIZED_RANK) | near_copy)  # [c, p]
    edge = edge + PRECISION_PENALTY * quantized_parent
    if use_declared:
        index = {e.id: i for i, e in enumerate(evs)}
        for ci, e in enumerate(evs):
            for parent, _relation in e.declared_parents:
                pi = index.get(parent)
                if pi is not None and allowed[ci, pi]:
                    edge[ci, pi] *= DECLARED_DISCOUNT
    return edge, allowed, lexical, classes
