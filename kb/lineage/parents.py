"""Directed parents: a minimum spanning arborescence per family over best-evidence edge costs.

Edge cost (child c → parent p), from `pair_costs`: each channel's distance is put on a common scale
where "unrelated" ≈ 1 — weights: d_w / √2 (two independent models sit at √2); functional channels:
d / median pairwise distance of that channel over the KB. The cost of a pair is its weight cost when
the two share a signature and the weights say "related" (cost < `W_RELATED`); otherwise the smaller of
the weight cost and the functional cost (log-likelihood profile where both have one, else text DNA).
The channel that gave the cost decided the edge. For choosing parents (not for families and
trees) the costs are made lexicographic: a pair not related by weights costs `W_RELATED` more, so a
same-signature pair with related weights always beats a pair linked only by behaviour (measured on
a synthetic lineage with all three channels: parent accuracy 0.90 → see bench/RESULTS.md).

Constraints and evidence:
- dates (`use_dates`): no parent released after its child (edge removed); a declared parent's edge
  costs `DECLARED_DISCOUNT` × its evidence cost (evidence, not law: a contradicted one still loses).
- precision: a parent at lower precision than its child costs `PRECISION_PENALTY` more when it is
  quantized (q8_0 or below) or a near-identical copy (a model is not the child of its own
  conversion); otherwise float precisions mix freely in practice (a bf16 base, an f32 fine-tune). Near-ties between copies of one model at
  several precisions are broken by a factor 1 + `PRECISION_TIE`·gap: a quantized child prefers the
  nearest higher float precision (f32 → f16 → q4_0, as llama.cpp's quantize tool works from a
  float GGUF; a quantized parent counts as 10 steps) — except the types llama.cpp's converter
  writes straight from a checkpoint (f16, bf16, q8_0), which, like any other child, prefer the most
  precise copy (the zoo has both: q8_0 from the HF model, q4_0 from the f16 GGUF).
- one root per family: a virtual root with an edge of cost BIG + root_cost(v) to every member, BIG
  large enough that the arborescence uses exactly one. With symmetric costs the cheapest tree is the
  same for every root, so the root is chosen by `root_cost`:
  earliest release date (when dates are used and known) ≫ not quantized (0.1 per float precision
  step) ≫ most central member (smallest mean cost to the rest of the family: fine-tunes move
  away from their base in independent directions, so the base sits at the centre of its family — the medoid rule). Without dates the
  tree is then re-rooted at its centroid (the node whose removal leaves the smallest largest
  component), where the root of a random recursive tree lies; direction of every other edge follows
  from the root. Measured on synthetic lineages (bench/RESULTS.md): parent accuracy 0.98–0.99
  with dates, 0.90–0.92 without; the zoo's figures come from `dnakb eval`.
- merges: a model m whose sketch lies on the segment between two others a, b (weight space; the
  sketch is linear so collinearity survives it): m = a + t(b − a) + h with ‖h‖/‖b − a‖ < `MERGE_HEIGHT`
  and `MERGE_T` ≤ t ≤ 1 − `MERGE_T`. m may then only take a or b as parent, a and b may not descend
  from m, and m gets the other one as a second parent (relation merge).

Relations, per edge: merge (above); quantized (weights related and the child at lower precision, or
near-identical weights); adapter (low-rank weight difference, `evidence.is_low_rank_difference`);
distill (decided by a functional channel: close in behaviour, not in weights); finetune otherwise.
Without weights, relation falls back to: different signature → distill, lower precision (or, when
a precision is unknown, near-identical behaviour) → quantized, else finetune.

Cost: per family of m members O(m²·(L+s)) for distances, Edmonds O(E log V) on E = m² candidate
edges (E = m·k for families above `DENSE_MAX`, k = `K_CANDIDATES` nearest plus one guaranteed root
edge); the arborescence is Chu–Liu/Edmonds (Chu & Liu 1965; Edmonds 1967): our dense numpy
version up to `DENSE_MAX` members (checked against networkx's in the tests), networkx's above.
References: Horwitz et al. 2024, "On the Origin of Llamas: Model Tree Heritage Recovery" (MoTHer).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.errors import InputError
from kb.lineage.evidence import (
    UNRELATED_WEIGHT_DISTANCE,
    ModelEvidence,
    channel_distances,
    difference_rank_profile,
    is_low_rank_difference,
    precision_rank,
    sketch_groups,
)
from kb.lineage.families import FamilyLabels

W_RELATED = 0.5
DECLARED_DISCOUNT = 0.5
PRECISION_PENALTY = 2.0
PRECISION_TIE = 1e-4
QUANTIZED_RANK = 6  # q8_0 and below (evidence.PRECISION_RANK)
QUANT_NEAR_WEIGHTS = 0.02
QUANT_NEAR_FUNCTIONAL = 0.01
MERGE_HEIGHT = 0.05
MERGE_T = 0.15
MERGE_NEIGHBOURS = 8
DENSE_MAX = 300
K_CANDIDATES = 15
_BIG = 1e6
_BIG_ROOT = 100.0
CODE_NAMES = ("weights", "loglik", "text")


@dataclass(frozen=True)
class Scales:
    """Typical 'unrelated' distance per channel (the divisor that puts channels on one scale)."""

    text: float = 1.0
    loglik: float = 1.0
    weights: float = UNRELATED_WEIGHT_DISTANCE


@dataclass(frozen=True)
class ParentEdge:
    """One inferred edge on indices into the evidence list."""

    child: int
    parent: int
    cost: float
    distance: float
    channel: str
    relation: str
    method: str = "arborescence"
    reason: str = ""


@dataclass(frozen=True)
class ParentOptions:
    use_dates: bool = True
    use_declared: bool = True
    use_merges: bool = True
    dense_max: int = DENSE_MAX
    k_candidates: int = K_CANDIDATES


def channel_scales(evs: Sequence[ModelEvidence], sample: int = 1500, seed: int = 0) -> Scales:
    """Median pairwise distance of each functional channel over (a sample of) the KB. O(sample²·L)."""
    rng = np.random.default_rng(seed)
    pick = np.arange(len(evs)) if len(evs) <= sample else rng.choice(len(evs), sample, replace=False)
    sub = [ModelEvidence(id=evs[i].id, text_dna=evs[i].text_dna, loglik=evs[i].loglik) for i in pick]
    ch = channel_distances(sub)
    out = {}
    for name in ("text", "loglik"):
        d = ch[name][np.triu_indices(len(sub), 1)]
        d = d[np.isfinite(d) & (d > 0)]
        out[name] = float(np.median(d)) if d.size else 1.0
    return Scales(text=out["text"], loglik=out["loglik"])


def pair_costs(ch: dict[str, np.ndarray], scales: Scales) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost, channel code, raw distance) matrices from `channel_distances` output.

    Codes index `CODE_NAMES`; −1 and cost inf where no channel applies to the pair.
    """
    w = ch["weights"] / scales.weights
    ll = ch["loglik"] / scales.loglik
    tx = ch["text"] / scales.text
    has_ll = np.isfinite(ll)
    f = np.where(has_ll, ll, tx)  # functional: log-likelihood profile first, else text DNA
    f_code = np.where(has_ll, 1, 2)
    f_raw = np.where(has_ll, ch["loglik"], ch["text"])
    has_w, has_f = np.isfinite(w), np.isfinite(f)
    use_w = has_w & ((w < W_RELATED) | ~has_f | (w <= np.where(has_f, f, np.inf)))
    cost = np.where(use_w, w, np.where(has_f, f, np.inf))
    code = np.where(use_w, 0, np.where(has_f, f_code, -1))
    raw = np.where(use_w, ch["weights"], np.where(has_f, f_raw, np.nan))
    return cost, code, raw


