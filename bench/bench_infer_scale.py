"""Scale of `infer` (no bootstrap) on synthetic lineages of 1k / 10k / 50k text DNAs.

Each size runs in its own subprocess (clean peak RSS), single BLAS thread per process, fixed seeds.
Data: `kb.lineage.synthetic.synthetic_lineage(n, seed=0)` — families of mean size 20 with tree
structure, text DNAs only (128 dims), release dates. Reported: wall time per step, peak RSS
(resource.getrusage), family ARI and parent accuracy against the generating process, and an anchor
(a 2000×2000 float64 matmul in the same process) so runs on other machines can be compared.

Usage: .venv/bin/python bench/bench_infer_scale.py [--sizes 1000 10000 50000] [--out bench/RESULTS-infer.md]
       [--zoo ZOO_DIR]   (adds parents from the weight channel alone on a built zoo; --zoo-only prints it)
       [--one-family 300 800 2000 [--anchor-max 800] [--dense-max 10000] [--seed 3]]   (one large undated family:
                          parents in parts and, up to --dense-max, densely in the same run; one Edmonds
                          solve on its candidate graph, ours against networkx's; prints, exits)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout


def run_one(n: int) -> dict:
    import resource

    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from kb.lineage.infer import infer_lineage
    from kb.lineage.synthetic import synthetic_lineage

    a = np.random.default_rng(0).normal(size=(2000, 2000))
    clock = time.perf_counter()
    a @ a
    anchor = time.perf_counter() - clock
    lineage = synthetic_lineage(n, seed=0)
    import hdbscan  # noqa: F401  (import cost kept out of the timing)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock = time.perf_counter()
    result = infer_lineage(lineage.evidence, bootstrap=0)
    wall = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    family = {m.model: m.family for m in result.memberships}
    ari = adjusted_rand_score(lineage.family, [family[e.id] for e in lineage.evidence])
    truth: dict[str, set[str]] = {}
    for c, p, _ in lineage.truth:
        truth.setdefault(c, set()).add(p)
    first: dict[str, str] = {}
    for e in result.edges:
        first.setdefault(e.child, e.parent)
    accuracy = float(np.mean([first.get(c) in ps for c, ps in truth.items()]))
    return {
        "n": n, "wall_s": round(wall, 2), "steps_s": {k: round(v, 2) for k, v in result.timings.items()},
        "peak_rss_mib": round(peak / 1024, 1), "rss_before_mib": round(rss_before / 1024, 1),
        "families": len(result.families), "true_families": int(lineage.family.max()) + 1,
        "ari": round(float(ari), 4), "parent_accuracy": round(accuracy, 4),
        "anchor_matmul_s": round(anchor, 3), "messages": result.messages,
    }


def accuracy_table(n: int = 400, seed: int = 1) -> list[str]:
    """Parent accuracy by true relation on a synthetic lineage with all channels, per variant."""
    from kb.lineage.infer import infer_lineage
    from kb.lineage.metrics import parent_accuracy
    from kb.lineage.synthetic import synthetic_lineage

    lin = synthetic_lineage(n, mean_family=15, sketches=True, loglik=True, seed=seed)
    models = [e.id for e in lin.evidence]
    lines = [f"Accuracy on a synthetic lineage ({n} models, text + log-likelihood + weight sketches, "
             f"`synthetic_lineage({n}, mean_family=15, sketches=True, loglik=True, seed={seed})`):", "",
             "| variant | parent acc | relation acc | " + " | ".join(sorted(set(r for *_, r in lin.truth))) + " |",
             "|---|---:|---:|" + "---:|" * len(set(r for *_, r in lin.truth))]
    for name, opts in [("all channels, dates", {}), ("no dates", {"use_dates": False}),
                       ("no weights", {"channels": ("loglik", "text")}),
                       ("no weights, no dates", {"channels": ("loglik", "text"), "use_dates": False})]:
        res = infer_lineage(lin.evidence, trees=False, **opts)
        score = parent_accuracy([(e.child, e.parent, e.relation) for e in res.edges], lin.truth, models)
        per = " | ".join(f"{c / k:.2f} ({k})" for _, (c, k) in sorted(score.by_relation.items()))
        lines.append(f"| {name} | {score.accuracy:.3f} | {score.relation_accuracy:.3f} | {per} |")
    return lines


def zoo_weights_table(zoo: Path) -> list[str]:
    """Parents and families on a built zoo from the weight channel ALONE (sketches computed here by
    `ingest.weights.weight_sketch`, no DNA extraction): the cheapest check on real weights."""
    import numpy as np
    import yaml
    from sklearn.metrics import adjusted_rand_score

    from ingest.weights import weight_sketch
    from kb.lineage.evidence import ModelEvidence
    from kb.lineage.families import families_from_labels, hdbscan_families
    from kb.lineage.infer import EPSILON_COST, _cost_matrix
    from kb.lineage.metrics import parent_accuracy, true_families
    from kb.lineage.parents import ParentOptions, Scales, infer_parents

    manifest = yaml.safe_load((zoo / "manifest.yaml").read_text())
    evs, truth = [], []
    clock = time.perf_counter()
    for m in manifest["models"]:
        sk = weight_sketch(zoo / m["path"])
        evs.append(ModelEvidence(m["id"], sketch=sk.vector, signature=sk.signature, precision=sk.precision,
                                 released=str(m["released"]) if m.get("released") else None))
        truth += [(m["id"], p["id"], p["relation"]) for p in m.get("parents") or []]
    sketch_s = time.perf_counter() - clock
    ids = [e.id for e in evs]
    tf = true_families(truth, ids)
    labels = np.unique([tf[i] for i in ids], return_inverse=True)[1]
    fam = hdbscan_families(_cost_matrix(evs, Scales()), metric="precomputed", epsilon=EPSILON_COST)
    ari = adjusted_rand_score(labels, fam.labels)
    lines = [f"Weight channel alone on the zoo at `{zoo}` ({len(evs)} models, {len(truth)} true edges; "
             f"sketches {sketch_s:.1f} s; families: HDBSCAN over weight costs, ARI {ari:.3f}, "
             f"{fam.n_families} families; parents within the TRUE families):", "",
             "| variant | parent acc | relation acc | wrong (child → inferred, true relation) |", "|---|---:|---:|---|"]
    for name, dates in (("dates", True), ("no dates", False)):
        edges = infer_parents(evs, families_from_labels(labels), Scales(), ParentOptions(use_dates=dates))
        score = parent_accuracy([(ids[e.child], ids[e.parent], e.relation) for e in edges], truth, ids)
        wrong = "; ".join(f"{c} → {p} ({r})" for c, p, r in score.wrong) or "-"
        lines.append(f"| {name} | {score.accuracy:.3f} ({score.correct}/{score.n}) | "
                     f"{score.relation_accuracy:.3f} | {wrong} |")
    lines += ["", "Relation mistakes with weights alone are distill → finetune: a distilled student shares "
              "no weights with its teacher, so only the functional channels (log-likelihood, text DNA) "
              "can name it; `dnakb eval` measures those."]
    return lines


def one_family_table(sizes: list[int], anchor_max: int, dense_max: int, seed: int) -> list[str]:
    """One undated family of n sketched models (a hub family such as Llama-2's descendants), each size
    and solve in a process of its own: the time and peak RSS of `infer_parents` (also as m x m float64
    arrays over what the process held before, the unit a dense family costs) in parts (the default
    above `PART_MAX` members) and densely (the anchor, up to `dense_max`), and one solve on the sparse
    candidate graph of its text distances, ours and networkx's (the anchor, which earlier releases ran:
    sizes above `anchor_max` skip it)."""
    from kb.lineage.partition import PART_MAX

    lines = ["| members | solve | infer_parents s | peak RSS MiB | m x m float64 arrays at peak | parent acc | "
             "one solve, ours s | one solve, networkx s | ratio |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for n in sizes:
        for dense in ([False, True] if PART_MAX < n <= dense_max else [n <= PART_MAX]):
            out = subprocess.run([sys.executable, __file__, "--one-family-row", str(n), "--anchor-max", str(anchor_max),
                                  "--seed", str(seed)] + (["--dense"] if dense else []), capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"one family of {n} failed:\n{out.stderr[-3000:]}")
            lines.append(out.stdout.strip().splitlines()[-1])
            print(lines[-1], flush=True)
    return lines


ONE_SOLVE_MAX = 20_000
"""Largest family the one-solve columns time (their dense n x n matrices: 3.2 GB at 20,000)."""


def one_family_row(n: int, anchor_max: int, dense: bool, seed: int) -> str:
    import resource

    import networkx as nx
    import numpy as np
    from scipy.spatial.distance import cdist

    from kb.lineage.arborescence import BIG, K_CANDIDATES, arborescence
    from kb.lineage.families import families_from_labels
    from kb.lineage.metrics import parent_accuracy
    from kb.lineage.parents import ParentOptions, infer_parents
    from kb.lineage.partition import PART_MAX
    from kb.lineage.synthetic import synthetic_lineage

    lin = synthetic_lineage(n, mean_family=n, sketches=True, dates=False, seed=seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clock = time.perf_counter()
    edges = infer_parents(lin.evidence, families_from_labels(np.zeros(n, int)),
                          options=ParentOptions(use_dates=False, part_max=n if dense else PART_MAX))
    parents_s = time.perf_counter() - clock
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    ids = [e.id for e in lin.evidence]
    accuracy = parent_accuracy([(ids[e.child], ids[e.parent], e.relation) for e in edges], lin.truth, ids).accuracy
    arrays = (peak - before) / (n * n * 8 / 2**20)  # the anchor: the design's unit of memory
    solve = "dense" if dense else f"parts of ≤ {PART_MAX:,}"
    row = f"| {n:,} | {solve} | {parents_s:.2f} | {peak:,.0f} | {arrays:.1f} | {accuracy:.3f} |"
    if n > ONE_SOLVE_MAX:  # its n x n cost matrix and candidate index alone would fill the machine
        return row + " skipped | skipped | - |"
    x = np.stack([e.vectors["text"] for e in lin.evidence])
    cost = cdist(x, x)
    np.fill_diagonal(cost, np.inf)
    root_cost = np.arange(n, dtype=float) / n
    clock = time.perf_counter()
    ours = arborescence(cost, root_cost, dense_max=0)
    ours_s = time.perf_counter() - clock
    anchor = "skipped"
    ratio = "-"
    if n <= anchor_max:
        k = min(K_CANDIDATES, n - 1)
        nearest = np.argpartition(cost, k, axis=1)[:, :k]
        graph = nx.DiGraph()
        graph.add_weighted_edges_from((int(p), c, float(cost[c, p])) for c in range(n) for p in nearest[c]
                                      if np.isfinite(cost[c, p]))
        graph.add_weighted_edges_from((int(p), c, float(cost[c, p])) for c in range(n) for p in [0] if c)
        graph.add_weighted_edges_from((-1, c, BIG + float(root_cost[c])) for c in range(n))
        clock = time.perf_counter()
        tree = nx.minimum_spanning_arborescence(graph, attr="weight")
        anchor_s = time.perf_counter() - clock
        theirs = sum(d["weight"] for p, _c, d in tree.edges(data=True) if p >= 0)
        mine = sum(cost[c, p] for c, p in enumerate(ours) if p >= 0)
        assert abs(theirs - mine) <= 1e-6 * max(1.0, theirs), (theirs, mine)  # the same optimum
        anchor, ratio = f"{anchor_s:.2f}", f"{anchor_s / ours_s:.0f}x"
    return row + f" {ours_s:.3f} | {anchor} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--out", type=Path, default=Path("bench/out/infer.md"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-accuracy", action="store_true", help="skip the synthetic accuracy table")
    parser.add_argument("--zoo", type=Path, help="a built zoo (folder with manifest.yaml): add the weight-channel table")
    parser.add_argument("--zoo-only", action="store_true", help="only the zoo table, printed")
    parser.add_argument("--one-family", type=int, nargs="+", help="sizes of one large undated family (printed)")
    parser.add_argument("--anchor-max", type=int, default=800, help="largest family networkx's solve is timed on")
    parser.add_argument("--dense-max", type=int, default=10000, help="largest family also solved densely")
    parser.add_argument("--one-family-row", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dense", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=3, help="synthetic lineage of --one-family")
    args = parser.parse_args()
    if args.one_family_row:
        print(one_family_row(args.one_family_row, args.anchor_max, args.dense, args.seed))
        return
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    if args.one_family:
        one_family_table(args.one_family, args.anchor_max, args.dense_max, args.seed)
        return
    if args.zoo_only:
        print("\n".join(zoo_weights_table(args.zoo)))
        return
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], env=env,
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"size {n} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = [
        "# `infer` at scale (synthetic lineages, no bootstrap)", "",
        f"Command: `.venv/bin/python bench/bench_infer_scale.py --sizes {' '.join(map(str, args.sizes))}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "one BLAS thread per process, shared with other jobs (anchor = 2000×2000 matmul in the same process).", "",
        "| models | wall s | families s | parents s | trees s | peak RSS MiB | families (true) | ARI | parent acc | anchor s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r["steps_s"]
        lines.append(f"| {r['n']:,} | {r['wall_s']} | {s.get('families')} | {s.get('parents')} | {s.get('trees')} | "
                     f"{r['peak_rss_mib']} | {r['families']} ({r['true_families']}) | {r['ari']} | "
                     f"{r['parent_accuracy']} | {r['anchor_matmul_s']} |")
    if len(rows) > 1:
        import math
        lines += ["", "Growth (log-log slope of wall time between consecutive sizes): " + ", ".join(
            f"{a['n']:,}→{b['n']:,}: {math.log(b['wall_s'] / a['wall_s']) / math.log(b['n'] / a['n']):.2f}"
            for a, b in zip(rows, rows[1:]))]
    if not args.no_accuracy:
        lines += [""] + accuracy_table()
    if args.zoo:
        lines += [""] + zoo_weights_table(args.zoo)
    notes = sorted({m for r in rows for m in r["messages"]})
    if notes:
        lines += ["", "Messages:"] + [f"- {m}" for m in notes]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
