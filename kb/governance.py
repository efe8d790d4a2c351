"""Model-governance questions: licences that do not fit an ancestor's, and what lies downstream of a
model (a withdrawn base: what is affected?). Both follow parent edges to any depth and need Python
(the licence table of kb/licenses.py; the strongest path), so their templates say
`// impl: python kb.governance:<function>` and these functions answer on every store.

Reads: every parent edge of the chosen kinds (O(E)) and every model's licence; the walks are
`kb.lineage.walk`'s pure functions.
"""

from __future__ import annotations

from typing import Any

from kb.licenses import compatibility
from kb.lineage.walk import ancestor_depths, children_of, downstream, parents_of, read_parent_edges

LICENCES = "MATCH (m:Model) RETURN m.id AS id, m.license AS license ORDER BY id"
SHOW = {"conflicts": ("more-permissive", "incompatible"), "unknown": ("unknown",),
        "all": ("more-permissive", "incompatible", "unknown")}


def conflict_rows(
    licences: dict[str, str | None], edges: list[Any], show: str = "all", max_depth: int = 30
) -> list[dict[str, Any]]:
    """One row per (model, ancestor) pair whose verdict `show` selects, pure.

    `via` says whether declared edges alone reach the ancestor (`declared`) or an inferred edge is
    needed (`inferred`: an undocumented derivation). Rows by model, depth, ancestor.
    """
    wanted = SHOW[show]
    up_all = parents_of(edges)
    up_declared = parents_of(e for e in edges if e.kind == "declared")
    rows = []
    for model in sorted(up_all):
        declared = ancestor_depths(model, up_declared, max_depth)
        for ancestor, depth in sorted(ancestor_depths(model, up_all, max_depth).items(), key=lambda x: (x[1], x[0])):
            mine, theirs = licences.get(model), licences.get(ancestor)
            verdict = compatibility(theirs, mine)
            if verdict.verdict not in wanted:
                continue
            rows.append({
                "model": model, "license": mine, "ancestor": ancestor, "ancestor_license": theirs,
                "depth": depth, "via": "declared" if ancestor in declared else "inferred",
                "verdict": verdict.verdict, "reason": verdict.reason,
            })
    return rows


def license_conflicts(store: Any, edges: str = "both", show: str = "all") -> list[dict[str, Any]]:
    """The `license-conflicts` template: derivatives whose licence is looser than or incompatible with
    an ancestor's (and, unless `show=conflicts`, pairs where a licence is unknown)."""
    licences = {row["id"]: row["license"] for row in store.cypher(LICENCES)}
    return conflict_rows(licences, read_parent_edges(store, edges), show)


def affected_by(store: Any, model: str, edges: str = "both", min_support: float = 0.0,
                max_depth: int = 30) -> list[dict[str, Any]]:
    """The `affected-by` template: every model downstream of `model`, with the path to it (the
    shortest, then the strongest) and the weakest support on that path (a declared edge counts 1)."""
    below = downstream(model, children_of(read_parent_edges(store, edges)), min_support, max_depth)
    rows = [
        {"id": node, "depth": len(reach.path) - 1, "weakest_support": reach.weakest,
         "weakest_edge": f"{reach.weakest_edge[0]} -> {reach.weakest_edge[1]}",
         "inferred_edges": reach.inferred, "path": list(reach.path)}
        for node, reach in below.items()
    ]
    return sorted(rows, key=lambda r: (r["depth"], r["id"]))
