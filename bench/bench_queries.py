"""Latency of every lineage template on a synthetic 100k-model KB, on both stores in one run.

    .venv/bin/python bench/bench_queries.py --models 100000 --stores embedded,neo4j \
        --markdown bench/out/queries.md

The KB is a forest with a fixed seed: families of `--family-size` models, each a random tree
(every model's parent drawn among the earlier members of its family, so depths reach ~8-12),
declared edges for all of them, inferred edges for all (10% point elsewhere in the family:
contradictions), 5% of models undocumented (inferred parent only), 128-dim DNAs = parent's DNA +
noise. Each template runs `--repeats` times with parameters drawn with a fixed seed, after
`--warmup` untimed runs; the anchor is a point lookup of one model by id through the same
`store.cypher` path, measured in the same run, so template timings can be read relative to
the store's own round-trip cost. Neo4j comes from NEO4J_URI / NEO4J_PASSWORD (scripts/neo4j-local).
Only public functions are called: `open_store`, the store's write methods, `run_template`.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.records import DeclaredEdge, Family, InferredEdge, Membership, ModelRecord  # noqa: E402
from kb.stores import StoreConfig, open_store  # noqa: E402
from kb.templates import run_template  # noqa: E402

PROTOCOL = "bench-protocol"
TARGETS_MS = {"descendants": 20.0, "descendant-count": 20.0, "ancestors": 20.0, "mrca": 20.0, "nearest": 50.0}


class Forest:
    """The synthetic KB as records, plus what the parameter draws need."""

    def __init__(self, n_models: int, family_size: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.models: list[ModelRecord] = []
        self.declared: list[DeclaredEdge] = []
        self.inferred: list[InferredEdge] = []
        self.families: list[Family] = []
        self.memberships: list[Membership] = []
        self.roots: list[str] = []
        self.leaves: list[str] = []
        self.by_family: list[list[str]] = []
        relations = np.array(["finetune", "finetune", "finetune", "adapter", "quantized", "merge"])
        for f in range(n_models // family_size):
            ids = [f"org{f:05d}/base" if i == 0 else f"org{f:05d}/model-{i:03d}" for i in range(family_size)]
            dna = np.zeros((family_size, 128), np.float32)
            dna[0] = rng.normal(0, 1, 128)
            has_child = np.zeros(family_size, bool)
            for i in range(1, family_size):
                # parent among the last few members: trees ~8-12 generations deep
                parent = int(rng.integers(max(0, i - 6), i))
                has_child[parent] = True
                dna[i] = dna[parent] + rng.normal(0, 0.3, 128)
                relation = str(rng.choice(relations))
                undocumented = rng.random() < 0.05
                if not undocumented:
                    self.declared.append(DeclaredEdge(ids[i], ids[parent], relation, "bench"))
                inferred_parent = parent if rng.random() > 0.10 or i < 2 else int(rng.integers(0, i))
                self.inferred.append(InferredEdge(
                    ids[i], ids[inferred_parent], float(np.linalg.norm(dna[i] - dna[inferred_parent])),
                    float(rng.uniform(0.3, 1.0)), relation=relation,
                ))
            for i, model in enumerate(ids):
                self.models.append(ModelRecord(
                    id=model, dna=dna[i].tolist(), protocol=PROTOCOL, org=model.split("/")[0],
                    params=int(rng.integers(1, 70)) * 10**8, released=f"2024-{1 + i % 12:02d}-01",
                ))
            family = f"family-{f:05d}"
            self.families.append(Family(family, family_size, ids[0]))
            self.memberships += [Membership(m, family, 1.0) for m in ids]
            self.roots.append(ids[0])
            self.leaves += [ids[i] for i in range(family_size) if not has_child[i]]
            self.by_family.append(ids)

    def load(self, store: Any) -> float:
        started = time.perf_counter()
        store.upsert_models(self.models)
        store.upsert_declared_edges(self.declared)
        store.replace_inferred(self.families, self.memberships, self.inferred)
        return time.perf_counter() - started


def param_draws(forest: Forest, seed: int) -> dict[str, Callable[[], dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    models = [m.id for m in forest.models]

    def pick(items: list[str]) -> str:
        return items[int(rng.integers(len(items)))]

    def same_family_pair() -> dict[str, Any]:
        family = forest.by_family[int(rng.integers(len(forest.by_family)))]
        return {"a": pick(family), "b": pick(family)}

    return {
        "descendants": lambda: {"model": pick(forest.roots)},
        "descendant-count": lambda: {"model": pick(forest.roots)},
        "ancestors": lambda: {"model": pick(forest.leaves)},
        "children": lambda: {"model": pick(models)},
        "parent": lambda: {"model": pick(models)},
        "siblings": lambda: {"model": pick(models)},
        "family": lambda: {"model": pick(models)},
        "mrca": same_family_pair,
        "nearest": lambda: {"model": pick(models), "k": 10},
        "undocumented": lambda: {"min_support": 0.95},
        "contradicted": lambda: {"min_support": 0.95},
        "family-summary": lambda: {"family": f"family-{int(rng.integers(len(forest.by_family))):05d}"},
    }


def measure(call: Callable[[], Any], repeats: int, warmup: int) -> tuple[list[float], int]:
    rows = 0
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows = len(call())
        times.append((time.perf_counter() - started) * 1000)
    return times, rows


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_store(kind: str, forest: Forest, args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "embedded":
            config = StoreConfig(kind="embedded", db=Path(tmp) / "kb")
        else:
            config = StoreConfig(kind="neo4j", password=os.environ.get("NEO4J_PASSWORD", "dnakb-test-pw"))
        store = open_store(config)
        try:
            store.clear()
            print(f"[{kind}] loading {len(forest.models)} models ...", file=sys.stderr, flush=True)
            seconds = forest.load(store)
            print(f"[{kind}] loaded in {seconds:.1f} s", file=sys.stderr, flush=True)
            if kind == "neo4j":
                store.cypher("CALL db.awaitIndexes(300)")
                # the vector index merges its segments in the background for ~40 s after a bulk
                # load; queries during that measure the merge, not the steady state
                time.sleep(args.settle)
            results = []
            anchor_ids = [m.id for m in forest.models[:: max(1, len(forest.models) // 500)]]
            rng = np.random.default_rng(args.seed)
            times, _ = measure(
                lambda: store.cypher("MATCH (m:Model {id: $id}) RETURN m.id AS id",
                                     {"id": anchor_ids[int(rng.integers(len(anchor_ids)))]}),
                args.repeats, args.warmup,
            )
            results.append({"store": kind, "template": "(anchor: point lookup)", "p50_ms": pct(times, 50),
                            "p95_ms": pct(times, 95), "rows": 1, "load_s": seconds})
            for name, draw in param_draws(forest, args.seed).items():
                times, rows = measure(lambda: run_template(store, name, draw()), args.repeats, args.warmup)
                results.append({"store": kind, "template": name, "p50_ms": pct(times, 50),
                                "p95_ms": pct(times, 95), "rows": rows, "load_s": seconds})
                print(f"[{kind}] {name:15s} p50 {pct(times, 50):8.1f} ms  p95 {pct(times, 95):8.1f} ms",
                      file=sys.stderr, flush=True)
            store.clear()
        finally:
            store.close()
    return results


def markdown(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    stores = sorted({r["store"] for r in results})
    by = {(r["store"], r["template"]): r for r in results}
    templates = list(dict.fromkeys(r["template"] for r in results))
    head = "| template | target p50 | " + " | ".join(f"{s} p50 ms | {s} p95 ms" for s in stores) + " |"
    lines = [
        "# Query template latency", "",
        f"Command: `{command}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs: "
        f"load average {os.getloadavg()[0]:.1f} at the end of the run), Python {platform.python_version()}.",
        f"KB: {args.models} models in families of {args.family_size}, {args.repeats} timed runs per "
        f"template after {args.warmup} warm-up runs, seed {args.seed}. Load time: "
        + ", ".join(f"{s} {by[(s, templates[0])]['load_s']:.0f} s" for s in stores) + ".",
        "", head, "|---|---|" + "---|---|" * len(stores),
    ]
    for t in templates:
        target = TARGETS_MS.get(t)
        cells = []
        for s in stores:
            r = by.get((s, t))
            cells += [f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}"] if r else ["", ""]
        lines.append(f"| {t} | {'≤ %g ms' % target if target else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--family-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds Neo4j rests after the load")
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args()
    logging.getLogger("neo4j").setLevel(logging.ERROR)  # schema notices would drown the table
    command = "python bench/bench_queries.py " + " ".join(sys.argv[1:])
    forest = Forest(args.models, args.family_size, args.seed)
    results = []
    for kind in args.stores.split(","):
        results += bench_store(kind.strip(), forest, args)
    text = markdown(results, args, command)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
