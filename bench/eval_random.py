"""Lineage inference scored on random zoos (ingest/zoo/random_plan.py), one fresh KB per zoo.

Per seed: build the zoo (`dnakb zoo build DIR --random SEED --models N`), ingest it into a fresh
embedded KB without its declared parents (fresh artifact store unless --reuse-artifacts, so the
ingest time is a first ingest), run `dnakb eval`'s scoring (kb.lineage.evaluate.evaluate; with
--bootstrap N also accuracy by support bin) and the categories of ingest/zoo/scoring.py on three inference runs: with dates and
weights, without dates, without weights. Prints per zoo, then mean and worst over zoos, then
strict accuracy by trap tag summed over zoos, and the wall time of each phase plus the CPU time of
all three (this process and its worker pools; the load-independent cost: on an idle 2-core machine
the wall time is at least half of it).

Protocol: seeds 0-9 are development seeds (rules may be tuned on them); seeds >= 1000 are held out
for reporting and need --held-out, so nobody looks at them by accident while changing rules.

Usage:
    .venv/bin/python bench/eval_random.py --seeds 0..9 [--models 24] [--probes 100] [--tokens 32]
    .venv/bin/python bench/eval_random.py --seeds 1000..1009 --held-out --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HELD_OUT = 1000
COLUMNS = ("failed", "strict", "lenient", "strict_no_dates", "strict_no_weights", "relation", "ari",
           "ari_weight_families", "roots_no_dates",
           "distill", "lookalikes_together", "dnakb_eval_parent_acc")


def parse_seeds(text: str) -> list[int]:
    """"0..9" -> 0-9; "1,4,7" -> those; "3" -> [3]."""
    out: list[int] = []
    for part in text.split(","):
        if ".." in part:
            a, b = part.split("..", 1)
            out += list(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the build's and ingest's worker pools)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_seed(seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from ingest.api import make_protocol
    from ingest.zoo.build import build_zoo

    say = (lambda m: print(f"  [{seed}] {m}", file=sys.stderr)) if args.verbose else (lambda m: None)
    t0, c0 = time.perf_counter(), cpu_seconds()
    kept = args.keep_kbs / f"kb-{seed}" if args.keep_kbs else None
    manifest = work / f"zoo-{seed}" / "manifest.yaml"
    reuse_kb = kept is not None and kept.with_suffix(".done").exists() and manifest.is_file()
    if reuse_kb:  # the zoo and its KB as the last run left them: only inference runs again
        built = reused = 0
    else:
        summary = build_zoo(work / f"zoo-{seed}", random_seed=seed, n_models=args.models, jobs=args.jobs,
                            progress=say)
        manifest, built, reused = summary.manifest, summary.built, summary.reused
    t_build, c_build = time.perf_counter() - t0, cpu_seconds() - c0
    protocol = make_protocol(args.probes, args.tokens, loglik_texts=args.loglik_texts)
    with tempfile.TemporaryDirectory(prefix=f"eval-random-{seed}-") as tmp:
        row, _runs = score_manifest(manifest, protocol, kept or Path(tmp) / "kb",
                             artifacts=work / "artifacts" if args.reuse_artifacts else Path(tmp) / "artifacts",
                             jobs=args.jobs, bootstrap=args.bootstrap, say=say, reuse_kb=reuse_kb)
    row["seconds"]["build"], row["cpu_seconds"]["build"] = round(t_build, 1), round(c_build, 1)
    return {"seed": seed, **row, "built": built, "reused": reused}


def score_manifest(manifest: Path, protocol: Any, kb: Path, *, artifacts: Path, jobs: int, bootstrap: int,
                   say: Any, reuse_kb: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ingest a zoo into the embedded KB at `kb` (unless `reuse_kb`, or the KB marks itself done), infer
    with dates, without dates and without weights, and score each against the manifest's truth.
    Returns the figures and the three inference runs ("dated", "no_dates", "no_weights")."""
    from ingest.api import ingest
    from ingest.evaluation import stored_as
    from ingest.zoo.manifest import load_zoo_manifest
    from ingest.zoo.scoring import Inferred, as_stored, by_direction, score_zoo
    from kb.channels import select
    from kb.lineage.evaluate import evaluate
    from kb.lineage.infer import infer_lineage, store_evidence
    from kb.stores import StoreConfig, open_store

    done_mark = kb.with_suffix(".done")
    reuse_kb = reuse_kb or done_mark.exists()
    store = open_store(StoreConfig(kind="embedded", db=kb))
    try:
        t0, c0 = time.perf_counter(), cpu_seconds()
        failed = 0
        if not reuse_kb:
            failed = ingest(manifest, store, workers=jobs, declared=False, protocol=protocol,
                            artifacts=artifacts, progress=say).failed
            done_mark.touch()  # marks the KB complete (an interrupted ingest is resumed, not reused)
        t_ingest, c_ingest = time.perf_counter() - t0, cpu_seconds() - c0
        t0, c0 = time.perf_counter(), cpu_seconds()
        entries = load_zoo_manifest(manifest)
        entries = as_stored(entries, stored_as(store, [e.id for e in entries]))  # a duplicate scored as its original
        official = evaluate(store, [(e.id, p.id, p.relation) for e in entries for p in e.parents], bootstrap=bootstrap,
                            variants=False)
        evs = store_evidence(store, protocol.id)
        runs = {name: Inferred.from_result(infer_lineage(evs, protocol=protocol.id, use_declared=False,
                                                         trees=False, **opts))
                for name, opts in (("dated", {}), ("no_dates", {"use_dates": False}),
                                   ("no_weights", {"channels": select(without=["weights"])}))}
        t_eval, c_eval = time.perf_counter() - t0, cpu_seconds() - c0
    finally:
        store.close()
    main = score_zoo(entries, runs["dated"], roots_from=runs["no_dates"])
    return {"models": main.n_models, "failed": failed,
            "strict": main.strict, "lenient": main.lenient,
            "strict_no_dates": score_zoo(entries, runs["no_dates"]).strict,
            "strict_no_weights": score_zoo(entries, runs["no_weights"]).strict,
            "relation": main.relation, "ari": main.ari, "ari_weight_families": main.ari_weight_families,
            "roots_no_dates": main.roots, "distill": main.distill,
            "lookalikes_together": main.lookalikes_together, "dnakb_eval_parent_acc": official.parents.accuracy,
            "by_tag": main.by_tag, "by_direction_no_dates": by_direction(entries, runs["no_dates"]),
            "seconds": {"build": 0.0, "ingest": round(t_ingest, 1), "eval": round(t_eval, 1)},
            "cpu_seconds": {"build": 0.0, "ingest": round(c_ingest, 1), "eval": round(c_eval, 1)},
            "calibration": official.calibration}, runs


