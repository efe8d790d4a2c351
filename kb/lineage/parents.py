"""Directed parents: a minimum spanning arborescence per family over best-evidence edge costs.

The pieces, one module each: edge costs and constraints (costs.py), copies of one model (copies.py),
merges (merges.py), which member is the root (roots.py), Chu–Liu/Edmonds (arborescence.py), siblings
wrongly chained (siblings.py), adapters hung on a sibling (adapters.py), the relation of each edge
(relations.py).
This module puts them together for one family (`family_parents`) and for all (`infer_parents`).

Measured on synthetic lineages (bench/RESULTS.md): parent accuracy 0.98–0.99 with dates, 0.90–0.92
without; the zoo's figures come from `dnakb eval`.
References: Horwitz et al. 2024, "On the Origin of Llamas: Model Tree Heritage Recovery" (MoTHer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from kb.channels import NAMES
from kb.errors import InputError
from kb.lineage.adapters import adapter_parent, rehang_adapters
from kb.lineage.arborescence import DENSE_MAX, K_CANDIDATES, arborescence
from kb.lineage.copies import copy_classes, copy_root_penalty, plausible_sources
from kb.lineage.costs import (PRECISION_PENALTY, PairCosts, Scales, channel_scales,
                              edge_costs, later_than, pair_costs, precision_ranks)
from kb.lineage.evidence import ModelEvidence, channel_distances, precision_rank
from kb.lineage.families import FamilyLabels
from kb.lineage.merges import Merge, find_merges, merge_channel
from kb.lineage.partition import PART_MAX, partitioned_parents
from kb.lineage.relations import relation_for
from kb.lineage.roots import LATER_ROOT_PENALTY, MERGE_ROOT_PENALTY, root_costs, tree_centroid
from kb.lineage.siblings import resolve_siblings


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
    direction: str = "uncertain"
    """What says the parent came first (see `direction_of`)."""
    among: int = 1
    """The parent is one of this many the evidence cannot tell apart (`_among`): copies that could
    equally be a file's source, models on one line with a merge, or a child's parent or sibling."""
    doubt: str = ""
    """Why the parent is one of `among` (empty where the evidence chose)."""


@dataclass(frozen=True)
class ParentOptions:
    use_dates: bool = True
    use_declared: bool = True
    use_merges: bool = True
    dense_max: int = DENSE_MAX
    k_candidates: int = K_CANDIDATES
    part_max: int = PART_MAX


def family_parents(
    evs: Sequence[ModelEvidence], scales: Scales, options: ParentOptions = ParentOptions(),
) -> list[ParentEdge]:
    """Parent edges within one family (indices into `evs`). Every member but the root gets one
    edge, unless its evidence says the two are unrelated (`cut_unrelated`: then it is a root too);
    merge children get two."""
    m = len(evs)
    if m < 2:
        return []
    ch = channel_distances(evs)
    pairs = pair_costs(evs, scales, ch)
    cost, code, raw = pairs.cost, pairs.code, pairs.raw
    edge_cost, allowed, lexical, classes = edge_costs(evs, pairs, use_dates=options.use_dates,
                                                      use_declared=options.use_declared)
    merges = find_merges(evs, ch, use_dates=options.use_dates, classes=classes) if options.use_merges else {}
    is_copy = copy_root_penalty(classes, evs) > 0
    merges = {mi: found for mi, found in merges.items() if not is_copy[mi]}  # a merge's files are its copies
    for mi, (a, b, *_) in merges.items():
        keep = np.isin(classes, [classes[a], classes[b]])  # a parent, or a copy of one (copies.py decides)
        allowed[mi] &= keep
        allowed[np.ix_(keep, classes == classes[mi])] = False  # nor descends from the merge or its files
    merged = np.zeros(m, bool)
    merged[list(merges)] = True
    ranks = precision_ranks(evs)
    candidates = np.where(allowed, edge_cost, np.inf)
    later = later_than(pairs, classes, evs, options.use_dates)  # [i, j]: j grew from i
    merges = {mi: found._replace(a=_preferred(candidates[mi], classes, found.a),
                                 b=_preferred(candidates[mi], classes, found.b)) for mi, found in merges.items()}
    for mi, (a, b, *_) in merges.items():
        candidates[mi, np.setdiff1d(np.arange(m), [a, b])] = np.inf  # a merge takes just those two
    later[merged] = False  # averaging shrinks the norm: a merge's parents did not grow from it

    not_root = (MERGE_ROOT_PENALTY * merged + PRECISION_PENALTY * is_copy
                + LATER_ROOT_PENALTY * later.any(axis=0))
    related = allowed & ~pairs.unrelated

    def solve(root_cost: np.ndarray) -> np.ndarray:
        """The cheapest arborescence in which no merge (nor a file of it) is an ancestor of its own
        parents: both were there before it. Ancestry counts every parent edge, a merge's second one
        too, since the lineage is one graph and must hold no cycle. A tree that puts a merge parent
        below the merge loses one tree edge on that path (`_merge_parents_below`), and is solved
        again; every such path of one tree loses its edge in the same pass (a hub family holds many
        merges)."""
        costs = candidates.copy()

        def contradicted(c: int, p: int, below_merge: np.ndarray) -> bool:
            # c's weights name another parent, outside the merge's subtree (an adapter's base)
            return evs[c].fmt != "gguf" and adapter_parent(
                c, p, evs, np.where(related[c], costs[c], np.inf), classes, lambda q: not below_merge[q],
                options.k_candidates) != p

        for _ in range(m):
            parent = arborescence(costs, root_cost + not_root,
                                  dense_max=options.dense_max, k_candidates=options.k_candidates)
            below = _merge_parents_below(parent, merges, classes, contradicted)
            if not below:
                break
            costs[tuple(np.array(below).T)] = np.inf
        return parent

    parent = solve(root_costs(evs, lexical, ranks, options.use_dates, classes=classes))
    if not (options.use_dates and any(e.released for e in evs)) and m > 2:
        # no dates: root at the centroid of the tree just found, where a random recursive tree's
        # root sits (the medoid of raw costs is a weaker guess for deep families)
        centroid = tree_centroid(parent)
        if parent[centroid] >= 0:
            central = np.ones(m)
            central[centroid] = 0.0
            parent = solve(root_costs(evs, lexical, ranks, options.use_dates, central, classes))
    parent = cut_unrelated(parent, pairs.unrelated, merges)
    parent, unsure = resolve_siblings(parent, ch, related, classes, pairs.kin, fixed=set(merges),
                                      checkpoints=np.array([e.fmt != "gguf" for e in evs]))
    settled = parent.copy()
    parent = rehang_adapters(parent, evs, np.where(related, edge_cost, np.inf), classes,
                             lambda tree, q, c: _path_up_to(q, np.arange(m) == c, tree, merges)[0],
                             fixed=set(merges), candidates=options.k_candidates)
    edges = [edge for ci in range(m) if parent[ci] >= 0
             for edge in _edges_of(ci, int(parent[ci]), evs, parent, merges, ch, pairs, scales)]
    edges = [_child_or_sibling(e, unsure[e.child], evs)
             if e.child in unsure and parent[e.child] == settled[e.child] else e for e in edges]
    return _labelled(edges, evs, classes, later, allowed, options.use_dates)


def _child_or_sibling(edge: ParentEdge, x: float, evs: Sequence[ModelEvidence]) -> ParentEdge:
    """`edge` as one of two explanations: the tree metric could not tell a child from a sibling."""
    return replace(edge, among=max(edge.among, 2), doubt=(
        f"the tree metric cannot tell whether it is a child or a sibling of {evs[edge.parent].id} "
        f"(x = {x:.2f}, where both occur)"))


def _labelled(edges: list[ParentEdge], evs: Sequence[ModelEvidence], classes: np.ndarray, later: np.ndarray,
              allowed: np.ndarray, use_dates: bool) -> list[ParentEdge]:
    """`edges` with what set their direction and how many parents the evidence could not tell apart."""
    out = []
    for e in edges:
        among = _among(e, evs, classes, allowed)
        doubt = e.doubt or (f"one of {among} copies the weights cannot tell apart as its source" if among > 1 else "")
        out.append(replace(e, direction=direction_of(e, evs, classes, later, use_dates), among=among, doubt=doubt))
    return out


def cut_unrelated(parent: np.ndarray, unrelated: np.ndarray,
                  merges: dict[int, Merge]) -> np.ndarray:
    """`parent` without the edges whose evidence says the two share no history (`PairCosts.unrelated`:
    independently initialised weights, or behaviour across architectures no closer than shared data
    explains). A family's arborescence must reach every member, so clustering alone would otherwise
    make such an edge; its child becomes a root of its own (`families.split_at_roots`). Where the only
    scale is a functional channel's median distance, nothing is cut: that median is no calibrated
    "unrelated" in a KB of one family."""
    out = parent.copy()
    for ci, pi in enumerate(parent):
        if pi >= 0 and ci not in merges and unrelated[ci, pi]:
            out[ci] = -1
    return out


def _merge_parents_below(parent: np.ndarray, merges: dict[int, Merge],
                         classes: np.ndarray,
                         contradicted: Callable[[int, int, np.ndarray], bool] | None = None) -> list[tuple[int, int]]:
    """(child, p) for every merge parent found below its merge or one of the merge's files: one tree
    edge on the path up from that parent to the merge's copy class. Every model on the path is an
    ancestor of the merge parent, so came before the merge, and the path must break somewhere. It
    breaks at the lowest edge the evidence contradicts (`contradicted(child, p, below_merge)`, given
    the mask of the merge's subtree: an adapter hung below a fine-tune of the merge it went into,
    whose bit-identical matrices name its base), else at the last edge, into the merge's class. Never
    at an edge within a copy class: a file's edge to its checkpoint is the surest in the tree (the path
    may pass through another merge's file on its way up that merge's second edge)."""
    cuts: list[tuple[int, int]] = []
    for mi, (a, b, *_) in sorted(merges.items()):
        inside = classes == classes[mi]
        below_merge = None
        for x in (a, b):
            found, path = _path_up_to(x, inside, parent, merges)
            if not found:
                continue
            path = [(c, p) for c, p in path if classes[c] != classes[p]] or path
            cut = path[-1] if path else (x, int(parent[x]))
            if contradicted is not None and len(path) > 1:
                below_merge = _descendants(parent, inside) if below_merge is None else below_merge
                cut = next((edge for edge in path if contradicted(*edge, below_merge)), cut)
            if cut not in cuts:
                cuts.append(cut)
    return cuts


def _descendants(parent: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Mask of `roots` and everything below them in the tree `parent`."""
    below = roots.copy()
    while True:
        grown = below | ((parent >= 0) & below[np.maximum(parent, 0)])
        if (grown == below).all():
            return below
        below = grown


