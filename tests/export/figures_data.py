"""Synthetic data for the figure tests: 300+ models with realistic ids, families and dates."""

from __future__ import annotations

import numpy as np

from kb.lineage.kbtree import KbTree, build_tree, time_signal, tree_distances
from kb.lineage.synthetic import SyntheticLineage, synthetic_lineage
from kb.records import DeclaredEdge, ModelRecord

SUFFIXES = ("", "-Instruct", "-chat-v2", "-GGUF-q4_K_M", "-lora-medical", "-DPO-merged", "-distilled-1.5B")


def lineage(n: int = 320, seed: int = 1) -> SyntheticLineage:
    return synthetic_lineage(n, mean_family=25, seed=seed)


def model_id(index: int, family: int) -> str:
    """A Hub-like id, 20-45 characters."""
    return f"org-{family:02d}/model-family{family}-{index:03d}-7B{SUFFIXES[index % len(SUFFIXES)]}"


def renamed(lin: SyntheticLineage) -> dict[str, str]:
    return {e.id: model_id(i, int(f)) for i, (e, f) in enumerate(zip(lin.evidence, lin.family))}


def kb_tree(n: int = 320, seed: int = 1) -> KbTree:
    lin = lineage(n, seed)
    names = renamed(lin)
    evs = lin.evidence
    ids = [names[e.id] for e in evs]
    released = {names[e.id]: e.released for e in evs}
    tree = build_tree(tree_distances(evs, "text"), ids, "midpoint", released)
    rho, dated = time_signal(tree, released)
    models = {names[e.id]: {"family": f"family:f{int(f)}",
                            "architecture": e.signature or "arch", "org": names[e.id].split("/")[0],
                            "released": e.released, "license": None}
              for e, f in zip(evs, lin.family)}
    return KbTree(tree, "synthetic-protocol", "text", models, rho, dated)


def load_store(store, n: int = 320, seed: int = 1) -> SyntheticLineage:
    """The synthetic lineage in a store: DNAs, dates, and its true edges as declared parents."""
    lin = lineage(n, seed)
    names = renamed(lin)
    store.upsert_models([ModelRecord(id=names[e.id], dna=e.text.astype(np.float32), protocol="synthetic-protocol",
                                     released=e.released, org=names[e.id].split("/")[0],
                                     license="llama2" if i % 9 == 0 else "apache-2.0", status="ok")
                         for i, e in enumerate(lin.evidence)])
    store.upsert_declared_edges([DeclaredEdge(names[c], names[p], r) for c, p, r in lin.truth])
    return lin