def _f(x: Any) -> str:
    return "-" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ["seed", "models", *COLUMNS, "build s", "ingest s", "eval s", "CPU s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["seed"], r["models"], *(r[c] for c in COLUMNS), *r["seconds"].values(),
                 sum(r["cpu_seconds"].values())]
        print("| " + " | ".join(_f(c) for c in cells) + " |")
    for label, fn in (("mean", statistics.fmean), ("worst", None)):
        cells = []
        for c in COLUMNS:
            vals = [r[c] for r in rows if r[c] is not None]
            if not vals:
                cells.append(None)
            elif fn:
                cells.append(fn(vals))
            else:  # worst: the lowest, except failures and look-alikes together (lower is better)
                cells.append(max(vals) if c in ("failed", "lookalikes_together") else min(vals))
        secs = [statistics.fmean(r["seconds"][k] for r in rows) if fn else max(r["seconds"][k] for r in rows)
                for k in ("build", "ingest", "eval")]
        cpu = [sum(r["cpu_seconds"].values()) for r in rows]
        secs.append(statistics.fmean(cpu) if fn else max(cpu))
        print("| " + " | ".join(_f(c) for c in [label, "", *cells, *secs]) + " |")
    dirs = _summed(rows, lambda r: r["by_direction_no_dates"].items())
    _print_rates("Without dates, by what set each edge's direction (parent a true parent / edges), summed over zoos:",
                 "direction", dirs)
    bins = _summed(rows, lambda r: [(b["support"], (round(b["accuracy"] * b["edges"]), b["edges"]))
                                    for b in r.get("calibration") or [] if b["edges"]])
    if bins:
        _print_rates("With dates, inferred edges by bootstrap support (parent a true parent / edges), summed over zoos:",
                     "support", bins)
    _print_rates("By trap tag (strict parent right / models; for roots: left without a parent), summed over zoos:",
                 "tag", _summed(rows, lambda r: r["by_tag"].items()))


def _summed(rows: list[dict[str, Any]], counts: Any) -> dict[str, list[int]]:
    """(right, n) per label, summed over zoos; `counts(row)` yields (label, (right, n))."""
    out: dict[str, list[int]] = {}
    for r in rows:
        for label, (right, n) in counts(r):
            total = out.setdefault(label, [0, 0])
            total[0] += right
            total[1] += n
    return out


def _print_rates(title: str, column: str, table: dict[str, list[int]]) -> None:
    print(f"\n{title}")
    print(f"| {column} | right | n | rate |\n|---|---|---|---|")
    for label, (right, n) in sorted(table.items()):
        print(f"| {label} | {right} | {n} | {right / n:.2f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0..9", help="e.g. 0..9 or 0,3,5 (development seeds: 0-9)")
    ap.add_argument("--held-out", action="store_true", help=f"allow seeds >= {HELD_OUT} (reporting only)")
    ap.add_argument("--models", type=int, default=24)
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--loglik-texts", type=int, default=None, help="reference texts (default: the project's)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None, help="where zoos are built (default: the cache)")
    ap.add_argument("--reuse-artifacts", action="store_true", help="keep one artifact store across runs")
    ap.add_argument("--keep-kbs", type=Path, default=None,
                    help="keep each zoo's KB here and reuse it on the next run (develop rules in seconds)")
    ap.add_argument("--bootstrap", type=int, default=0,
                    help="bootstrap replicates for `dnakb eval`'s run (adds accuracy by support bin)")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    if any(s >= HELD_OUT for s in seeds) and not args.held_out:
        print(f"Error: seeds >= {HELD_OUT} are held out for reporting; pass --held-out to run them", file=sys.stderr)
        return 1
    from ingest.zoo.cache import cache_root

    work = args.workdir or cache_root() / "random-zoos"
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        rows.append(run_seed(seed, args, work))
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s, {rows[-1]['seconds']}", file=sys.stderr)
        if args.json:  # after every zoo, so a crash later loses nothing
            args.json.write_text(json.dumps(rows, indent=1, default=str))
    print(f"random zoos: seeds {args.seeds}, {args.models} models, protocol {args.probes} probes x {args.tokens} tokens, "
          f"{args.jobs} jobs")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