def _lineage_parents(node: int, parent: np.ndarray,
                     merges: dict[int, Merge]) -> list[int]:
    """`node`'s parents in the lineage: its tree parent and, for a merge hung on one of its two, the other."""
    if parent[node] < 0:
        return []
    first = int(parent[node])
    if node in merges and first in merges[node][:2]:
        a, b = merges[node][:2]
        return [first, b if first == a else a]
    return [first]


def _path_up_to(start: int, target: np.ndarray, parent: np.ndarray,
                merges: dict[int, Merge]) -> tuple[bool, list[tuple[int, int]]]:
    """Whether a lineage ancestor of `start` (itself included) is in `target` (a mask), and the tree
    edges (child, parent) on the path found up to it, bottom up (merges' second edges left out)."""
    stack: list[tuple[int, list[tuple[int, int]]]] = [(start, [])]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if target[node]:
            return True, path
        if node in seen:
            continue
        seen.add(node)
        for p in _lineage_parents(node, parent, merges):
            stack.append((p, path + [(node, p)] if p == parent[node] else path))
    return False, []


def _among(edge: ParentEdge, evs: Sequence[ModelEvidence], classes: np.ndarray, allowed: np.ndarray) -> int:
    """How many parents the evidence cannot tell apart from the edge's (1: the evidence chose): for a
    merge, the collinear pairs it lies between (`Merge.among_a`); for a child the tree metric could
    not tell from a sibling, 2; for a file, the copies it could have been made from by convention
    alone (a quantized GGUF file's source is one of its parent's copies, whether or not coarse
    rounding put the file itself outside that copy class)."""
    c, p = edge.child, edge.parent
    if edge.relation != "quantized" or (classes[c] != classes[p] and evs[c].fmt != "gguf"):
        return edge.among  # set with the edge: a merge's collinear pairs, a child or a sibling
    members = [int(i) for i in np.flatnonzero(classes == classes[p]) if i != c and allowed[c, i]]
    sources = plausible_sources(evs[c], members, evs)
    return max(edge.among, len(sources)) if p in sources else edge.among