# -- merges ---------------------------------------------------------------------------------------
def find_merges(
    evs: Sequence[ModelEvidence], weights: np.ndarray, *, use_dates: bool = True,
    neighbours: int = MERGE_NEIGHBOURS,
) -> dict[int, tuple[int, int, float, float]]:
    """m -> (a, b, t, relative height) for models lying on a segment between two others.

    Pure geometry on the raw sketches (one Gram matrix per signature group, O(g²·s); then
    O(g·k²) triples on each model's k nearest same-signature neighbours).
    """
    found: dict[int, tuple[int, int, float, float]] = {}
    for rows in sketch_groups(evs):
        if len(rows) < 3:
            continue
        x = np.stack([evs[i].sketch for i in rows])
        g = x @ x.T
        sub = weights[np.ix_(rows, rows)]
        for li, m in enumerate(rows):
            order = np.array([j for j in np.argsort(sub[li]) if j != li][:neighbours])
            if order.size < 2:
                continue
            ia, ib = np.triu_indices(order.size, 1)
            a, b = order[ia], order[ib]
            ab2 = g[a, a] + g[b, b] - 2 * g[a, b]  # ‖b − a‖²
            am2 = g[li, li] + g[a, a] - 2 * g[li, a]  # ‖m − a‖²
            dot = g[li, b] - g[li, a] - g[a, b] + g[a, a]  # ⟨m − a, b − a⟩
            with np.errstate(divide="ignore", invalid="ignore"):
                t = dot / ab2
                h = np.sqrt(np.clip(am2 - t * t * ab2, 0.0, None) / ab2)  # ‖m − a − t(b − a)‖/‖b − a‖
            ok = ((sub[a, b] / UNRELATED_WEIGHT_DISTANCE >= 2 * QUANT_NEAR_WEIGHTS)  # a ≠ b in weights
                  & (t >= MERGE_T) & (t <= 1 - MERGE_T) & (h < MERGE_HEIGHT))
            best = None
            for q in np.nonzero(ok)[0][np.argsort(h[ok])]:
                pa, pb = rows[int(a[q])], rows[int(b[q])]
                if use_dates and not (_not_later(evs[pa], evs[m]) and _not_later(evs[pb], evs[m])):
                    continue
                best = (pa, pb, float(t[q]), float(h[q]))
                break
            if best is not None:
                found[m] = best
    return found


