"""Text exports of a subtree: Newick (primary tree), JSON (everything), GraphML (every edge)."""

from __future__ import annotations

import io
import json
from typing import Any

from kb.export.subtree import Subtree


def newick_label(text: str) -> str:
    """A Newick label, quoted: model ids hold '/', ':' and other characters Newick reserves.

    Newick's quoting rule: wrap in single quotes, double any single quote inside.
    """
    return "'" + text.replace("'", "''") + "'"


def to_newick(tree: Subtree) -> str:
    """The primary tree as Newick: every member is a labelled node (internal ones too), with
    branch length = inferred DNA distance when the primary edge carries one."""
    kids = tree.children()
    # post-order without recursion: a node's text is built once all its children's are
    text: dict[str, str] = {}
    for node in reversed(tree.preorder()):
        edge = tree.primary.get(node)
        length = ""
        if edge is not None and edge.get("distance") is not None:
            length = f":{float(edge['distance']):.6g}"
        inner = ",".join(text.pop(child) for child in kids[node])
        text[node] = (f"({inner})" if inner else "") + newick_label(node) + length
    return text[tree.root] + ";\n"


def to_json(tree: Subtree) -> str:
    """Everything: members with metadata, every edge, and the primary tree nested."""
    kids = tree.children()

    def nest(node: str) -> dict[str, Any]:
        return {"id": node, "children": [nest(child) for child in kids[node]]}

    data = {
        "root": tree.root,
        "edges_mode": tree.edges_mode,
        "members": [
            {"id": node, "depth": tree.depth[node], **tree.members[node]}
            for node in tree.preorder()
        ],
        "edges": [{**edge, "primary": tree.primary.get(edge["child"]) is edge} for edge in tree.edges],
        "tree": nest(tree.root),
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def to_graph(tree: Subtree) -> Any:
    """A networkx MultiDiGraph child -> parent (a pair may carry a declared and an inferred edge)."""
    import networkx as nx

    graph = nx.MultiDiGraph(root=tree.root, edges_mode=tree.edges_mode)
    for node in tree.preorder():
        attrs = {"depth": tree.depth[node], **tree.members[node]}
        attrs["tags"] = ",".join(attrs.get("tags") or [])
        graph.add_node(node, **{k: v for k, v in attrs.items() if v is not None and v != ""})
    for edge in tree.edges:
        attrs = {k: v for k, v in edge.items() if k not in ("child", "parent") and v is not None}
        attrs["primary"] = tree.primary.get(edge["child"]) is edge
        graph.add_edge(edge["child"], edge["parent"], key=edge["kind"], **attrs)
    return graph


def to_graphml(tree: Subtree) -> str:
    import networkx as nx

    buffer = io.BytesIO()
    nx.write_graphml(to_graph(tree), buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")