def _preferred(costs: np.ndarray, classes: np.ndarray, x: int) -> int:
    """The copy of model `x` a child with these edge costs takes (copies.py's order is in the costs)."""
    members = np.flatnonzero(classes == classes[x])
    return int(members[np.argmin(costs[members])]) if np.isfinite(costs[members]).any() else x


def direction_of(edge: ParentEdge, evs: Sequence[ModelEvidence], classes: np.ndarray, later: np.ndarray,
                 use_dates: bool) -> str:
    """What says `edge.parent` came before `edge.child`: "date" (released earlier), "merge" (a merge is
    made from its parents), "copy" (the child is the parent's weights at a lower precision or in another
    format: files are converted from checkpoints and quantized down), "growth" (the child's weights grew
    from the parent's, `later[parent, child]`), else "uncertain" (only the choice of the family's root
    orders them)."""
    c, p = evs[edge.child], evs[edge.parent]
    if use_dates and c.released and p.released and p.released < c.released:
        return "date"
    if edge.relation == "merge":
        return "merge"
    rc, rp = precision_rank(c.precision), precision_rank(p.precision)
    lower = rc is not None and rp is not None and rc < rp
    converted = classes[edge.child] == classes[edge.parent] and c.fmt == "gguf" and p.fmt == "hf"
    if edge.relation == "quantized" and (lower or converted):
        return "copy"
    if later[edge.parent, edge.child]:
        return "growth"
    return "uncertain"


