"""Rendering time of the whole-KB figures on synthetic lineages (320 and 1,000 models), against the
subtree drawing (kb/export/draw.py, the anchor: a 341-member subtree) in the same run.

Times, each the median of `--repeat` runs in this process (fixed seeds, one BLAS thread):
- tree: neighbor joining + rooting over text DNAs (kb.lineage.kbtree.build_tree);
- circular tree as SVG and as PNG (kb.export.circular), timeline as SVG and PNG (kb.export.timeline);
- `dnakb report` over an embedded store holding the lineage (DNAs, dates, true edges declared);
- the anchor: the left-to-right subtree drawing of 341 members as SVG.
Prints one line per size and each time's ratio to the anchor.

Usage: .venv/bin/python bench/bench_figures.py [--sizes 320 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout


def median_seconds(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        clock = time.perf_counter()
        work()
        times.append(time.perf_counter() - clock)
    return statistics.median(times)


def anchor_subtree():
    from kb.export.subtree import Subtree, choose_primary

    members, depth, edges = {"base/root": {"name": "root"}}, {"base/root": 0}, []
    for i in range(20):
        child = f"org-{i:02d}/finetuned-model-with-a-long-name-{i}"
        members[child], depth[child] = {"name": child}, 1
        edges.append({"child": child, "parent": "base/root", "kind": "declared", "relation": "finetune"})
        for j in range(16):
            grand = f"quant{j}/{child.split('/')[1]}-Q{j}-GGUF"
            members[grand], depth[grand] = {"name": grand}, 2
            edges.append({"child": grand, "parent": child, "kind": "inferred", "relation": "quantized",
                          "support": 0.5 + j / 40, "distance": 0.01 * j})
    return Subtree("base/root", "both", depth, members, edges, choose_primary("base/root", depth, edges))


def report_seconds(evs, name: dict[str, str], truth, repeat: int) -> float:
    import tempfile

    import numpy as np

    from kb.export.kbreport import build_report
    from kb.records import DeclaredEdge, ModelRecord
    from kb.stores import StoreConfig, open_store

    with tempfile.TemporaryDirectory() as folder, open_store(StoreConfig(kind="embedded", db=Path(folder) / "kb")) as store:
        store.upsert_models([ModelRecord(id=name[e.id], dna=e.text.astype(np.float32), protocol="synthetic",
                                         released=e.released, license="mit", status="ok") for e in evs])
        store.upsert_declared_edges([DeclaredEdge(name[c], name[p], r) for c, p, r in truth])
        return median_seconds(lambda: build_report(store), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from kb.export import circular, draw, timeline
    from kb.lineage.kbtree import KbTree, build_tree, time_signal, tree_distances
    from kb.lineage.synthetic import synthetic_lineage

    subtree = anchor_subtree()
    anchor = median_seconds(lambda: draw.to_svg(subtree), args.repeat)
    print(f"anchor: subtree drawing of {len(subtree.members)} members as SVG: {anchor:.2f} s (median of {args.repeat})")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    for n in args.sizes:
        lin = synthetic_lineage(n, mean_family=25, seed=1)
        evs = lin.evidence
        ids = [f"org-{int(f):02d}/model-family{int(f)}-{i:04d}-7B-Instruct" for i, f in enumerate(lin.family)]
        name = {e.id: m for e, m in zip(evs, ids)}
        released = {name[e.id]: e.released for e in evs}
        d = tree_distances(evs, "text")
        t_tree = median_seconds(lambda: build_tree(d, ids, "midpoint", released), args.repeat)
        tree = build_tree(d, ids, "midpoint", released)
        rho, dated = time_signal(tree, released)
        kb = KbTree(tree, "synthetic", "text", {name[e.id]: {"family": f"f{int(f)}"} for e, f in zip(evs, lin.family)},
                    rho, dated)
        family = {name[e.id]: f"f{int(f)}" for e, f in zip(evs, lin.family)}
        roots: dict[str, str] = {}
        for e in evs:
            roots.setdefault(family[name[e.id]], name[e.id])
        line = timeline.build_timeline({name[e.id]: e.text for e in evs}, released, family, roots,
                                       [(name[c], name[p]) for c, p, _ in lin.truth], "synthetic")
        times = {"report": report_seconds(evs, name, lin.truth, args.repeat)}
        times |= {
            "tree (NJ + root)": t_tree,
            "circular svg": median_seconds(lambda: circular.to_svg(kb), args.repeat),
            "circular png": median_seconds(lambda: circular.to_png(kb), args.repeat),
            "timeline svg": median_seconds(lambda: timeline.to_svg(line), args.repeat),
            "timeline png": median_seconds(lambda: timeline.to_png(line), args.repeat),
        }
        print(f"n={n}: " + "; ".join(f"{k} {v:.2f} s ({v / anchor:.2f}x anchor)" for k, v in times.items()))


if __name__ == "__main__":
    main()
