"""Why an edge was inferred: for one model, each evidence channel's nearest models with distances.

Inference lets the strongest channel that can decide a pair decide it (kb/lineage/costs.py). A
reviewer checking an edge wants to see every channel's view side by side: the nearest models on the
weight sketch, the log-likelihood profile and the text DNA, each distance also on the common scale
(`cost` = distance / the channel's "unrelated" distance: below 1 means closer than unrelated models
typically are), and how each neighbour is linked to the model (declared or inferred parent or child,
same family). Channels come from the registry (kb/channels), distances from
`kb.lineage.evidence.channel_distances`, so a new channel shows up here by itself.

Cost: the model's own protocol; up to `CANDIDATES` models (all of them in a smaller KB, else the
nearest by text DNA plus the model's family), O(CANDIDATES²·L) per channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kb.channels import REGISTRY
from kb.lineage.costs import channel_scales
from kb.lineage.evidence import ModelEvidence, channel_distances

CANDIDATES = 1000
PROTOCOL_OF = "MATCH (m:Model {id: $id}) RETURN m.protocol AS protocol"


def neighbour_rows(target: int, evs: list[ModelEvidence], k: int, links: dict[str, str]) -> list[dict[str, Any]]:
    """Rows (channel, rank, id, distance, cost, link) of the `k` nearest models to `evs[target]` on
    each channel that compares it with any other model; ties by id. Pure."""
    distances = channel_distances(evs)
    scales = channel_scales(evs)
    rows = []
    for channel in REGISTRY:
        row = distances[channel.name][target]
        found = sorted((float(row[j]), evs[j].id) for j in range(len(evs)) if j != target and np.isfinite(row[j]))
        for rank, (distance, other) in enumerate(found[:k], 1):
            rows.append({"channel": channel.name, "rank": rank, "id": other, "distance": distance,
                         "cost": distance / scales[channel.name], "link": links.get(other, "")})
    return rows


def links_of(model: str, store: Any) -> dict[str, str]:
    """How other models are linked to `model`: parent or child edges (declared before inferred), or family."""
    from kb.templates import run_template

    links: dict[str, str] = {}
    for row in run_template(store, "parent", {"model": model}):
        links.setdefault(row["id"], f"{row['edge']} parent")
    for row in run_template(store, "children", {"model": model}):
        links.setdefault(row["id"], f"{row['edge']} child")
    for row in run_template(store, "family", {"model": model}):
        links.setdefault(row["id"], "same family")
    links.pop(model, None)
    return links


def evidence(store: Any, model: str, k: int = 5) -> list[dict[str, Any]]:
    """The `evidence` template: `neighbour_rows` for `model` among the models of its protocol."""
    from kb.lineage.infer import store_evidence  # infer imports most of kb.lineage: only when asked

    protocol = store.cypher(PROTOCOL_OF, {"id": model})[0]["protocol"]
    ids, matrix = store.dna_matrix(protocol)
    links = links_of(model, store)
    index = {mid: i for i, mid in enumerate(ids)}
    chosen = ids
    if len(ids) > CANDIDATES:  # the nearest by text DNA, and the model's family, kept in id order
        gap = np.linalg.norm(matrix.astype(np.float64) - matrix[index[model]].astype(np.float64), axis=1)
        near = {ids[i] for i in np.lexsort((np.arange(len(ids)), gap))[:CANDIDATES]}
        chosen = sorted(near | {m for m in links if m in index})
    evs = store_evidence(store, protocol, chosen, declared=False, dnas=(ids, matrix))
    return neighbour_rows(chosen.index(model), evs, k, links)
