"""Edge costs: every channel's distance on one scale, and the constraints that shape parent choice.

Common scale: a channel's distance divided by its "unrelated" distance (`channel_scales`: fixed by
geometry for the weights, √2; the median pairwise distance for functional channels), so 1 means
"unrelated" on every channel. The cost of a pair comes from the strongest evidence that applies
(`pair_costs`): a structural (weight) channel decides when it says "related" (cost below its
`related_below`); otherwise the smaller of the structural and the functional cost (the first
functional channel in registry order that compares both: log-likelihood profile, else text DNA).
The channel that gave the cost decided the edge.

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
        if chan.structural != structural:
            continue
        take = np.isnan(cost) & np.isfinite(ch[chan.name])
        cost = np.where(take, ch[chan.name] / scales[chan.name], cost)
        code = np.where(take, index, code)
        raw = np.where(take, ch[chan.name], raw)
    return cost, code, raw


def pair_costs(ch: dict[str, np.ndarray], scales: Scales) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost, channel code, raw distance) matrices from `channel_distances` output.

    Codes index `kb.channels.NAMES`; −1 and cost inf where no channel compares the pair.
    """
    s_cost, s_code, s_raw = _first(ch, scales, structural=True)
    f_cost, f_code, f_raw = _first(ch, scales, structural=False)
    has_s, has_f = np.isfinite(s_cost), np.isfinite(f_cost)
    related = np.zeros_like(has_s)
    for index, chan in enumerate(REGISTRY):
        related |= (s_code == index) & (s_cost < chan.related_below)
    use_s = has_s & (related | ~has_f | (s_cost <= np.where(has_f, f_cost, np.inf)))
    cost = np.where(use_s, s_cost, np.where(has_f, f_cost, np.inf))
    code = np.where(use_s, s_code, np.where(has_f, f_code, -1))
    raw = np.where(use_s, s_raw, np.where(has_f, f_raw, np.nan))
    return cost, code, raw


def structural_codes(code: np.ndarray) -> np.ndarray:
    """Where the deciding channel compares weights."""
    return np.isin(code, [i for i, chan in enumerate(REGISTRY) if chan.structural])


def structurally_related(cost: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Pairs whose cost a structural channel gave, below that channel's "related" level."""
    out = np.zeros(cost.shape, bool)
    for index, chan in enumerate(REGISTRY):
        if chan.structural:
            out |= (code == index) & (cost < chan.related_below)
    return out


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
    evs: Sequence[ModelEvidence], cost: np.ndarray, code: np.ndarray, *, use_dates: bool,
    use_declared: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(edge cost [child, parent] for the arborescence, allowed mask, lexicographic cost, copy class
    per model), see the module docstring."""
    allowed = np.isfinite(cost)
    np.fill_diagonal(allowed, False)
    if use_dates:
        day = np.array([ordinal(e.released) for e in evs])
        dated = np.isfinite(day)
        allowed &= ~(dated[:, None] & dated[None, :] & (day[None, :] > day[:, None]))  # parent later
    structural = structural_codes(code)
    lexical = quantize(np.where(structurally_related(cost, code), cost, W_RELATED + cost))
    classes = copy_classes(cost, structural)
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
