"""One evolutionary tree over the whole KB (or a selection): neighbor joining over every model of one
DNA protocol, rooted, with the facts figures colour by.

The paper's headline tree is one tree over every model, not a tree per family; `dnakb infer` builds
only per-family trees and an overview of family roots (NJ is O(n³)). This module builds the one tree
on demand, for up to `NJ_MAX` models (NJ + rooting: 1.3 s at 1,000 models on this machine, bench/RESULTS.md):

- distances (`tree_distances`): `evidence` (default) is the cost inference uses — each pair's
  strongest channel on one scale where 1 means "unrelated" (kb/lineage/costs.py), pairs no channel
  compares at `UNRELATED_FILL`; `text` is the paper's Euclidean distance between text DNAs alone;
- root (`choose_root`): `earliest` puts the root in the middle of the branch to the model released
  first (ties: the smaller id); `midpoint` at the middle of the longest path; `outgroup:ID` on a named
  model's branch; `auto` is `earliest` when any model has a date, else `midpoint`;
- time signal (`time_signal`): Spearman's rank correlation between each model's root-to-tip distance and
  its release date ("root-to-tip regression" in phylodynamics): near +1 when the tree lines up with time.
  Meaningful under midpoint or outgroup rooting (rooting on the earliest model uses dates itself).

`whole_tree_nrf` scores such a tree against a known genealogy (for `dnakb eval`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.errors import InputError
from kb.lineage.costs import UNRELATED_FILL, channel_scales, pair_costs
from kb.lineage.evidence import ModelEvidence, channel_distances
from kb.lineage.nj import NJ_MAX, genealogy_splits, neighbor_joining, newick_splits, restrict_splits, robinson_foulds
from kb.lineage.rooting import RootedTree, parse_newick, root_midpoint, root_outgroup

DISTANCES = ("evidence", "text")
ROOTS = ("auto", "earliest", "midpoint", "outgroup:MODEL")


def tree_distances(evs: Sequence[ModelEvidence], distance: str = "evidence") -> np.ndarray:
    """The symmetric n × n matrix NJ runs on (see the module docstring). O(n²·L) per channel."""
    if distance not in DISTANCES:
        raise InputError(f"distance must be one of {', '.join(DISTANCES)}, not {distance!r}")
    found = channel_distances(evs)
    if distance == "text":
        d = found["text"]
    else:
        d = pair_costs(evs, channel_scales(evs), found).cost
        d = np.where(np.isfinite(d), d, UNRELATED_FILL)
    d = d.copy()
    np.fill_diagonal(d, 0.0)
    return (d + d.T) / 2.0


def choose_root(root: str, released: Mapping[str, str | None], names: Sequence[str]) -> tuple[str, str | None]:
    """("earliest" | "midpoint" | "outgroup", model id or None) for a `--root` value."""
    if root.startswith("outgroup:"):
        model = root.split(":", 1)[1]
        if model not in names:
            raise InputError(f"--root {root}: {model!r} is not among the tree's models")
        return "outgroup", model
    if root not in ("auto", "earliest", "midpoint"):
        raise InputError(f"--root must be auto, earliest, midpoint or outgroup:MODEL, not {root!r}")
    dated = sorted((released[m], m) for m in names if released.get(m))
    if root == "earliest" and not dated:
        raise InputError("--root earliest: no model in the tree has a release date; use midpoint or outgroup:MODEL")
    if root in ("auto", "earliest") and dated:
        return "earliest", dated[0][1]
    return "midpoint", None


def build_tree(d: np.ndarray, names: Sequence[str], root: str = "auto",
               released: Mapping[str, str | None] | None = None) -> RootedTree:
    """NJ over `d`, rooted as `root` says."""
    names = list(names)
    if len(names) > NJ_MAX:
        raise InputError(f"{len(names)} models: one tree is O(n³) and limited to {NJ_MAX}; "
                         "select families, a date range or organisations")
    if not names:
        raise InputError("no models with a DNA in the selection")
    how, model = choose_root(root, released or {}, names)
    unrooted = parse_newick(neighbor_joining(d, names))
    if how == "midpoint":
        return root_midpoint(unrooted)
    if how == "earliest":
        return root_outgroup(unrooted, model, f"earliest release {model} ({(released or {})[model]})")
    return root_outgroup(unrooted, model)


def time_signal(tree: RootedTree, released: Mapping[str, str | None]) -> tuple[float | None, int]:
    """(Spearman's rho between root-to-tip distance and release date, dated leaves); rho None under 3."""
    from scipy.stats import spearmanr

    depth = tree.depths()
    pairs = [(depth[i], np.datetime64(released[tree.names[i]][:10]).astype(int))
             for i in tree.leaves() if released.get(tree.names[i])]
    if len(pairs) < 3:
        return None, len(pairs)
    x, y = np.array(pairs, dtype=float).T
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, len(pairs)
    return float(spearmanr(x, y).statistic), len(pairs)


def kb_splits(truth: Sequence[tuple[str, str, str]], leaves: Sequence[str]) -> set[frozenset[str]]:
    """Splits of the true genealogy over `leaves`, seen as one unrooted tree: every model's subtree, and
    every true family (independent bases share no known ancestor: the families hang from one star)."""
    from kb.lineage.metrics import members_by_family, true_families

    keep = frozenset(leaves)
    parents = {c: p for c, p, _ in truth}  # one parent suffices for the shape, as in metrics.tree_nrf
    splits = genealogy_splits(parents, sorted(keep))
    for members in members_by_family(true_families(truth, sorted(keep))).values():
        side = frozenset(members)
        other = keep - side
        if len(side) >= 2 and len(other) >= 2:
            splits.add(other if min(keep) in side else side)
    return splits


def whole_tree_nrf(newick: str, truth: Sequence[tuple[str, str, str]]) -> float:
    """Normalised Robinson–Foulds distance between a whole-KB tree and the true genealogy, on the
    tree's leaves (both unrooted: rooting does not change it)."""
    leaves, splits = newick_splits(newick)
    _, nrf = robinson_foulds(restrict_splits(splits, leaves, leaves), kb_splits(truth, sorted(leaves)))
    return nrf


@dataclass
class KbTree:
    """The rooted tree and what figures need: per model its family, architecture, org, release."""

    tree: RootedTree
    protocol: str
    distance: str
    models: dict[str, dict[str, Any]]
    time_rho: float | None = None
    dated: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def newick(self) -> str:
        return self.tree.newick() + "\n"


@dataclass(frozen=True)
class Selection:
    """Which models go into the tree: families (labels or model ids), a release-date range, organisations.
    Empty fields select everything; a date range leaves out models without a date."""

    families: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    orgs: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.families:
            parts.append("families " + ", ".join(self.families))
        if self.since or self.until:
            parts.append(f"released {self.since or '…'} to {self.until or '…'}")
        if self.orgs:
            parts.append("orgs " + ", ".join(self.orgs))
        return "; ".join(parts) or "every model"


def selected(models: Mapping[str, dict[str, Any]], selection: Selection) -> list[str]:
    """Ids of `models` (id -> facts with family, released, org) that `selection` keeps, sorted."""
    from kb.records import normalise_date

    since, until = normalise_date(selection.since), normalise_date(selection.until)
    orgs = {o.lower() for o in selection.orgs}
    keep = []
    for model, facts in sorted(models.items()):
        if selection.families and facts.get("family") not in selection.families:
            continue
        if (since or until) and not facts.get("released"):
            continue
        if since and facts["released"] < since or until and facts["released"] > until:
            continue
        if orgs and (facts.get("org") or "").lower() not in orgs:
            continue
        keep.append(model)
    return keep


FACTS = (
    "MATCH (m:Model) WHERE m.protocol = $p AND m.dna IS NOT NULL RETURN m.id AS id, "
    "m.architecture AS architecture, m.org AS org, m.released AS released, m.license AS license ORDER BY id"
)


def collect_kb_tree(store: Any, selection: Selection = Selection(), *, distance: str = "evidence",
                    root: str = "auto", protocol: str | None = None) -> KbTree:
    """Read the models of one protocol that `selection` keeps and build their rooted tree (facts
    first, so a selection over `NJ_MAX` is refused before any vector is read)."""
    from kb.lineage.groups import model_groups
    from kb.lineage.infer import choose_protocol, store_evidence

    messages: list[str] = []
    pid = choose_protocol(store.protocols(), protocol, messages)
    groups = model_groups(store)
    families = tuple(groups.resolve(f) for f in selection.families)
    facts = {row["id"]: {**row, "family": groups.of.get(row["id"])} for row in store.cypher(FACTS, {"p": pid})}
    chosen = selected(facts, Selection(families, selection.since, selection.until, selection.orgs))
    if not chosen:
        raise InputError(f"no model with a DNA of protocol {pid} matches the selection ({selection.describe()})")
    if len(chosen) > NJ_MAX:
        raise InputError(f"{len(chosen)} models: one tree is O(n³) and limited to {NJ_MAX}; "
                         "select families, a date range or organisations")
    evs = store_evidence(store, pid, chosen, declared=False)
    released = {m: facts[m]["released"] for m in chosen}
    tree = build_tree(tree_distances(evs, distance), chosen, root, released)
    rho, dated = time_signal(tree, released)
    return KbTree(tree, pid, distance, {m: {k: v for k, v in facts[m].items() if k != "id"} for m in chosen},
                  rho, dated, messages)
