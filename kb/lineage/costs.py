"""Edge costs: every channel's distance on one scale, and the constraints that shape parent choice.

Common scale: a channel's distance divided by its "unrelated" distance (`channel_scales`: fixed by
geometry for the weights, √2; the median pairwise distance for functional channels), so 1 means
"unrelated" on every channel. The cost of a pair comes from the strongest evidence that applies
(`pair_costs`): a structural (weight) channel decides when it says the two are kin — close (cost
below its `related_below`), or apart by a low-rank difference (`Channel.kin`: a merged LoRA however
strong; independent models differ at full rank) — and when it says they are independently
initialised (cost above its `independent_above`: unrelated whatever their behaviour, since shared
training data alone makes models behave alike); otherwise the smaller of the structural and the
functional cost (the first functional channel in registry order that compares both: log-likelihood
profile, else text DNA). The channel that gave the cost decided the edge. Between models whose
weights cannot compare (other architectures), behaviour links them only when closer than the
same-data null (`same_data_null`); a pair no closer counts as unrelated (cost ≥ 1).

Parent choice (`edge_costs`) makes the costs lexicographic: a pair not related by weights costs
`W_RELATED` more, so a same-signature pair with related weights always beats a pair linked only by
behaviour; then constraints and evidence:
- dates (`use_dates`): no parent released after its child (edge removed);
- declared parents: cost × `DECLARED_DISCOUNT` (evidence, not law: a contradicted one still loses);
- copies: a child pays the same for every copy of one model (copies.py) and they are ordered by how
  people make files (a quantized GGUF from a float GGUF, everything else from the checkpoint); a
  class's source never descends from one of its own copies;
- precision: a parent at lower precision than its child costs `PRECISION_PENALTY` more when it is
  quantized (q8_0 or below) or a near-identical copy (a model is not the child of its own
  conversion); so does a quantized parent of a child quantized to the same type (llama.cpp's
  quantize tool refuses quantized input unless forced with --allow-requantize: two q4_0 files of one
  model were both made from a float file, not one from the other);
- growth: where dates do not order a weight-kin pair, a parent whose weights grew from the
  child's (`PairCosts.later`) costs `DIRECTION_PENALTY` more (training grows the weight norm);
- determinism: costs are rounded to `COST_BITS` bits of mantissa, so two candidates equal up to float
  noise are exactly equal and the earlier one (models sorted by id) wins on every machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.channels import REGISTRY
from kb.lineage.copies import copy_classes, equalise, from_own_copy, source_order
from kb.lineage.evidence import ModelEvidence, channel_distances, precision_rank

UNRELATED = 1.0
"""The cost of unrelated models on the common scale (each channel's distance over its unrelated one)."""
W_RELATED = 0.5
DECLARED_DISCOUNT = 0.5
PRECISION_PENALTY = 2.0
DIRECTION_PENALTY = 2.0
QUANTIZED_RANK = 6  # q8_0 and below (evidence.PRECISION_RANK)
QUANT_NEAR_WEIGHTS = 0.02
COST_BITS = 30
"""Mantissa bits kept in a cost (relative precision ~1e-9): far below any tie factor, far above the
noise of summation order."""

Scales = dict[str, float]
"""Channel name -> its "unrelated" distance (the divisor of the common scale); and `SAME_DATA_NULL` ->
the functional cost that independently initialised models reach (`same_data_null`)."""

SAME_DATA_NULL = "same-data-null"
SAME_DATA_DEFAULT = 0.7
"""The same-data null where a KB holds too few independent same-architecture pairs to measure its
own: the lowest log-likelihood cost of such pairs over the development random zoos (seeds 0-8: 0.72;
the fixed full zoo's own: 0.58, which it measures itself)."""
SAME_DATA_MIN_PAIRS = 3


def channel_scales(evs: Sequence[ModelEvidence], sample: int = 1500, seed: int = 0) -> Scales:
    """Each channel's unrelated distance over (a sample of) the KB, and the same-data null.
    O(sample²·L) per channel."""
    rng = np.random.default_rng(seed)
    pick = np.arange(len(evs)) if len(evs) <= sample else rng.choice(len(evs), sample, replace=False)
    sub = [evs[i] for i in pick]
    distances = channel_distances(sub)
    scales = {c.name: c.fixed_unrelated if c.fixed_unrelated is not None else c.unrelated(distances[c.name])
              for c in REGISTRY}
    scales[SAME_DATA_NULL] = same_data_null(distances, scales)
    return scales


def same_data_null(distances: dict[str, np.ndarray], scales: Scales) -> float:
    """How close behaviour gets without shared history: the lowest functional cost between models a
    structural channel finds independently initialised (same architecture, its `independent_above`),
    which is what shared training data and recipe alone explain. A link by behaviour alone must beat
    it to count. `SAME_DATA_DEFAULT` when the KB holds fewer than `SAME_DATA_MIN_PAIRS` such pairs."""
    n = next(iter(distances.values())).shape[0]
    independent = np.zeros((n, n), bool)
    for chan in REGISTRY:
        if chan.structural and chan.independent_above is not None:
            independent |= np.nan_to_num(distances[chan.name] / scales[chan.name], nan=0.0) > chan.independent_above
    functional = np.full((n, n), np.nan)
    for chan in REGISTRY:
        if not chan.structural and "relatedness" in chan.decides:
            functional = np.where(np.isnan(functional), distances[chan.name] / scales[chan.name], functional)
    found = functional[np.triu(independent, 1) & np.isfinite(functional)]
    return float(found.min()) if found.size >= SAME_DATA_MIN_PAIRS else SAME_DATA_DEFAULT


def _first(ch: dict[str, np.ndarray], scales: Scales, structural: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised cost, channel code, raw distance) of the first channel of a kind that applies."""
    shape = next(iter(ch.values())).shape
    cost, code, raw = np.full(shape, np.nan), np.full(shape, -1, np.int8), np.full(shape, np.nan)
    for index, chan in enumerate(REGISTRY):
        if chan.structural != structural or "relatedness" not in chan.decides:
            continue
        take = np.isnan(cost) & np.isfinite(ch[chan.name])
        cost = np.where(take, ch[chan.name] / scales[chan.name], cost)
        code[take] = index
        raw = np.where(take, ch[chan.name], raw)
    return cost, code, raw


KIN_CHECK = 1.2
"""Structural cost up to which a pair is checked for kinship beyond distance (unrelated sits at 1)."""


@dataclass(frozen=True)
class PairCosts:
    """Per pair of models: the cost on the common scale, the channel that gave it (an index into
    `kb.channels.NAMES`, −1 where none compares the pair), that channel's raw distance, whether a
    structural channel compares the two (`weighed`), whether it says they share training history
    (`kin`), and for kin pairs how much further training carried the second (`growth[i, j]` > 0: j is
    the later one; NaN where no channel tells), and whether it says they are unrelated (`unrelated`)."""

    cost: np.ndarray
    code: np.ndarray
    raw: np.ndarray
    kin: np.ndarray
    weighed: np.ndarray
    growth: np.ndarray
    unrelated: np.ndarray
    """[i, j]: the evidence says the two share no history: weights independently initialised, or (other
    architectures) behaviour no closer than the same-data null."""

    def later(self) -> np.ndarray:
        """[i, j]: j is clearly later than i (its weights grew from i's by more than `GROWTH_MIN`)."""
        return np.nan_to_num(self.growth, nan=0.0) > GROWTH_MIN

    def for_clustering(self) -> np.ndarray:
        """Symmetric dissimilarity for families: kin pairs count as close whatever their distance,
        pairs no channel compares as twice unrelated."""
        cost = np.where(self.kin, np.minimum(self.cost, KIN_CLUSTER_COST), self.cost)
        cost = np.where(np.isfinite(cost), cost, UNRELATED_FILL)
        np.fill_diagonal(cost, 0.0)
        return (cost + cost.T) / 2.0


GROWTH_MIN = 0.002
"""Mean log norm growth above which one kin model is the later one: ~10x what rounding to f16 or
q8_0 adds (measured ≤ 2e-4; rounding noise adds its energy too, so a quantized copy also reads as later,
which it is); fine-tunes and adapters of the random zoos grow by 0.01-0.15."""
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
    independent = _independent(s_cost, s_code) & ~kin
    use_s = has_s & (kin | ~has_f | (s_cost <= np.where(has_f, f_cost, np.inf)) | independent)
    weighable = np.array([any(c.structural and c.name in e.vectors for c in REGISTRY) for e in evs])
    across = weighable[:, None] & weighable[None, :] & ~has_s  # both have weights, of other architectures
    null = scales.get(SAME_DATA_NULL, SAME_DATA_DEFAULT)
    shared_data = across & (f_cost >= null)  # behaviour no closer than shared training data explains
    f_cost = np.where(shared_data, np.maximum(f_cost, UNRELATED), f_cost)
    # in place, one m x m array at a time: a hub family holds thousands of models
    cost = np.where(use_s, s_cost, f_cost)
    del s_cost, f_cost
    cost[~use_s & ~has_f] = np.inf
    raw = np.where(use_s, s_raw, f_raw)
    del s_raw, f_raw
    code = np.where(use_s, s_code, f_code)
    unrelated = np.where(use_s, independent, shared_data)
    return PairCosts(cost, code, raw, kin, has_s, _growth(evs, kin, s_code), unrelated)


def _independent(s_cost: np.ndarray, s_code: np.ndarray) -> np.ndarray:
    """Pairs a structural channel finds independently initialised (its `independent_above`)."""
    out = np.zeros(s_cost.shape, bool)
    for index, chan in enumerate(REGISTRY):
        if chan.structural and chan.independent_above is not None:
            out |= (s_code == index) & (s_cost > chan.independent_above)
    return out


def _growth(evs: Sequence[ModelEvidence], kin: np.ndarray, s_code: np.ndarray) -> np.ndarray:
    """`PairCosts.growth` from the structural channel of each kin pair that decides direction."""
    growth = np.full(kin.shape, np.nan)
    upper = np.triu(kin, 1)
    for index, chan in enumerate(REGISTRY):
        if "direction" not in chan.decides:
            continue
        have = [i for i, e in enumerate(evs) if chan.name in e.vectors]
        pairs = upper[np.ix_(have, have)] & (s_code[np.ix_(have, have)] == index)
        if not pairs.any():
            continue
        grown = chan.growth([evs[i].vectors[chan.name] for i in have])
        rows, cols = np.nonzero(pairs)
        i, j = np.asarray(have)[rows], np.asarray(have)[cols]
        growth[i, j], growth[j, i] = grown[rows, cols], -grown[rows, cols]
    return growth


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


def not_before(day: np.ndarray, classes: np.ndarray, evs: Sequence[ModelEvidence]) -> np.ndarray:
    """Per model the day it was out no earlier than: its release, or for an undated copy its class
    source's (a file is made from its checkpoint, so it is no older than the checkpoint)."""
    out = day.copy()
    labels, counts = np.unique(classes, return_counts=True)
    for label in labels[counts > 1]:  # most models are a class of their own
        members = np.flatnonzero(classes == label)
        source = source_order([int(i) for i in members], evs)[0]
        undated = members[np.isnan(day[members])]
        out[undated] = day[source]
    return out


def dates_decide(evs: Sequence[ModelEvidence], use_dates: bool) -> np.ndarray:
    """[i, j]: both release dates are known, used and differ, so they (not weights) order the pair."""
    day = np.array([ordinal(e.released) if use_dates else np.nan for e in evs])
    with np.errstate(invalid="ignore"):
        return np.isfinite(day[:, None] - day[None, :]) & (day[:, None] != day[None, :])


def later_than(pairs: PairCosts, classes: np.ndarray, evs: Sequence[ModelEvidence], use_dates: bool) -> np.ndarray:
    """[i, j]: j grew from i by the weights, where dates do not order them and they are not copies of
    one model (between copies a norm difference is rounding, not training). Copies hold one set of
    weights, so a dated copy of j released before i orders j too: growth never tells a checkpoint from
    its own file by which of them carries a date."""
    out = pairs.later() & ~dates_decide(evs, use_dates) & (classes[:, None] != classes[None, :])
    if use_dates:
        day = np.array([ordinal(e.released) for e in evs])
        first = np.full(len(evs), np.inf)
        np.fmin.at(first, classes, day)  # each copy class's earliest date (NaN: none)
        with np.errstate(invalid="ignore"):
            out &= ~(first[classes][None, :] < day[:, None])
    return out


def edge_costs(
    evs: Sequence[ModelEvidence], pairs: PairCosts, *, use_dates: bool, use_declared: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(edge cost [child, parent] for the arborescence, allowed mask, lexicographic cost, copy class
    per model), see the module docstring."""
    cost, code = pairs.cost, pairs.code
    allowed = np.isfinite(cost)
    np.fill_diagonal(allowed, False)
    structural = structural_codes(code)
    lexical = quantize(np.where(pairs.kin & structural, cost, W_RELATED + cost))
    classes = copy_classes(cost, structural | ~pairs.weighed, evs)
    if use_dates:
        day = np.array([ordinal(e.released) for e in evs])
        with np.errstate(invalid="ignore"):
            allowed &= ~(not_before(day, classes, evs)[None, :] > day[:, None])  # parent out after child (NaN: unknown)
    allowed &= ~from_own_copy(classes, evs)
    edge = equalise(lexical, allowed, classes, evs)
    ranks = precision_ranks(evs)
    known = ranks >= 0
    both = known[:, None] & known[None, :]
    rc, rp = ranks[:, None], ranks[None, :]
    near_copy = structural & (cost < QUANT_NEAR_WEIGHTS)  # same weights up to rounding
    quantized_parent = both & (rp < rc) & ((rp <= QUANTIZED_RANK) | near_copy)  # [c, p]
    requantized = both & (rp == rc) & (rp <= QUANTIZED_RANK)
    edge = edge + PRECISION_PENALTY * (quantized_parent | requantized)
    edge = edge + DIRECTION_PENALTY * later_than(pairs, classes, evs, use_dates)  # [c, p]: p grew from c
    if use_declared:
        index = {e.id: i for i, e in enumerate(evs)}
        for ci, e in enumerate(evs):
            for parent, _relation in e.declared_parents:
                pi = index.get(parent)
                if pi is not None and allowed[ci, pi]:
                    edge[ci, pi] *= DECLARED_DISCOUNT
    return edge, allowed, lexical, classes
