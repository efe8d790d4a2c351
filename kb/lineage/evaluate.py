"""`evaluate`: score lineage inference on a KB whose true genealogy is known (a zoo).

Runs `infer` on the store (written, with bootstrap, declared parents NOT used as evidence — the
zoo's declarations are the answer key), then three ablations computed without writing and without
bootstrap: no dates, no weights, neither. Reports parent accuracy (overall and per relation),
relation accuracy of attached edges, family ARI, normalised RF of the NJ trees, relation-detection
AUC (family-disjoint folds), support calibration, and the wrong edges with their true relation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.errors import InputError
from kb.lineage.evidence import ModelEvidence
from kb.lineage.infer import InferenceResult, infer, infer_lineage
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
from kb.lineage.parents import channel_scales

VARIANTS = {"no dates": dict(use_dates=False), "no weights": dict(use_weights=False),
            "no dates, no weights": dict(use_dates=False, use_weights=False)}


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
            "parent_tree_nrf": self.parent_tree_nrf,
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
    embeddings_loader: Callable | None = None,
    progress: Callable[[str], None] | None = None, **infer_options: object,
) -> EvalReport:
    """Infer on `store` (or, with `run_infer=False`, take its current inferred results) and score
    against `truth` = (child, parent, relation) triples; `variants` adds the ablations."""
    say = progress or (lambda _m: None)
    if not truth:
        raise InputError("no true edges to evaluate against: the zoo manifest declares no parents")
    if run_infer:
        result = infer(store, protocol, bootstrap=bootstrap, use_declared=False,
                       embeddings_loader=embeddings_loader, progress=say, **infer_options)  # type: ignore[arg-type]
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
    ids, matrix = store.dna_matrix(result.protocol)
    records = {r.id: r for r in store.get_models(ids)}
    evs = []
    for i, mid in enumerate(ids):
        ev = ModelEvidence.from_record(records[mid])
        ev.text_dna = np.asarray(matrix[i], dtype=np.float64)
        evs.append(ev)
    scales = channel_scales(evs)
    auc = relation_auc(evs, kept, tfam, scales)
    calibration = support_calibration([(e.child, e.parent, e.support) for e in result.edges], kept)
    report = EvalReport(protocol=result.protocol, models=len(models), truth_edges=len(kept),
                        skipped_truth=len(truth) - len(kept), parents=score, ari=ari, nrf=nrf,
                        nrf_families=nrf_n, parent_tree_nrf=tree_rf, auc=auc, calibration=calibration,
                        messages=list(result.messages))
    report.variants["as inferred"] = (score.accuracy, score.relation_accuracy, ari)
    if variants:
        for name, opts in VARIANTS.items():
            say(f"evaluate: variant {name}")
            res = infer_lineage(evs, protocol=result.protocol, use_declared=False, trees=False, **opts)  # type: ignore[arg-type]
            s, a = _score(res, kept, models)
            report.variants[name] = (s.accuracy, s.relation_accuracy, a)
    return report


def _f(x: object) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else (f"{x:.3f}" if isinstance(x, float) else str(x))


def format_report(report: EvalReport) -> str:
    """The human form printed by `dnakb eval`."""
    from kb.cli.output import table

    p = report.parents
    head = [
        {"metric": "models / true edges", "value": f"{report.models} / {report.truth_edges}"
         + (f" ({report.skipped_truth} true edges name models not in the KB)" if report.skipped_truth else "")},
        {"metric": "parent accuracy", "value": f"{_f(p.accuracy)} ({p.correct}/{p.n})"},
        {"metric": "relation accuracy (attached edges)", "value": f"{_f(p.relation_accuracy)} ({p.relation_right}/{p.relation_n})"},
        {"metric": "family ARI", "value": _f(report.ari)},
        {"metric": "normalised RF (NJ trees)", "value": f"{_f(report.nrf)} over {report.nrf_families} families"},
        {"metric": "normalised RF (inferred parent tree)", "value": _f(report.parent_tree_nrf)},
        {"metric": "edge-detection AUC (family-disjoint)", "value": _f(report.auc.get("edge"))},
    ]
    by_rel = [{"relation": k, "parent accuracy": _f(c / n if n else None), "n": n}
              for k, (c, n) in p.by_relation.items()]
    aucs = [{"relation": k, "AUC (one vs rest)": _f(v)} for k, v in report.auc.items() if k != "edge"]
    variants = [{"variant": k, "parent acc": _f(a), "relation acc": _f(r), "family ARI": _f(f)}
                for k, (a, r, f) in report.variants.items()]
    calib = [{**row, "accuracy": _f(row["accuracy"])} for row in report.calibration]
    confusion = [{"true": a, "inferred": b, "edges": v} for (a, b), v in sorted(p.relation_confusion.items()) if a != b]
    parts = [table(head), "By true relation:\n" + table(by_rel), "Variants:\n" + table(variants),
             "Support calibration:\n" + table(calib)]
    if aucs:
        parts.append("Relation AUC:\n" + table(aucs))
    if confusion:
        parts.append("Relation mistakes (attached edges):\n" + table(confusion))
    if p.wrong:
        wrong = [{"child": c, "inferred parent": q, "true relation": r} for c, q, r in p.wrong[:30]]
        parts.append(f"Wrong parents ({len(p.wrong)}):\n" + table(wrong))
    if report.messages:
        parts.append("\n".join(f"note: {m}" for m in report.messages))
    return "\n\n".join(parts)