def _ordinal(date: str | None) -> float:
    import datetime as dt

    return float(dt.date.fromisoformat(date[:10]).toordinal()) if date else np.nan


def _not_later(parent: ModelEvidence, child: ModelEvidence) -> bool:
    return parent.released is None or child.released is None or parent.released <= child.released


# -- relations ------------------------------------------------------------------------------------
def relation_for(c: ModelEvidence, p: ModelEvidence, code: int, ch: dict[str, np.ndarray], ci: int,
                 pi: int, scales: Scales) -> tuple[str, str]:
    """(relation, reason) of edge c → p decided by channel `code` (merges are labelled elsewhere)."""
    rc, rp = precision_rank(c.precision), precision_rank(p.precision)
    lower = rc is not None and rp is not None and rc < rp
    w = ch["weights"][ci, pi]
    if np.isfinite(w):
        wn = w / scales.weights
        if code == 0 and wn < W_RELATED:
            if lower:
                return "quantized", f"weights d={w:.3g} at lower precision ({c.precision} < {p.precision})"
            profile = difference_rank_profile(c.sketch, p.sketch)
            if is_low_rank_difference(profile):
                changed = profile[~np.isnan(profile)]
                return "adapter", (f"low-rank weight difference (median rank {np.median(changed):.0f} "
                                   f"in {changed.size}/{profile.size} changed matrices)")
            if wn < QUANT_NEAR_WEIGHTS:
                return "quantized", f"near-identical weights d={w:.3g}"
            return "finetune", f"weights d={w:.3g}, full-rank difference"
        if code == 0:  # the weights decided, yet far: the nearest of unrelated-looking models
            return "finetune", f"weak evidence: weights d={w:.3g} and nothing closer"
        return "distill", f"functionally close ({CODE_NAMES[code]}) but weights far (d={w:.3g})"
    if c.signature and p.signature and c.signature != p.signature:
        return "distill", f"functionally close ({CODE_NAMES[code]}), different architecture"
    if lower:
        return "quantized", f"lower precision ({c.precision} < {p.precision}), no weight sketch"
    name = CODE_NAMES[code] if code >= 0 else "text"
    d = ch[name][ci, pi]
    scale = scales.loglik if name == "loglik" else scales.text
    if np.isfinite(d) and d / scale < QUANT_NEAR_FUNCTIONAL and (rc is None or rp is None):
        return "quantized", f"near-identical behaviour ({name} d={d:.3g}), precision unknown"
    return "finetune", f"closest by {name} (d={d:.3g}); no weight evidence"


