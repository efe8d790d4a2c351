"""Flags with a reason: `undocumented` inferred edges and `contradicted` declarations.

- undocumented: an inferred edge child → parent that no declaration states (the child declares no
  parent, or other ones). These are what "find undocumented fine-tunes" asks for.
- contradicted: a declared parent that the evidence places in another family, or far away: its
  best-evidence cost exceeds `CONTRADICT_RATIO` × the cost to the inferred parent and `CONTRADICT_MIN`
  (half the "unrelated" level on the common cost scale of `costs.pair_costs`).
A declared parent without evidence in the KB (no DNA under this protocol) is not judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.lineage.costs import Scales, pair_costs
from kb.lineage.evidence import ModelEvidence
from kb.lineage.parents import ParentEdge

CONTRADICT_RATIO = 3.0
CONTRADICT_MIN = 0.5


@dataclass(frozen=True)
class Flag:
    kind: str  # "undocumented" | "contradicted"
    child: str
    parent: str
    reason: str


def pair_cost(a: ModelEvidence, b: ModelEvidence, scales: Scales) -> float:
    return float(pair_costs([a, b], scales).cost[0, 1])


def flag_edges(
    evs: Sequence[ModelEvidence], labels: np.ndarray, edges: Sequence[ParentEdge], scales: Scales,
    family_names: Sequence[str] | None = None,
) -> tuple[list[tuple[str | None, str | None]], list[Flag]]:
    """(per edge (flag, reason) in edge order, all flags). Contradicted wins over undocumented on
    the child's first edge; a root's contradicted declaration appears only in the flag list."""
    index = {e.id: i for i, e in enumerate(evs)}
    inferred: dict[int, list[ParentEdge]] = {}
    for e in edges:
        inferred.setdefault(e.child, []).append(e)
    flags: list[Flag] = []
    contradicted: dict[int, str] = {}
    for ci, ev in enumerate(evs):
        for parent, _relation in ev.declared_parents:
            pi = index.get(parent)
            if pi is None:
                continue
            mine = inferred.get(ci, [])
            if any(e.parent == pi for e in mine):
                continue
            cost = pair_cost(ev, evs[pi], scales)
            if labels[ci] != labels[pi]:
                where = family_names[labels[pi]] if family_names else f"family {labels[pi]}"
                reason = f"declared parent {parent} is in another family ({where}; cost {cost:.3g})"
            else:
                best = min((e.cost for e in mine), default=np.inf)
                if not (cost > CONTRADICT_MIN and (not np.isfinite(best) or cost > CONTRADICT_RATIO * best)):
                    continue
                near = f"inferred parent {evs[mine[0].parent].id} at cost {best:.3g}" if mine else "it is the family root"
                reason = f"declared parent {parent} is far away (cost {cost:.3g}; {near})"
            flags.append(Flag("contradicted", ev.id, parent, reason))
            contradicted.setdefault(ci, reason)
    per_edge: list[tuple[str | None, str | None]] = []
    first_seen: set[int] = set()
    for e in edges:
        child = evs[e.child]
        declared = {p for p, _ in child.declared_parents}
        if e.child in contradicted and e.child not in first_seen:
            per_edge.append(("contradicted", contradicted[e.child]))
        elif evs[e.parent].id in declared:
            per_edge.append((None, None))
        else:
            reason = (f"no declared parent; {e.channel} evidence ({e.reason})" if not declared
                      else f"declared parent(s) {', '.join(sorted(declared))} differ; {e.channel} evidence")
            per_edge.append(("undocumented", reason))
            flags.append(Flag("undocumented", child.id, evs[e.parent].id, reason))
        first_seen.add(e.child)
    return per_edge, flags
