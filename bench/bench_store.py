"""Store throughput and traversal latency, embedded vs Neo4j in one run.

Inserts N Model nodes with 128-d DNAs and N-1 DECLARED_PARENT edges forming a random tree
(parent of node i drawn uniformly from the --window nodes before it: depth grows like 2N/window,
so N=100k, window 1000 gives depth ~220; --window 0 draws from all earlier nodes, a random
recursive tree of depth ~e·ln N ≈ 30), then times descendants queries: from the root (the whole
tree) and from random inner nodes. Prints records/s and p50/p95 latency per store, and the
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

from kb.records import DeclaredEdge, ModelRecord
from kb.stores import StoreConfig, open_store

DESCENDANTS = (
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
            if kind == "neo4j":  # its vector index merges segments in the background after a bulk load
                time.sleep(settle)
            root_times, inner_times = [], []
            for _ in range(max(3, queries // 10)):
                start = time.perf_counter()
                (row,) = store.cypher(DESCENDANTS, {"id": "m0"})
                root_times.append(time.perf_counter() - start)
                assert row["n"] == n - 1, row
            for node in rng.integers(0, n, queries):
                start = time.perf_counter()
                store.cypher(DESCENDANTS, {"id": f"m{node}"})
                inner_times.append(time.perf_counter() - start)
            store.clear()
    return {
        "models/s": n / model_s, "edges/s": (n - 1) / edge_s,
        "root p50 ms": 1000 * percentile(root_times, 50), "root p95 ms": 1000 * percentile(root_times, 95),
        "inner p50 ms": 1000 * percentile(inner_times, 50), "inner p95 ms": 1000 * percentile(inner_times, 95),
    }


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
    print(f"{'metric':<14}" + "".join(f"{k:>12}" for k in results) + ("   embedded/neo4j" if len(results) == 2 else ""))
    for metric in metrics:
        values = [results[k][metric] for k in results]
        ratio = f"   {values[0] / values[1]:.2f}" if len(values) == 2 else ""
        print(f"{metric:<14}" + "".join(f"{v:>12.1f}" for v in values) + ratio)


if __name__ == "__main__":
    main()
