"""The subtree under one model, read from a store into plain data that every export format shares.

A lineage graph is a DAG, not a tree: merges have two parents and a model may carry a declared and
an inferred parent edge. Exports keep every edge, and also pick one *primary* parent per model to
draw and to write Newick: a parent one generation nearer the root (shortest-path tree from the
root), declared before inferred, higher support first, then by id, so the choice is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kb.errors import InputError

EDGE_CHOICES = ("declared", "inferred", "both")
MAX_DEPTH = 30

_DECLARED = (
    "UNWIND $ids AS child MATCH (c:Model {id: child})-[r:DECLARED_PARENT]->(p:Model) WHERE p.id IN $ids "
    "RETURN c.id AS child, p.id AS parent, r.relation AS relation, r.source AS source "
    "ORDER BY child, parent"
)
_INFERRED = (
    "UNWIND $ids AS child MATCH (c:Model {id: child})-[r:INFERRED_PARENT]->(p:Model) WHERE p.id IN $ids "
    "RETURN c.id AS child, p.id AS parent, r.relation AS relation, r.support AS support, "
    "r.distance AS distance, r.method AS method, r.flag AS flag, r.provisional AS provisional "
    "ORDER BY child, parent"
)
METADATA_FIELDS = (
    "name", "org", "architecture", "params", "released", "license", "library", "status",
    "backend", "precision", "protocol",
)


@dataclass
class Subtree:
    """Members (id -> metadata), all edges among them, and the primary tree used for drawing."""

    root: str
    edges_mode: str
    depth: dict[str, int]
    members: dict[str, dict[str, Any]]
    edges: list[dict[str, Any]]
    primary: dict[str, dict[str, Any]] = field(default_factory=dict)  # child -> its primary edge

    def children(self) -> dict[str, list[str]]:
        """Primary-tree children of every member, sorted by id (the drawing and Newick order)."""
        kids: dict[str, list[str]] = {m: [] for m in self.members}
        for child, edge in self.primary.items():
            kids[edge["parent"]].append(child)
        for values in kids.values():
            values.sort()
        return kids

    def preorder(self) -> list[str]:
        """Members root first, depth-first in the primary tree (iterative: no recursion limit)."""
        kids = self.children()
        order, stack = [], [self.root]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(kids[node]))
        return order

    def leaves(self) -> list[str]:
        kids = self.children()
        return [m for m in self.preorder() if not kids[m]]

    def rows(self) -> list[dict[str, Any]]:
        """One row per member in tree order: metadata plus its primary parent edge."""
        out = []
        for node in self.preorder():
            edge = self.primary.get(node, {})
            meta = self.members[node]
            out.append({
                "id": node, "name": meta.get("name"), "depth": self.depth[node],
                "parent": edge.get("parent"), "edge": edge.get("kind"),
                "relation": edge.get("relation"), "support": edge.get("support"),
                "org": meta.get("org"), "params": meta.get("params"),
                "released": meta.get("released"), "license": meta.get("license"),
            })
        return out


def choose_primary(
    root: str, depth: dict[str, int], edges: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Child -> primary parent edge: a shortest-path tree from `root` over the given edges."""
    best: dict[str, tuple[Any, dict[str, Any]]] = {}
    for edge in edges:
        child, parent = edge["child"], edge["parent"]
        if child == root or parent not in depth or depth[parent] != depth[child] - 1:
            continue
        support = edge.get("support")
        key = (edge["kind"] != "declared", -(support if support is not None else 1.0), parent)
        if child not in best or key < best[child][0]:
            best[child] = (key, edge)
    return {child: edge for child, (_, edge) in best.items()}


def collect_subtree(store: Any, root: str, edges: str = "both") -> Subtree:
    """Read the subtree under `root` (descendants up to 30 generations) with metadata and edges."""
    if edges not in EDGE_CHOICES:
        raise InputError(f"--edges must be one of {', '.join(EDGE_CHOICES)}, not {edges!r}")
    from kb.templates import run_template

    below = run_template(store, "descendants", {"model": root, "max_depth": MAX_DEPTH, "edges": edges})
    depth = {root: 0, **{row["id"]: row["depth"] for row in below}}
    ids = sorted(depth)
    members = {
        m.id: {name: getattr(m, name) for name in METADATA_FIELDS} | {"tags": list(m.tags)}
        for m in store.get_models(ids)
    }
    found: list[dict[str, Any]] = []
    if edges in ("declared", "both"):
        found += [{"kind": "declared", **row} for row in store.cypher(_DECLARED, {"ids": ids})]
    if edges in ("inferred", "both"):
        found += [{"kind": "inferred", **row} for row in store.cypher(_INFERRED, {"ids": ids})]
    found.sort(key=lambda e: (e["child"], e["parent"], e["kind"]))
    return Subtree(root, edges, depth, members, found, choose_primary(root, depth, found))