# -- one family -----------------------------------------------------------------------------------
def family_parents(
    evs: Sequence[ModelEvidence], scales: Scales, options: ParentOptions = ParentOptions(),
) -> list[ParentEdge]:
    """Parent edges within one family (indices into `evs`). Every member but the root gets one
    edge; merge children get two. See the module docstring for the model."""
    m = len(evs)
    if m < 2:
        return []
    ch = channel_distances(evs)
    cost, code, raw = pair_costs(ch, scales)
    allowed = np.isfinite(cost)
    np.fill_diagonal(allowed, False)
    # lexicographic: any weight-related pair beats any pair only functional evidence links
    lexical = np.where((code == 0) & (cost < W_RELATED), cost, W_RELATED + cost)
    edge_cost = lexical.copy()
    ranks = np.array([precision_rank(e.precision) if precision_rank(e.precision) is not None else -1
                      for e in evs])
    known = ranks >= 0
    both = known[:, None] & known[None, :]
    rc, rp = ranks[:, None], ranks[None, :]
    near_copy = (code == 0) & (cost < QUANT_NEAR_WEIGHTS)  # same weights up to rounding
    quantized_parent = both & (rp < rc) & ((rp <= QUANTIZED_RANK) | near_copy)  # [c, p]
    edge_cost = edge_cost + PRECISION_PENALTY * quantized_parent
    # tie-breaks among near-equal candidates (copies of one model at several precisions): a
    # quantization steps down from the nearest higher precision (f32 → f16 → q4_0); any other child
    # prefers the most precise copy of its parent
    top = ranks.max() if known.any() else 0
    # llama.cpp's converter writes f16/bf16/q8_0 straight from the checkpoint (most precise copy);
    # its quantize tool makes the other types from a float GGUF (nearest higher float precision)
    converter_type = rc >= QUANTIZED_RANK
    step_down = np.where(rp <= QUANTIZED_RANK, 10, np.where(converter_type, top - rp, rp - rc))
    gap = np.where(both & (rc < rp), step_down, np.where(known[None, :], top - rp, 0))
    edge_cost = edge_cost * (1.0 + PRECISION_TIE * gap)
    if options.use_dates:
        day = np.array([_ordinal(e.released) for e in evs])
        dated = np.isfinite(day)
        allowed &= ~(dated[:, None] & dated[None, :] & (day[None, :] > day[:, None]))  # parent later
    if options.use_declared:
        index = {e.id: i for i, e in enumerate(evs)}
        for ci, e in enumerate(evs):
            for parent, _rel in e.declared_parents:
                pi = index.get(parent)
                if pi is not None and allowed[ci, pi]:
                    edge_cost[ci, pi] *= DECLARED_DISCOUNT
    merges = find_merges(evs, ch["weights"], use_dates=options.use_dates) if options.use_merges else {}
    for mi, (a, b, _t, _h) in merges.items():
        keep = np.zeros(m, bool)
        keep[[a, b]] = True
        allowed[mi] &= keep
        allowed[a, mi] = allowed[b, mi] = False
    merged = np.zeros(m, bool)
    merged[list(merges)] = True
    root_cost = _root_costs(evs, lexical, ranks, options.use_dates) + _BIG_ROOT * merged  # a merge has parents
    parent = _arborescence(np.where(allowed, edge_cost, np.inf), root_cost, options)
    if not (options.use_dates and any(e.released for e in evs)) and m > 2:
        # no dates: root at the centroid of the tree just found, where a random recursive
        # tree's root sits (the medoid of raw costs is a weaker guess for deep families)
        centroid = _tree_centroid(parent)
        if parent[centroid] >= 0:
            central = np.ones(m)
            central[centroid] = 0.0
            root_cost = _root_costs(evs, lexical, ranks, options.use_dates, central) + _BIG_ROOT * merged
            parent = _arborescence(np.where(allowed, edge_cost, np.inf), root_cost, options)
    edges = []
    for ci in range(m):
        pi = int(parent[ci])
        if pi < 0:
            continue
        c_code = int(code[ci, pi])
        channel = CODE_NAMES[c_code] if c_code >= 0 else "none"
        if ci in merges and pi in merges[ci][:2]:
            a, b, t, h = merges[ci]
            other = b if pi == a else a
            reason = f"between {evs[a].id} and {evs[b].id} in weight space (t={t:.2f}, height {h:.3f})"
            edges.append(ParentEdge(ci, pi, float(cost[ci, pi]), float(raw[ci, pi]), "weights", "merge",
                                    reason=reason))
            if not _descends(parent, other, ci):
                edges.append(ParentEdge(ci, other, float(cost[ci, other]), float(raw[ci, other]),
                                        "weights", "merge", method="merge", reason=reason))
            continue
        if not np.isfinite(cost[ci, pi]):
            edges.append(ParentEdge(ci, pi, float("inf"), float("nan"), "none", "finetune",
                                    reason="forced: no channel shared with any admissible parent"))
            continue
        relation, reason = relation_for(evs[ci], evs[pi], c_code, ch, ci, pi, scales)
        edges.append(ParentEdge(ci, pi, float(cost[ci, pi]), float(raw[ci, pi]), channel, relation,
                                reason=reason))
    return edges


