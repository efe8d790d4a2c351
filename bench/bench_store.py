"""Store throughput and traversal latency, embedded vs Neo4j in one run.

Inserts N Model nodes with 128-d DNAs and N-1 DECLARED_PARENT edges forming a random tree
(parent of node i drawn uniformly from the --window nodes before it: depth grows like 2N/window,
so N=100k, window 1000 gives depth ~220; --window 0 draws from all earlier nodes, a random
recursive tree of depth ~e·ln N ≈ 30), recounts the lineage index once, then times the
`descendant-count` template (answered from the index) from the root (the whole tree) and from
random inner nodes, and the same count by traversal (a variable-length pattern: what the index
replaces). Prints records/s, the recount's seconds and p50/p95 latency per store, and the
embedded/Neo4j ratio.

    .venv/bin/python bench/bench_store.py [--n 100000] [--window 1000] [--queries 50] [--stores embedded,neo4j] [--settle 60]

Neo4j settings come from NEO4J_URI / NEO4J_PASSWORD (scripts/neo4j-local env).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from kb.lineage.reach import descendant_counts
from kb.templates import run_template
from kb.records import DeclaredEdge, ModelRecord
from kb.stores import StoreConfig, open_store

TRAVERSAL = (
    "MATCH (r:Model {id: $id})<-[:DECLARED_PARENT*1..1000]-(d:Model) RETURN count(d) AS n"
)


def random_tree(n: int, window: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parents = np.full(n, -1)
    for i in range(1, n):
        parents[i] = rng.integers(max(0, i - window) if window else 0, i)
    return parents


def depth_of(parents: np.ndarray) -> int:
    depth = np.zeros(len(parents), dtype=int)
    for i in range(1, len(parents)):
        depth[i] = depth[parents[i]] + 1
    return int(depth.max())


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(kind: str, n: int, queries: int, parents: np.ndarray, settle: float) -> dict[str, float]:
    rng = np.random.default_rng(1)
    dnas = rng.standard_normal((n, 128)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        config = StoreConfig(kind=kind, db=Path(tmp) / "kb") if kind == "embedded" else StoreConfig(kind=kind)
        with open_store(config) as store:
            store.clear()
            models = [ModelRecord(id=f"m{i}", dna=dnas[i], protocol="bench") for i in range(n)]
            edges = [DeclaredEdge(f"m{i}", f"m{parents[i]}") for i in range(1, n)]
            start = time.perf_counter()
            store.upsert_models(models)
            model_s = time.perf_counter() - start
            start = time.perf_counter()
            store.upsert_declared_edges(edges)
            edge_s = time.perf_counter() - start
            start = time.perf_counter()
            store.refresh_lineage_index()
            index_s = time.perf_counter() - start
            if kind == "neo4j":  # its vector index merges segments in the background after a bulk load
                time.sleep(settle)
            inner = [f"m{node}" for node in rng.integers(0, n, queries)]
            expected = descendant_counts(n, range(1, n), parents[1:])

            def count_by_index(model: str) -> int:
                return run_template(store, "descendant-count", {"model": model, "edges": "declared"})[0]["descendants"]

            def count_by_traversal(model: str) -> int:
                return store.cypher(TRAVERSAL, {"id": model})[0]["n"]

            figures = {"models/s": n / model_s, "edges/s": (n - 1) / edge_s, "index s": index_s}
            for method, count in (("index", count_by_index), ("traversal", count_by_traversal)):
                count(inner[0])  # warm: the first query of a kind plans it
                root_times, inner_times = [], []
                for _ in range(max(5, queries // 5)):
                    start = time.perf_counter()
                    assert count("m0") == n - 1
                    root_times.append(time.perf_counter() - start)
                for model in inner:
                    start = time.perf_counter()
                    assert count(model) == expected[int(model[1:])]
                    inner_times.append(time.perf_counter() - start)
                for where, times in (("root", root_times), ("inner", inner_times)):
                    figures[f"{method} {where} p50 ms"] = 1000 * percentile(times, 50)
                    figures[f"{method} {where} p95 ms"] = 1000 * percentile(times, 95)
            store.clear()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1000, help="parent drawn from the WINDOW nodes before; 0: all")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds Neo4j rests before the queries")
    args = parser.parse_args()
    parents = random_tree(args.n, args.window)
    print(f"tree: {args.n} nodes, depth {depth_of(parents)}")
    results = {kind: run(kind, args.n, args.queries, parents, args.settle) for kind in args.stores.split(",")}
    metrics = list(next(iter(results.values())))
    print(f"{'metric':<24}" + "".join(f"{k:>12}" for k in results) + ("   embedded/neo4j" if len(results) == 2 else ""))
    for metric in metrics:
        values = [results[k][metric] for k in results]
        ratio = f"   {values[0] / values[1]:.2f}" if len(values) == 2 else ""
        print(f"{metric:<24}" + "".join(f"{v:>12.1f}" for v in values) + ratio)


if __name__ == "__main__":
    main()
