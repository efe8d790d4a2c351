"""Provisional placement: a parent and a family for a model ingested into an already inferred KB.

The nearest inferred model by text-DNA distance is the provisional parent (unless it was released
after the new model) and lends its family; `dnakb infer` later recomputes everything. One pass over
the inferred models' DNAs per new model: O(n·L).
"""

from __future__ import annotations

import numpy as np

from kb.records import InferredEdge, Membership, ModelRecord


class Placer:
    """The inferred models of one protocol, read once, and `place` for each new DNA."""

    def __init__(self, store, pid: str) -> None:
        self.family = {m.model: m for m in store.memberships()}
        self.ids: list[str] = []
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.released: dict[str, str | None] = {}
        if not self.family:
            return
        ids, matrix = store.dna_matrix(pid)
        keep = [i for i, model_id in enumerate(ids) if model_id in self.family]
        self.ids = [ids[i] for i in keep]
        self.matrix = np.asarray(matrix, dtype=np.float32)[keep] if keep else self.matrix
        if self.ids:
            self.released = {m.id: m.released for m in store.get_models(self.ids)}

    @property
    def active(self) -> bool:
        return bool(self.ids)

    def place(self, record: ModelRecord) -> tuple[list[InferredEdge], list[Membership]]:
        if not self.active or record.dna is None:
            return [], []
        candidates = [i for i, model_id in enumerate(self.ids) if model_id != record.id]
        if not candidates:
            return [], []
        dna = np.asarray(record.dna, dtype=np.float32)
        distances = np.linalg.norm(self.matrix[candidates] - dna, axis=1)  # d(x, y) = ||x - y||_2
        j = int(np.argmin(distances))
        nearest, distance = self.ids[candidates[j]], float(distances[j])
        membership = self.family[nearest]
        memberships = [Membership(record.id, membership.family, membership.probability)]
        born = self.released.get(nearest)
        if record.released and born and born > record.released:
            return [], memberships  # the nearest is younger: it cannot be the parent
        edge = InferredEdge(
            child=record.id, parent=nearest, distance=distance, method="nearest-dna", provisional=True,
            channel="text", reason="provisional placement at ingest; `dnakb infer` recomputes it",
        )
        return [edge], memberships