def _descends(parent: np.ndarray, node: int, ancestor: int) -> bool:
    seen = 0
    while node >= 0 and seen <= parent.size:
        if node == ancestor:
            return True
        node = int(parent[node])
        seen += 1
    return False


def _tree_centroid(parent: np.ndarray) -> int:
    """The node whose removal leaves the smallest largest component (Jordan 1869). O(m)."""
    m = parent.size
    children: list[list[int]] = [[] for _ in range(m)]
    roots = []
    for c, p in enumerate(parent):
        (children[p] if p >= 0 else roots).append(c)
    order, stack = [], list(roots)
    while stack:
        x = stack.pop()
        order.append(x)
        stack.extend(children[x])
    size = np.ones(m, int)
    for x in reversed(order):
        if parent[x] >= 0:
            size[parent[x]] += size[x]
    worst = [max([m - size[x]] + [size[c] for c in children[x]]) for x in range(m)]
    return int(np.argmin(worst))


def _root_costs(evs: Sequence[ModelEvidence], cost: np.ndarray, ranks: np.ndarray, use_dates: bool,
                central: np.ndarray | None = None) -> np.ndarray:
    """Lower = better root: earliest date ≫ highest precision ≫ most central (see module docstring)."""
    m = len(evs)
    if central is None:
        finite = np.where(np.isfinite(cost), cost, np.nan)
        with warnings.catch_warnings():  # a member no channel links to has no mean: handled below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.where(np.eye(m, dtype=bool), np.nan, finite), axis=1)
        mean = np.nan_to_num(mean, nan=np.nanmax(mean) if np.isfinite(mean).any() else 0.0)
        central = mean / mean.max() if mean.max() > 0 else np.zeros(m)
    out = 0.5 * central
    known = ranks >= 0
    if known.any():
        quantized = known & (ranks <= QUANTIZED_RANK) & (ranks < ranks.max())
        out = out + PRECISION_PENALTY * quantized + 0.1 * np.where(known, ranks.max() - ranks, 0)
    if use_dates:
        dated = [e.released for e in evs if e.released]
        if dated:
            order = {d: k for k, d in enumerate(sorted(set(dated)))}
            span = max(len(order) - 1, 1)
            out = out + 10.0 * np.array([order[e.released] / span if e.released else 0.5 for e in evs])
    return out


def _arborescence(cost: np.ndarray, root_cost: np.ndarray, options: ParentOptions) -> np.ndarray:
    """parent[c] (−1 for the root) of the minimum arborescence with exactly one root.

    cost[c, p] is the cost of edge c → p (inf = not allowed). Large families keep each child's
    `k_candidates` cheapest parents plus an edge to the best root candidate, so that one root
    always suffices.
    """
    m = cost.shape[0]
    if m == 1:
        return np.array([-1])
    if m <= options.dense_max:
        aug = np.full((m + 1, m + 1), np.inf)
        aug[:m, :m] = cost
        aug[:m, m] = _BIG + root_cost  # the virtual root, index m
        parent = _edmonds_dense(aug, m)[:m]
        parent[parent == m] = -1
        return _one_root(parent, root_cost)
    import networkx as nx  # networkx's Chu–Liu/Edmonds on the sparse candidate graph

    r0 = int(np.argmin(root_cost))
    k = min(options.k_candidates, m - 1)
    nearest = np.argpartition(cost, k, axis=1)[:, :k]
    sparse = np.zeros(cost.shape, bool)
    sparse[np.arange(m)[:, None], nearest] = True
    sparse[:, r0] = True
    keep = np.isfinite(cost) & sparse
    graph = nx.DiGraph()
    graph.add_nodes_from(range(-1, m))
    cs, ps = np.nonzero(keep)
    graph.add_weighted_edges_from(zip(ps.tolist(), cs.tolist(), cost[cs, ps].tolist()))
    graph.add_weighted_edges_from((-1, c, _BIG + float(root_cost[c])) for c in range(m))
    tree = nx.minimum_spanning_arborescence(graph, attr="weight")
    parent = np.full(m, -1)
    for p, c in tree.edges():
        parent[c] = p
    return _one_root(parent, root_cost)


