"""Evolution speed: how far models move in DNA space per year along their parent edges, per family.

For a parent edge with both release dates known and the child released later, the step is
`rate = ‖DNA(child) − DNA(parent)‖ / (Δdays / 365.25)`: DNA distance travelled per year (text DNA,
Euclidean, as the paper's d). A family's speed is the median rate over its edges, with the
quartiles as spread and the counts of edges that had dates and DNAs, so a reader sees how much
data a figure rests on. The family of an edge is its child's (`kb.lineage.groups`).

What the number means, and its limits:
- It is a rate of *functional* change between a model and the model it was derived from, not of
  training compute or quality. Quantized copies move little; fine-tunes on a new topic move far.
- Distance saturates: two unrelated models sit near a fixed typical distance, so a long chain
  travels less than the sum of its steps, and a family whose steps are large is under-measured.
  Compare families by their median step, not by the distance of their newest member from the root.
- Protocol-bound: DNAs compare only under one protocol (probes, token budget, embedder, projection),
  so rates are computed over the KB's main protocol and are comparable only with rates under it.
- Dates are release (or, from the Hugging Face Hub, repository creation) dates: a same-day or
  backdated child gives no rate and is counted as undated. Without DNAs, `median_days` (the time
  from parent to child) is still measured.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DAYS_PER_YEAR = 365.25
MODEL_FACTS = "MATCH (m:Model) RETURN m.id AS id, m.released AS released ORDER BY id"


@dataclass(frozen=True)
class Step:
    """One parent edge: its family, the days between the releases, the DNA distance between the two."""

    child: str
    parent: str
    family: str
    days: int | None
    distance: float | None

    @property
    def dated(self) -> bool:
        return self.days is not None and self.days > 0

    @property
    def rate(self) -> float | None:
        """DNA distance per year; None without both DNAs or a positive interval."""
        if not self.dated or self.distance is None:
            return None
        return self.distance / (self.days / DAYS_PER_YEAR)  # type: ignore[operator]


def days_between(parent: str | None, child: str | None) -> int | None:
    """Days from the parent's release to the child's (ISO dates); None when either is missing."""
    if not parent or not child:
        return None
    return (dt.date.fromisoformat(child[:10]) - dt.date.fromisoformat(parent[:10])).days


def edge_steps(pairs: Iterable[tuple[str, str]], family: Mapping[str, str], released: Mapping[str, str | None],
               vectors: Mapping[str, np.ndarray]) -> list[Step]:
    """A `Step` per (child, parent) pair; distance where both models have a DNA in `vectors`."""
    steps = []
    for child, parent in pairs:
        a, b = vectors.get(child), vectors.get(parent)
        distance = None
        if a is not None and b is not None:
            distance = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
        steps.append(Step(child, parent, family.get(child, ""), days_between(released.get(parent),
                                                                             released.get(child)), distance))
    return steps


def _quantiles(values: list[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    q25, q50, q75 = np.quantile(np.asarray(values, dtype=np.float64), [0.25, 0.5, 0.75])
    return float(q25), float(q50), float(q75)


def speed_rows(steps: Iterable[Step], roots: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per family: edges, dated edges, median days parent -> child, edges with a rate, and the
    median rate with its quartiles. Rows by family."""
    by_family: dict[str, list[Step]] = {}
    for step in steps:
        by_family.setdefault(step.family, []).append(step)
    rows = []
    for family, found in sorted(by_family.items()):
        days = [float(s.days) for s in found if s.dated]  # type: ignore[arg-type]
        rates = [r for s in found if (r := s.rate) is not None]
        q25, median, q75 = _quantiles(rates)
        rows.append({
            "family": family, "root": roots.get(family) or None, "edges": len(found),
            "dated_edges": len(days), "median_days": _quantiles(days)[1],
            "dna_edges": len(rates), "median_rate": median, "q25_rate": q25, "q75_rate": q75,
        })
    return rows


def evolution_speed(store: Any, edges: str = "both", family: str = "") -> list[dict[str, Any]]:
    """The `evolution-speed` template: `speed_rows` over the KB's parent edges (declared, inferred or
    both; a pair with both counts once), DNAs of the KB's main protocol; one family when `family`
    names one (a family label or a model id)."""
    from kb.lineage.groups import model_groups
    from kb.lineage.infer import choose_protocol
    from kb.lineage.walk import read_parent_edges, unique_pairs

    groups = model_groups(store)
    wanted = groups.resolve(family) if family else None
    released = {row["id"]: row["released"] for row in store.cypher(MODEL_FACTS)}
    vectors: dict[str, np.ndarray] = {}
    protocols = store.protocols()
    if protocols:
        ids, matrix = store.dna_matrix(choose_protocol(protocols, None, []))
        vectors = dict(zip(ids, matrix))
    pairs = [p for p in unique_pairs(read_parent_edges(store, edges))
             if wanted is None or groups.of.get(p[0]) == wanted]
    return speed_rows(edge_steps(pairs, groups.of, released, vectors), groups.root)
