"""Metrics of inferred lineage against a known genealogy (pure functions).

- parent accuracy: non-root models (those with a true parent) whose first inferred parent is one
  of their true parents; per true relation; relation accuracy of the correctly attached edges.
- family ARI (Hubert & Arabie 1985, scikit-learn): inferred families vs true ones (connected
  components of the true genealogy).
- normalised Robinson–Foulds (Robinson & Foulds 1981): per true family of ≥ 4 models, the inferred
  NJ tree(s) pruned to that family's models against the genealogy seen as an unrooted tree (NJ puts
  every model at a leaf and resolves every polytomy, so even a perfect reconstruction scores above 0
  where a parent has 3+ children); and the same distance for the inferred parent tree itself.
- relation-detection AUC with family-disjoint splits: a logistic regression on pair features; folds
  by true family (GroupKFold), pairs only within the train or within the test families, so no model
  is on both sides (pair-level splits leak, as the LLM-DNA repository found).
- support calibration: accuracy of edges binned by bootstrap support.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.errors import InputError
from kb.channels import NAMES
from kb.channels.weights import SKETCH_K, difference_rank_profile
from kb.lineage.evidence import ModelEvidence, channel_distances, precision_rank
from kb.lineage.nj import genealogy_splits, newick_splits, restrict_splits, robinson_foulds
from kb.lineage.costs import Scales

WEIGHTS = "weights"

Truth = Sequence[tuple[str, str, str]]
SUPPORT_BINS = (0.0, 0.5, 0.7, 0.9, 1.0000001)


def true_parents(truth: Truth) -> dict[str, dict[str, str]]:
    """child -> {parent: relation}."""
    out: dict[str, dict[str, str]] = {}
    for child, parent, relation in truth:
        out.setdefault(child, {})[parent] = relation
    return out


def true_families(truth: Truth, models: Iterable[str]) -> dict[str, str]:
    """model -> family id (the alphabetically first model of its connected component)."""
    parent = {m: m for m in models}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for child, par, _ in truth:
        if child in parent and par in parent:
            a, b = find(child), find(par)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {m: find(m) for m in parent}


@dataclass
class ParentScore:
    n: int
    correct: int
    by_relation: dict[str, tuple[int, int]]  # relation -> (correct, n)
    relation_right: int
    relation_n: int
    relation_confusion: dict[tuple[str, str], int]  # (true, inferred) -> count among correct edges
    wrong: list[tuple[str, str, str]]  # (child, inferred parent or '-', true relation)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    @property
    def relation_accuracy(self) -> float:
        return self.relation_right / self.relation_n if self.relation_n else float("nan")


def parent_accuracy(inferred: Sequence[tuple[str, str, str | None]], truth: Truth,
                    models: Iterable[str]) -> ParentScore:
    """`inferred`: (child, parent, relation) edges in priority order (first edge = primary parent)."""
    keep = set(models)
    truth_map = true_parents([t for t in truth if t[0] in keep and t[1] in keep])
    first: dict[str, tuple[str, str | None]] = {}
    for child, parent, relation in inferred:
        first.setdefault(child, (parent, relation))
    by_rel: dict[str, list[int]] = {}
    conf: dict[tuple[str, str], int] = {}
    correct = rel_right = rel_n = 0
    wrong = []
    for child, parents in sorted(truth_map.items()):
        rel = next(iter(parents.values()))
        stats = by_rel.setdefault(rel, [0, 0])
        stats[1] += 1
        got = first.get(child)
        if got is not None and got[0] in parents:
            correct += 1
            stats[0] += 1
            want = parents[got[0]]
            rel_n += 1
            rel_right += int(got[1] == want)
            conf[(want, str(got[1]))] = conf.get((want, str(got[1])), 0) + 1
        else:
            wrong.append((child, got[0] if got else "-", rel))
    return ParentScore(n=len(truth_map), correct=correct,
                       by_relation={k: (v[0], v[1]) for k, v in sorted(by_rel.items())},
                       relation_right=rel_right, relation_n=rel_n, relation_confusion=conf, wrong=wrong)


def family_ari(inferred: dict[str, str], truth_families: dict[str, str]) -> float:
    from sklearn.metrics import adjusted_rand_score

    models = sorted(set(inferred) & set(truth_families))
    if not models:
        raise InputError("no model is in both the inferred and the true families")
    return float(adjusted_rand_score([truth_families[m] for m in models], [inferred[m] for m in models]))


def tree_nrf(newicks: Sequence[str], truth: Truth, truth_families: dict[str, str]) -> tuple[float, int]:
    """Size-weighted mean normalised RF over true families of ≥ 4 models covered by the trees
    (each family compared with the inferred tree holding most of its models); (nan, 0) if none."""
    parsed = [newick_splits(t) for t in newicks if t]
    parents = {c: p for c, p, _ in truth}  # one parent suffices for the tree's shape
    groups = members_by_family(truth_families)
    total = weight = 0.0
    count = 0
    for members in groups.values():
        if len(members) < 4 or not parsed:
            continue
        leaves, splits = max(parsed, key=lambda x: len(x[0] & set(members)))
        keep = frozenset(leaves & set(members))
        if len(keep) < 4:
            continue
        _, nrf = robinson_foulds(restrict_splits(splits, leaves, keep), genealogy_splits(parents, sorted(keep)))
        total += nrf * len(keep)
        weight += len(keep)
        count += 1
    return (total / weight if weight else float("nan")), count


def members_by_family(families: dict[str, str]) -> dict[str, list[str]]:
    """family id -> its models, from model id -> family id."""
    groups: dict[str, list[str]] = {}
    for model, family in families.items():
        groups.setdefault(family, []).append(model)
    return groups


def genealogy_nrf(inferred: dict[str, str], truth: Truth, truth_families: dict[str, str]) -> tuple[float, int]:
    """Size-weighted normalised RF between the inferred parent tree (primary parents, models as
    nodes) and the true genealogy, per true family of ≥ 4 models; both seen as unrooted trees on
    the models (`nj.genealogy_splits`)."""
    parents = {c: p for c, p, _ in truth}
    groups = members_by_family(truth_families)
    total = weight = 0.0
    count = 0
    for members in groups.values():
        if len(members) < 4:
            continue
        _, nrf = robinson_foulds(genealogy_splits(inferred, members), genealogy_splits(parents, members))
        total += nrf * len(members)
        weight += len(members)
        count += 1
    return (total / weight if weight else float("nan")), count


# -- relation detection ---------------------------------------------------------------------------
FEATURES = (*(f"{name}_cost" for name in NAMES), "has_weights", "same_signature", "precision_gap",
            "diff_rank", "changed_blocks")


def pair_features(evs: Sequence[ModelEvidence], pairs: Sequence[tuple[int, int]], scales: Scales) -> np.ndarray:
    """Feature rows for (child, parent) index pairs: each channel's cost (missing: 2, past unrelated),
    whether weights compare, same signature, precision gap, and the rank structure of the weight
    difference (median effective rank / k, share of changed matrices)."""
    ch = channel_distances(evs)
    costs = [ch[name] / scales[name] for name in NAMES]
    w = ch[WEIGHTS]
    rows = []
    for c, p in pairs:
        a, b = evs[c], evs[p]
        rc, rp = precision_rank(a.precision), precision_rank(b.precision)
        rank, changed = 1.0, 1.0
        if np.isfinite(w[c, p]) and w[c, p] > 0:
            prof = difference_rank_profile(a.vectors[WEIGHTS], b.vectors[WEIGHTS])
            ok = ~np.isnan(prof)
            rank = float(np.median(prof[ok]) / SKETCH_K) if ok.any() else 0.0
            changed = float(ok.mean())
        rows.append([
            *(d[c, p] if np.isfinite(d[c, p]) else 2.0 for d in costs), float(np.isfinite(w[c, p])),
            float(bool(a.signature) and a.signature == b.signature),
            float(rp - rc) if rc is not None and rp is not None else 0.0, rank, changed,
        ])
    return np.asarray(rows, dtype=float)


def relation_auc(evs: Sequence[ModelEvidence], truth: Truth, truth_families: dict[str, str],
                 scales: Scales, folds: int = 5) -> dict[str, float]:
    """AUCs with family-disjoint folds: 'edge' (is this ordered pair child → parent?) and, among
    true edges, one-vs-rest per relation. NaN where a fold lacks both classes throughout."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    index = {e.id: i for i, e in enumerate(evs)}
    tmap = true_parents([t for t in truth if t[0] in index and t[1] in index])
    fam = [truth_families.get(e.id, e.id) for e in evs]
    groups = sorted(set(fam))
    k = min(folds, len(groups))
    if k < 2:
        return {"edge": float("nan")}
    # candidate pairs: every ordered pair within a true family (cross-family pairs are trivially
    # negative and would inflate the AUC)
    pairs, labels, rels, pair_group = [], [], [], []
    by_fam: dict[str, list[int]] = {}
    for i, f in enumerate(fam):
        by_fam.setdefault(f, []).append(i)
    for f, members in by_fam.items():
        for c in members:
            for p in members:
                if c != p:
                    rel = tmap.get(evs[c].id, {}).get(evs[p].id)
                    pairs.append((c, p)); labels.append(int(rel is not None)); rels.append(rel); pair_group.append(f)
    features = pair_features(evs, pairs, scales) if pairs else np.zeros((0, len(FEATURES)))
    labels_a, group_a = np.asarray(labels), np.asarray(pair_group)
    out: dict[str, float] = {}

    def cv_auc(x: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
        if len(set(y)) < 2 or len(set(g)) < 2:
            return float("nan")
        scores = np.full(y.size, np.nan)
        for train, test in GroupKFold(n_splits=min(k, len(set(g)))).split(x, y, g):
            if len(set(y[train])) < 2:
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            model.fit(x[train], y[train])
            scores[test] = model.predict_proba(x[test])[:, 1]
        ok = ~np.isnan(scores)
        return float(roc_auc_score(y[ok], scores[ok])) if len(set(y[ok])) == 2 else float("nan")

    out["edge"] = cv_auc(features, labels_a, group_a) if pairs else float("nan")
    edge_rows = np.nonzero(labels_a == 1)[0]
    for rel in sorted({r for r in rels if r}):
        y = np.asarray([int(rels[i] == rel) for i in edge_rows])
        out[rel] = cv_auc(features[edge_rows], y, group_a[edge_rows]) if edge_rows.size else float("nan")
    return out


def support_calibration(edges: Sequence[tuple[str, str, float | None]], truth: Truth) -> list[dict[str, object]]:
    """Rows (bin, edges, accuracy) of edges (child, parent, support) binned by support."""
    tmap = true_parents(truth)
    rows = []
    for lo, hi in zip(SUPPORT_BINS[:-1], SUPPORT_BINS[1:]):
        hits = [p in tmap.get(c, {}) for c, p, s in edges if s is not None and lo <= s < hi]
        rows.append({"support": f"[{lo:.1f}, {min(hi, 1.0):.1f}{']' if hi > 1 else ')'}",
                     "edges": len(hits), "accuracy": (sum(hits) / len(hits)) if hits else None})
    return rows