def _one_root(parent: np.ndarray, root_cost: np.ndarray) -> np.ndarray:
    m = parent.size
    roots = [c for c in range(m) if parent[c] < 0]
    if len(roots) > 1:  # a constraint left no admissible parent: attach to the chosen root's tree
        main = min(roots, key=lambda c: root_cost[c])
        for c in roots:
            if c != main:
                parent[c] = main
    return parent


# -- all families ---------------------------------------------------------------------------------
def infer_parents(
    evs: Sequence[ModelEvidence], families: FamilyLabels, scales: Scales | None = None,
    options: ParentOptions = ParentOptions(),
) -> list[ParentEdge]:
    """Parent edges of every family (global indices). Families are independent: O(Σ m_f²)."""
    if len(evs) != families.labels.size:
        raise InputError(f"{len(evs)} models but {families.labels.size} family labels")
    scales = scales or channel_scales(evs)
    out: list[ParentEdge] = []
    for members in families.members():
        if members.size < 2:
            continue
        sub = [evs[i] for i in members]
        for e in family_parents(sub, scales, options):
            out.append(ParentEdge(int(members[e.child]), int(members[e.parent]), e.cost, e.distance,
                                  e.channel, e.relation, e.method, e.reason))
    return out


def _edmonds_dense(cost: np.ndarray, root: int) -> np.ndarray:
    """Chu–Liu/Edmonds on a dense matrix: parent[c] minimising Σ cost[c, parent[c]] over spanning
    arborescences rooted at `root` (cost[c, p] = edge p → c; inf = absent). O(m²) per contraction,
    O(m³) worst case: used for families up to `DENSE_MAX` models (networkx's implementation is
    pure Python and dominated the run time at 10k models). Raises InputError if no arborescence.
    """
    m = cost.shape[0]
    w = cost.astype(np.float64).copy()
    np.fill_diagonal(w, np.inf)
    w[root, :] = np.inf
    best = np.argmin(w, axis=1)
    best[root] = -1
    if any(c != root and not np.isfinite(w[c, best[c]]) for c in range(m)):
        raise InputError("no spanning arborescence: some model has no admissible parent")
    cycle = _find_cycle(best, root)
    if cycle is None:
        return best
    in_cycle = np.zeros(m, bool)
    in_cycle[cycle] = True
    outside = np.nonzero(~in_cycle)[0]
    k = outside.size  # contracted node gets index k
    new = np.full((k + 1, k + 1), np.inf)
    new[:k, :k] = w[np.ix_(outside, outside)]
    cyc = np.asarray(cycle)
    # edges leaving the cycle: outside child c, parent v in the cycle
    leave = w[np.ix_(outside, cyc)]
    leave_arg = cyc[np.argmin(leave, axis=1)]
    new[:k, k] = leave.min(axis=1)
    # edges entering the cycle at v from outside parent p: cost reduced by v's cycle edge
    enter = w[np.ix_(cyc, outside)] - w[cyc, best[cyc]][:, None]  # w(p→v) − w(best(v)→v)
    enter_arg = cyc[np.argmin(enter, axis=0)]
    new[k, :k] = enter.min(axis=0)
    new_root = int(np.nonzero(outside == root)[0][0])
    sub = _edmonds_dense(new, new_root)
    parent = np.full(m, -1)
    for i, c in enumerate(outside):
        p = sub[i]
        parent[c] = -1 if p < 0 else (leave_arg[i] if p == k else outside[p])
    entry_parent = outside[sub[k]]
    entry_node = enter_arg[sub[k]]
    for v in cyc:
        parent[v] = best[v]
    parent[entry_node] = entry_parent
    return parent


def _find_cycle(parent: np.ndarray, root: int) -> list[int] | None:
    state = np.zeros(parent.size, np.int8)  # 0 new, 1 on the current path, 2 done
    for start in range(parent.size):
        path = []
        node = start
        while node != root and node >= 0 and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = int(parent[node])
        if node >= 0 and node != root and state[node] == 1:
            return path[path.index(node):]
        for x in path:
            state[x] = 2
    return None
