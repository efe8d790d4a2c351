"""A small lineage graph with every shape the templates must handle, and plain-Python oracles.

Shapes: two roots, fine-tunes, an adapter, a quantization, a merge with two parents, a chain of
four generations, declared and inferred edges that agree, an inferred edge that contradicts a
declaration, undocumented (inferred-only) children, a metadata-only model (no DNA), and ids
with quotes, backticks, braces and non-ASCII characters. The oracles answer each question with
networkx/numpy straight from the lists below, never through a store.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np

from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord

PROTOCOL = "test-protocol"
QUOTE = "ori/it's \"quoted\""
TICK = "back`tick/model"
BRACE = "br{ace}s/{x}"
UNICODE = "ünï/模型-ß"

PARENTS: dict[str, str | None] = {  # id -> the parent its DNA derives from (None: a base)
    "org/base-a": None, "org/ft1": "org/base-a", "org/q1": "org/base-a", "org/ad1": "org/base-a",
    "org/ft1-ft": "org/ft1", "org/m1": "org/ft1", QUOTE: "org/ft1-ft", "org/deep": QUOTE,
    BRACE: "org/q1", "org/meta-only": "org/base-a",
    "org/base-b": None, "org/b-ft": "org/base-b", TICK: "org/b-ft", UNICODE: "org/base-b",
}
DECLARED = [
    DeclaredEdge("org/ft1", "org/base-a", "finetune", "card"),
    DeclaredEdge("org/q1", "org/base-a", "quantized", "card"),
    DeclaredEdge("org/ad1", "org/base-a", "adapter", "card"),
    DeclaredEdge("org/ft1-ft", "org/ft1", "finetune", "manifest"),
    DeclaredEdge("org/m1", "org/ft1", "merge", "card"),
    DeclaredEdge("org/m1", "org/base-b", "merge", "card"),
    DeclaredEdge(QUOTE, "org/ft1-ft", "finetune", "manifest"),
    DeclaredEdge("org/deep", QUOTE, "finetune", "manifest"),
    DeclaredEdge("org/meta-only", "org/base-a", "finetune", "card"),
    DeclaredEdge("org/b-ft", "org/base-b", "finetune", "card"),
    DeclaredEdge(TICK, "org/b-ft", "adapter", "card"),
]
INFERRED = [
    InferredEdge("org/ft1", "org/base-a", 0.81, 0.9, relation="finetune", channel="weights"),
    InferredEdge("org/q1", "org/base-a", 0.05, 1.0, relation="quantized", channel="weights"),
    InferredEdge(QUOTE, "org/ft1-ft", 0.7, 0.6, relation="finetune"),
    InferredEdge(BRACE, "org/q1", 0.5, 0.7, relation="finetune", flag="undocumented"),
    InferredEdge("org/b-ft", "org/base-a", 2.0, 0.4, relation="finetune", flag="contradicted",
                 reason="closer to org/base-a"),
    InferredEdge(UNICODE, "org/base-b", 1.2, 0.85, relation="distill", flag="undocumented"),
    InferredEdge("org/deep", QUOTE, 0.9, None, relation="finetune", provisional=True),
    InferredEdge("org/m1", "org/base-b", 1.1, 0.55, relation="merge"),  # one of its declared parents
]


LICENCES: dict[str, str | None] = {  # the licence table's cases (kb/licenses.py); others: mit
    "org/base-a": "llama2", "org/ft1": "apache-2.0", "org/q1": "llama2", "org/ad1": None,
    "org/ft1-ft": "apache-2.0", "org/m1": "cc-by-nc-4.0", QUOTE: "llama2", "org/deep": "gemma",
    BRACE: "llama2", "org/meta-only": None, "org/base-b": "cc-by-nc-sa-4.0", "org/b-ft": "cc-by-nc-sa-4.0",
    UNICODE: "other",
}


def _root_of(model: str) -> str:
    while PARENTS[model] is not None:
        model = PARENTS[model]  # type: ignore[assignment]
    return model


FAMILY_OF = {m: "fam-a" if _root_of(m) == "org/base-a" else "fam-b" for m in PARENTS}
FAMILIES = [
    Family("fam-a", sum(f == "fam-a" for f in FAMILY_OF.values()), "org/base-a"),
    Family("fam-b", sum(f == "fam-b" for f in FAMILY_OF.values()), "org/base-b"),
]
MEMBERSHIPS = [Membership(m, f, 0.5 + 0.5 * (i % 2)) for i, (m, f) in enumerate(sorted(FAMILY_OF.items()))]


def dnas() -> dict[str, np.ndarray]:
    """float32 DNAs: bases random, each child = its parent + small noise (fixed seed)."""
    rng = np.random.default_rng(7)
    out: dict[str, np.ndarray] = {}
    for model in PARENTS:  # parents precede children in PARENTS
        parent = PARENTS[model]
        base = out[parent] if parent else rng.normal(0, 1, 128)
        out[model] = (base + rng.normal(0, 0.3 if parent else 0, 128)).astype(np.float32)
    return {m: v for m, v in out.items() if m != "org/meta-only"}


def models() -> list[ModelRecord]:
    vectors = dnas()
    records = []
    for i, model in enumerate(PARENTS):
        dna = vectors.get(model)
        records.append(ModelRecord(
            id=model, dna=None if dna is None else dna.tolist(), protocol=PROTOCOL if dna is not None else None,
            org=model.split("/")[0], params=1_000_000 * (i + 1), released=f"2024-01-{i + 1:02d}",
            license=LICENCES.get(model, "mit"), status="ok" if dna is not None else "metadata",
        ))
    return records


def load(store: Any) -> Any:
    store.upsert_models(models())
    store.upsert_declared_edges(DECLARED)
    store.replace_inferred(FAMILIES, MEMBERSHIPS, INFERRED)
    return store


# --- oracles ------------------------------------------------------------------------------------

def edge_graph(edges: str) -> nx.MultiDiGraph:
    """child -> parent graph of the chosen edge kinds."""
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(PARENTS)
    if edges in ("declared", "both"):
        graph.add_edges_from((e.child, e.parent, "declared") for e in DECLARED)
    if edges in ("inferred", "both"):
        graph.add_edges_from((e.child, e.parent, "inferred") for e in INFERRED)
    return graph


def descendants(model: str, max_depth: int = 10, edges: str = "both") -> list[dict[str, Any]]:
    lengths = nx.single_source_shortest_path_length(edge_graph(edges).reverse(), model, cutoff=max_depth)
    rows = [{"id": m, "name": m.rsplit("/", 1)[-1], "depth": d} for m, d in lengths.items() if d > 0]
    return sorted(rows, key=lambda r: (r["depth"], r["id"]))


def descendant_count(model: str, edges: str = "both") -> list[dict[str, Any]]:
    count = len(nx.ancestors(edge_graph(edges), model))  # child -> parent: descendants reach it
    return [{"id": model, "name": model.rsplit("/", 1)[-1], "descendants": count}]


def ancestors(model: str, max_depth: int = 30, edges: str = "both") -> list[dict[str, Any]]:
    graph = edge_graph(edges)
    lengths = nx.single_source_shortest_path_length(graph, model, cutoff=max_depth)
    rows = [
        {"id": m, "name": m.rsplit("/", 1)[-1], "depth": d, "is_root": graph.out_degree(m) == 0}
        for m, d in lengths.items() if d > 0
    ]
    return sorted(rows, key=lambda r: (r["depth"], r["id"]))


def mrca(a: str, b: str, edges: str = "both") -> list[dict[str, Any]]:
    graph = edge_graph(edges)
    da = nx.single_source_shortest_path_length(graph, a)
    db = nx.single_source_shortest_path_length(graph, b)
    common = sorted(set(da) & set(db), key=lambda c: (da[c] + db[c], c))
    if not common:
        return []
    c = common[0]
    return [{"id": c, "name": c.rsplit("/", 1)[-1], "from_a": da[c], "from_b": db[c]}]


def nearest(model: str, k: int = 10) -> list[tuple[str, float]]:
    vectors = dnas()
    query = vectors[model].astype(np.float64)
    pairs = [(float(np.linalg.norm(v.astype(np.float64) - query)), m) for m, v in vectors.items() if m != model]
    return [(m, d) for d, m in sorted(pairs)[:k]]