def _edges_of(ci: int, pi: int, evs: Sequence[ModelEvidence], parent: np.ndarray,
              merges: dict[int, Merge], ch: dict[str, np.ndarray],
              pairs: PairCosts, scales: Scales) -> list[ParentEdge]:
    """The edge(s) of child `ci` whose arborescence parent is `pi` (a merge child gets both parents)."""
    cost, code, raw = pairs.cost, pairs.code, pairs.raw
    if ci in merges and pi in merges[ci][:2]:
        merge = merges[ci]
        a, b = merge.a, merge.b
        among = {a: merge.among_a, b: merge.among_b}
        doubt = {x: f"one of {n} pairs of models on one line with it that the weights cannot tell apart as its "
                    "parents" if n > 1 else "" for x, n in among.items()}
        other = b if pi == a else a
        reason = f"between {evs[a].id} and {evs[b].id} in weight space (t={merge.t:.2f}, height {merge.h:.3f})"
        channel = merge_channel().name  # type: ignore[union-attr]  (merges exist only with one)
        edges = [ParentEdge(ci, pi, float(cost[ci, pi]), float(raw[ci, pi]), channel, "merge", reason=reason,
                            among=among[pi], doubt=doubt[pi])]
        if not _path_up_to(other, np.arange(parent.size) == ci, parent, merges)[0]:
            edges.append(ParentEdge(ci, other, float(cost[ci, other]), float(raw[ci, other]), channel,
                                    "merge", method="merge", reason=reason, among=among[other],
                                    doubt=doubt[other]))
        return edges
    if not np.isfinite(cost[ci, pi]):
        return [ParentEdge(ci, pi, float("inf"), float("nan"), "none", "finetune",
                           reason="forced: no channel shared with any admissible parent")]
    c_code = int(code[ci, pi])
    relation, reason = relation_for(evs[ci], evs[pi], c_code, ch, ci, pi, scales, bool(pairs.kin[ci, pi]))
    return [ParentEdge(ci, pi, float(cost[ci, pi]), float(raw[ci, pi]), NAMES[c_code], relation, reason=reason)]


