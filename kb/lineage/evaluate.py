"""`evaluate`: score lineage inference on a KB whose true genealogy is known (a zoo).

Runs `infer` on the store (written, with bootstrap, declared parents NOT used as evidence — the
zoo's declarations are the answer key), then three ablations computed without writing and without
bootstrap: no dates, no weights, neither. Reports parent accuracy (overall and per relation),
relation accuracy of attached edges, family ARI, normalised RF of the NJ trees, relation-detection
AUC (family-disjoint folds), support calibration, and the wrong edges with their true relation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from kb.channels import select
from kb.errors import InputError
from kb.lineage.costs import channel_scales
from kb.lineage.infer import ArraysLoader, InferenceResult, infer, infer_lineage, store_evidence
from kb.lineage.metrics import (
    ParentScore,
    family_ari,
    genealogy_nrf,
    parent_accuracy,
    relation_auc,
    support_calibration,
    tree_nrf,
    true_families,
)

VARIANTS = {"no dates": dict(use_dates=False), "no weights": dict(channels=select(without=["weights"])),
            "no dates, no weights": dict(use_dates=False, channels=select(without=["weights"]))}


@dataclass
class EvalReport:
    protocol: str | None
    models: int
    truth_edges: int
    skipped_truth: int
    parents: ParentScore
    ari: float
    nrf: float
    nrf_families: int
    parent_tree_nrf: float
    auc: dict[str, float]
    calibration: list[dict[str, object]]
    variants: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # acc, rel acc, ARI
    messages: list[str] = field(default_factory=list)
    kb_tree_nrf: dict[str, float] = field(default_factory=dict)
    """Normalised RF of the one tree over the whole KB (kb/lineage/kbtree.py), per distance."""

    def as_dict(self) -> dict[str, object]:
        p = self.parents
        return {
            "protocol": self.protocol, "models": self.models, "truth_edges": self.truth_edges,
            "skipped_truth_edges": self.skipped_truth,
            "parent_accuracy": p.accuracy, "parent_n": p.n,
            "by_relation": {k: {"correct": c, "n": n} for k, (c, n) in p.by_relation.items()},
            "relation_accuracy": p.relation_accuracy,
            "relation_confusion": {f"{a}->{b}": v for (a, b), v in sorted(p.relation_confusion.items())},
            "family_ari": self.ari, "nrf": self.nrf, "nrf_families": self.nrf_families,
            "parent_tree_nrf": self.parent_tree_nrf, "kb_tree_nrf": self.kb_tree_nrf,
            "auc": self.auc, "calibration": self.calibration,
            "variants": {k: {"parent_accuracy": a, "relation_accuracy": r, "family_ari": f}
                         for k, (a, r, f) in self.variants.items()},
            "wrong": [{"child": c, "inferred": p, "true_relation": r} for c, p, r in p.wrong],
            "messages": self.messages,
        }


def _score(result: InferenceResult, truth: Sequence[tuple[str, str, str]], models: list[str]
           ) -> tuple[ParentScore, float]:
    edges = [(e.child, e.parent, e.relation) for e in result.edges]
    fams = {m.model: m.family for m in result.memberships}
    return parent_accuracy(edges, truth, models), family_ari(fams, true_families(truth, models))


def evaluate(
    store, truth: Sequence[tuple[str, str, str]], *, protocol: str | None = None,
    bootstrap: int = 100, variants: bool = True, run_infer: bool = True,
    arrays: ArraysLoader | None = None,
    progress: Callable[[str], None] | None = None, **infer_options: object,
) -> EvalReport:
    """Infer on `store` (or, with `run_infer=False`, take its current inferred results) and score
    against `truth` = (child, parent, relation) triples; `variants` adds the ablations."""
    say = progress or (lambda _m: None)
    if not truth:
        raise InputError("no true edges to evaluate against: the zoo manifest declares no parents")
    if run_infer:
        result = infer(store, protocol, bootstrap=bootstrap, use_declared=False,
                       arrays=arrays, progress=say, **infer_options)  # type: ignore[arg-type]
    else:  # score what the KB holds now
        pid = protocol or max(store.protocols().items(), key=lambda x: x[1], default=(None, 0))[0]
        if pid is None:
            raise InputError("the KB holds no DNAs: ingest the zoo first")
        result = InferenceResult(protocol=pid, families=store.families(), memberships=store.memberships(),
                                 edges=store.inferred_edges())
        if not result.memberships:
            raise InputError("the KB holds no inferred results: run `dnakb infer` first")
        result.edges.sort(key=lambda e: (e.child, e.method != "arborescence"))  # primary parent first
    models = [m.model for m in result.memberships]
    inside = set(models)
    kept = [t for t in truth if t[0] in inside and t[1] in inside]
    score, ari = _score(result, kept, models)
    tfam = true_families(kept, models)
    nrf, nrf_n = tree_nrf([f.newick for f in result.families if f.newick], kept, tfam)
    primary: dict[str, str] = {}
    for e in result.edges:
        primary.setdefault(e.child, e.parent)
    tree_rf, _ = genealogy_nrf(primary, kept, tfam)
    say("evaluate: relation-detection AUC")
    evs = [replace(e, declared_parents=[]) for e in store_evidence(store, result.protocol)]
    scales = channel_scales(evs)
    auc = relation_auc(evs, kept, tfam, scales)
    calibration = support_calibration([(e.child, e.parent, e.support) for e in result.edges], kept)
    kb_nrf = _kb_tree_nrf(evs, kept, models, say)
    report = EvalReport(protocol=result.protocol, models=len(models), truth_edges=len(kept),
                        skipped_truth=len(truth) - len(kept), parents=score, ari=ari, nrf=nrf,
                        nrf_families=nrf_n, parent_tree_nrf=tree_rf, auc=auc, calibration=calibration,
                        messages=list(result.messages), kb_tree_nrf=kb_nrf)
    report.variants["as inferred"] = (score.accuracy, score.relation_accuracy, ari)
    if variants:
        for name, opts in VARIANTS.items():
            say(f"evaluate: variant {name}")
            res = infer_lineage(evs, protocol=result.protocol, use_declared=False, trees=False, **opts)  # type: ignore[arg-type]
            s, a = _score(res, kept, models)
            report.variants[name] = (s.accuracy, s.relation_accuracy, a)
    return report


def _kb_tree_nrf(evs, truth, models: list[str], say: Callable[[str], None]) -> dict[str, float]:
    """RF of one NJ tree over every inferred model (as `dnakb export tree` draws it), per distance."""
    from kb.lineage.kbtree import DISTANCES, build_tree, tree_distances, whole_tree_nrf
    from kb.lineage.nj import NJ_MAX

    inside = set(models)
    chosen = [e for e in evs if e.id in inside]
    if not 4 <= len(chosen) <= NJ_MAX:
        return {}
    say("evaluate: one tree over the KB")
    names = [e.id for e in chosen]
    return {d: whole_tree_nrf(build_tree(tree_distances(chosen, d), names, "midpoint").newick(), truth)
            for d in DISTANCES}
