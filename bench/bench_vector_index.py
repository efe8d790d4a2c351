"""Neo4j DNA insert rate and k-NN query cost against the vector index settings and transaction size.

Loads N random 128-d DNAs into a scratch label (`:VecBench`, its own vector index, removed after)
for each combination of transaction size, quantization and concurrent writers, and first without
any vector index: the anchor, so each row prints its rate as a fraction of the unindexed one.
With --queries Q, each load is followed by --settle seconds of rest (the index merges segments in
the background after a load) and Q k-NN queries as the `nearest` template asks them (56 index
candidates for k=10): p50 latency and recall of the exact 10 nearest. The store's choices
(`BATCH_SIZE`, `WRITERS`, `vector.quantization.enabled: false` in kb/stores/neo4j_store.py)
come from this sweep.

    eval "$(scripts/neo4j-local env)"
    .venv/bin/python bench/bench_vector_index.py [--n 20000] [--sizes 500,1000,5000] [--writers 1,2]
        [--quantization on,off] [--queries 40 --settle 60]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LABEL = "VecBench"
INDEX = "vec_bench_dna"


def reset(driver, quantization: bool | None) -> None:
    """Empty the scratch label; index it unless `quantization` is None."""
    with driver.session() as session:
        session.run(f"DROP INDEX {INDEX} IF EXISTS").consume()  # first: deleting indexed nodes costs merges
        session.run(f"MATCH (n:{LABEL}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run(f"CREATE INDEX vec_bench_n IF NOT EXISTS FOR (m:{LABEL}) ON (m.n)").consume()  # the store's id index
        if quantization is not None:
            session.run(
                f"CREATE VECTOR INDEX {INDEX} FOR (m:{LABEL}) ON m.dna OPTIONS {{indexConfig: "
                "{`vector.dimensions`: 128, `vector.similarity_function`: 'euclidean', "
                f"`vector.quantization.enabled`: {str(quantization).lower()}}}}}"
            ).consume()
            session.run("CALL db.awaitIndexes()").consume()


def load(driver, dnas: np.ndarray, size: int, writers: int) -> float:
    """Records/s of CREATE + SET dna in transactions of `size` rows over `writers` threads."""
    def write(start: int) -> None:
        with driver.session() as session:
            session.execute_write(lambda tx: tx.run(
                f"UNWIND range(0, size($d) - 1) AS i CREATE (m:{LABEL} {{n: $start + i}}) SET m.dna = $d[i]",
                d=dnas[start : start + size].astype(np.float64), start=start,
            ).consume())

    began = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(0, len(dnas), size)))
    return len(dnas) / (time.perf_counter() - began)


def knn(driver, dnas: np.ndarray, queries: int, k: int = 10) -> tuple[float, float]:
    """(p50 ms, recall@k) of `queryNodes` with the `nearest` template's 4k+16 candidates."""
    rng = np.random.default_rng(1)
    times, recall = [], []
    with driver.session() as session:
        for q in rng.integers(0, len(dnas), queries):
            exact = set(np.argsort(((dnas - dnas[q]) ** 2).sum(1))[1 : k + 1].tolist())
            began = time.perf_counter()
            rows = session.run(
                f"MATCH (m:{LABEL} {{n: $q}}) CALL db.index.vector.queryNodes('{INDEX}', $c, m.dna) "
                "YIELD node, score WHERE node.n <> $q RETURN node.n AS n ORDER BY score DESC LIMIT $k",
                q=int(q), c=4 * k + 16, k=k,
            ).values()
            times.append(time.perf_counter() - began)
            recall.append(len({n for (n,) in rows} & exact) / k)
    return 1000 * statistics.median(times), float(np.mean(recall))


def main() -> None:
    from neo4j import GraphDatabase

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--sizes", default="500,1000,5000")
    parser.add_argument("--writers", default="1,2")
    parser.add_argument("--quantization", default="on,off")
    parser.add_argument("--queries", type=int, default=0, help="k-NN queries after each load (0: none)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds of rest before the queries")
    args = parser.parse_args()
    dnas = np.random.default_rng(0).standard_normal((args.n, 128)).astype(np.float32)
    driver = GraphDatabase.driver(
        os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
        auth=(os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"]),
    )
    sizes = [int(s) for s in args.sizes.split(",")]
    writers = [int(w) for w in args.writers.split(",")]
    try:
        for _ in range(2):  # the first load warms the server's JIT; the second is the anchor
            reset(driver, None)
            anchor = load(driver, dnas, max(sizes), max(writers))
        print(f"{args.n} DNAs; no vector index ({max(sizes)}-row transactions, {max(writers)} writers): {anchor:,.0f}/s")
        print(f"{'quantization':>12} {'tx rows':>8} {'writers':>8} {'records/s':>10} {'of unindexed':>13}"
              + (f" {'knn p50 ms':>11} {'recall@10':>10}" if args.queries else ""))
        quantizations = [q.strip() == "on" for q in args.quantization.split(",")]
        for quantization, size, count in itertools.product(quantizations, sizes, writers):
            reset(driver, quantization)
            rate = load(driver, dnas, size, count)
            line = f"{str(quantization):>12} {size:>8} {count:>8} {rate:>10,.0f} {rate / anchor:>13.2f}"
            if args.queries:
                time.sleep(args.settle)
                p50, recall = knn(driver, dnas, args.queries)
                line += f" {p50:>11.1f} {recall:>10.3f}"
            print(line, flush=True)
    finally:
        reset(driver, None)
        with driver.session() as session:
            session.run("DROP INDEX vec_bench_n IF EXISTS").consume()
        driver.close()


if __name__ == "__main__":
    main()