def _joining_edge(sub: Sequence[ModelEvidence], ch: dict[str, np.ndarray], pairs: PairCosts, classes: np.ndarray,
                  allowed: np.ndarray, pi: int, *, scales: Scales, use_dates: bool) -> list[ParentEdge]:
    """The edge from a part root, `sub[0]`, to `sub[pi]` (partition.py), labelled as any tree edge."""
    parent = np.full(len(sub), -1)
    parent[0] = pi
    return _labelled(_edges_of(0, pi, sub, parent, {}, ch, pairs, scales), sub, classes,
                     later_than(pairs, classes, sub, use_dates), allowed, use_dates)


def _merge_edges(sub: Sequence[ModelEvidence], scales: Scales, options: ParentOptions) -> list[ParentEdge]:
    """The edges of `sub[0]` as a merge of two of the others (partition.py), or none. Screened first on
    the merge channel alone with copies by its distance, then found again with every cost."""
    linear = merge_channel()
    if linear is None:
        return []
    near = channel_distances(sub, only=[linear.name])
    cost = near[linear.name] / scales[linear.name]
    if 0 not in find_merges(sub, near, use_dates=options.use_dates, only=[0],
                            classes=copy_classes(cost, np.isfinite(cost), sub)):
        return []
    ch = channel_distances(sub)
    pairs = pair_costs(sub, scales, ch)
    edge_cost, allowed, _lexical, classes = edge_costs(sub, pairs, use_dates=options.use_dates,
                                                       use_declared=options.use_declared)
    found = find_merges(sub, ch, use_dates=options.use_dates, classes=classes, only=[0])
    if 0 not in found or copy_root_penalty(classes, sub)[0] > 0:  # a merge's files are its copies
        return []
    later = later_than(pairs, classes, sub, options.use_dates)
    candidates = np.where(allowed, edge_cost, np.inf)[0]
    merge = {0: found[0]._replace(a=_preferred(candidates, classes, found[0].a),
                                  b=_preferred(candidates, classes, found[0].b))}
    parent = np.full(len(sub), -1)
    parent[0] = merge[0].a
    return _labelled(_edges_of(0, merge[0].a, sub, parent, merge, ch, pairs, scales), sub, classes,
                     later, allowed, options.use_dates)


def infer_parents(
    evs: Sequence[ModelEvidence], families: FamilyLabels, scales: Scales | None = None,
    options: ParentOptions = ParentOptions(),
) -> list[ParentEdge]:
    """Parent edges of every family (global indices). Families are independent: O(Σ m_f²), a family
    above `options.part_max` members in parts of at most that many (partition.py)."""
    if len(evs) != families.labels.size:
        raise InputError(f"{len(evs)} models but {families.labels.size} family labels")
    scales = scales or channel_scales(evs)
    out: list[ParentEdge] = []
    for members in families.members():
        if members.size < 2:
            continue
        fevs = [evs[i] for i in members]
        found = (family_parents(fevs, scales, options) if members.size <= options.part_max else
                 partitioned_parents(fevs, scales, lambda sub: family_parents(sub, scales, options),
                                     lambda *edge: _joining_edge(*edge, scales=scales, use_dates=options.use_dates),
                                     lambda sub: _merge_edges(sub, scales, options),
                                     use_dates=options.use_dates, use_declared=options.use_declared,
                                     cap=options.part_max))
        for e in found:
            out.append(replace(e, child=int(members[e.child]), parent=int(members[e.parent])))
    return out
