"""`dnakb eval ZOO_MANIFEST`: how well inference recovers a known genealogy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from kb.cli.app import store_from
from kb.cli.options import ArtifactsOpt, BootstrapOpt, JsonOpt, ProtocolFileOpt, QuietOpt
from kb.cli.output import Progress, emit, table
from kb.lineage.evaluate import EvalReport


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="The zoo's manifest.yaml (true parents and relations).")],
    use_current: Annotated[bool, typer.Option("--use-current", help="Score the KB's current inferred results; ingest and infer nothing.")] = False,
    bootstrap: BootstrapOpt = 100,
    workers: Annotated[int, typer.Option(min=1, help="Ingest worker processes.")] = 1,
    protocol_file: ProtocolFileOpt = None,
    artifacts: ArtifactsOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ingest and infer a zoo (or use the current KB) and print parent accuracy, family ARI,
    Robinson-Foulds distance, relation AUC and support calibration."""
    from ingest.evaluation import evaluate_zoo
    from kb.protocol import DnaProtocol

    with store_from(ctx, write=not use_current) as store:
        protocol = DnaProtocol.load(protocol_file) if protocol_file else None
        report = evaluate_zoo(manifest, store, use_current=use_current, bootstrap=bootstrap, workers=workers,
                              artifacts=artifacts, protocol=protocol, progress=Progress(quiet))
    emit(report.as_dict(), as_json=as_json, human=format_report(report))


def _f(x: object) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else (f"{x:.3f}" if isinstance(x, float) else str(x))


def format_report(report: EvalReport) -> str:
    """The human form printed by `dnakb eval`."""

    p = report.parents
    head = [
        {"metric": "models / true edges", "value": f"{report.models} / {report.truth_edges}"
         + (f" ({report.skipped_truth} true edges name models not in the KB)" if report.skipped_truth else "")},
        {"metric": "parent accuracy", "value": f"{_f(p.accuracy)} ({p.correct}/{p.n})"},
        {"metric": "relation accuracy (attached edges)", "value": f"{_f(p.relation_accuracy)} ({p.relation_right}/{p.relation_n})"},
        {"metric": "family ARI", "value": _f(report.ari)},
        {"metric": "normalised RF (NJ trees)", "value": f"{_f(report.nrf)} over {report.nrf_families} families"},
        {"metric": "normalised RF (inferred parent tree)", "value": _f(report.parent_tree_nrf)},
        *([{"metric": "normalised RF (one tree over the KB)",
            "value": " / ".join(f"{_f(v)} {k}" for k, v in report.kb_tree_nrf.items())}] if report.kb_tree_nrf else []),
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
