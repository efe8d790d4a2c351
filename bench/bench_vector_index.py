"""Neo4j DNA insert rate and k-NN query cost against the vector index settings and transaction size.

Loads N random 128-d DNAs into a scratch label (`:VecBench`, its own vector index, removed after)
for each combination of HNSW settings, transaction size, quantization and concurrent writers,
and first without any vector index: the anchor, so each row prints its rate as a fraction of the
unindexed one. With --queries Q, each load is followed by --settle seconds of rest (the index
merges segments in the background after a load) and Q k-NN queries for each --candidates count
(the `nearest` template asks the index for 4k+400 = 440 candidates for k=10): p50 latency and
recall of the exact 10 nearest. The store's choices (`BATCH_SIZE`, `WRITERS`, the index options
in kb/stores/neo4j_store.py) come from this sweep.

    eval "$(scripts/neo4j-local env)"
    .venv/bin/python bench/bench_vector_index.py [--n 20000] [--sizes 500,1000,5000] [--writers 1,2]
        [--quantization on,off] [--hnsw 16:12,16:100] [--queries 40 --settle 60 --candidates 56,440]
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


def reset(driver, quantization: bool | None, hnsw: tuple[int, int] = (16, 100)) -> None:
    """Empty the scratch label; index it (HNSW `m`, `ef_construction`) unless `quantization` is None."""
    with driver.session() as session:
        session.run(f"DROP INDEX {INDEX} IF EXISTS").consume()  # first: deleting indexed nodes costs merges
        session.run(f"MATCH (n:{LABEL}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run(f"CREATE INDEX vec_bench_n IF NOT EXISTS FOR (m:{LABEL}) ON (m.n)").consume()  # the store's id index
        if quantization is not None:
            session.run(
                f"CREATE VECTOR INDEX {INDEX} FOR (m:{LABEL}) ON m.dna OPTIONS {{indexConfig: "
                "{`vector.dimensions`: 128, `vector.similarity_function`: 'euclidean', "
                f"`vector.quantization.enabled`: {str(quantization).lower()}, "
                f"`vector.hnsw.m`: {hnsw[0]}, `vector.hnsw.ef_construction`: {hnsw[1]}}}}}"
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


def knn(driver, dnas: np.ndarray, queries: int, candidates: int, k: int = 10) -> tuple[float, float]:
    """(p50 ms, recall@k) of `queryNodes` asking the index for `candidates` nodes."""
    rng = np.random.default_rng(1)
    times, recall = [], []
    with driver.session() as session:
        for q in rng.integers(0, len(dnas), queries):
            exact = set(np.argsort(((dnas - dnas[q]) ** 2).sum(1))[1 : k + 1].tolist())
            began = time.perf_counter()
            rows = session.run(
                f"MATCH (m:{LABEL} {{n: $q}}) CALL db.index.vector.queryNodes('{INDEX}', $c, m.dna) "
                "YIELD node, score WHERE node.n <> $q RETURN node.n AS n ORDER BY score DESC LIMIT $k",
                q=int(q), c=candidates, k=k,
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
    parser.add_argument("--hnsw", default="16:12", help="HNSW M:EF_CONSTRUCTION pairs (the store's 16:12; Neo4j's default 16:100)")
    parser.add_argument("--queries", type=int, default=0, help="k-NN queries after each load (0: none)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds of rest before the queries")
    parser.add_argument("--candidates", default="440", help="index candidates per k-NN query (`nearest`: 4k+400)")
    args = parser.parse_args()
    dnas = np.random.default_rng(0).standard_normal((args.n, 128)).astype(np.float32)
    driver = GraphDatabase.driver(
        os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
        auth=(os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"]),
    )
    sizes = [int(s) for s in args.sizes.split(",")]
    candidates = [int(c) for c in args.candidates.split(",")]
    writers = [int(w) for w in args.writers.split(",")]
    try:
        for _ in range(2):  # the first load warms the server's JIT; the second is the anchor
            reset(driver, None)
            anchor = load(driver, dnas, max(sizes), max(writers))
        print(f"{args.n} DNAs; no vector index ({max(sizes)}-row transactions, {max(writers)} writers): {anchor:,.0f}/s")
        print(f"{'hnsw m:ef':>10} {'quantization':>12} {'tx rows':>8} {'writers':>8} {'records/s':>10} {'of unindexed':>13}"
              + "".join(f" {f'p50 ms@{c}':>11} {f'recall@{c}':>10}" for c in candidates if args.queries))
        quantizations = [q.strip() == "on" for q in args.quantization.split(",")]
        hnsws = [tuple(int(v) for v in pair.split(":")) for pair in args.hnsw.split(",")]
        for hnsw, quantization, size, count in itertools.product(hnsws, quantizations, sizes, writers):
            reset(driver, quantization, hnsw)
            rate = load(driver, dnas, size, count)
            line = f"{'%d:%d' % hnsw:>10} {str(quantization):>12} {size:>8} {count:>8} {rate:>10,.0f} {rate / anchor:>13.2f}"
            if args.queries:
                time.sleep(args.settle)
                for count in candidates:
                    p50, recall = knn(driver, dnas, args.queries, count)
                    line += f" {p50:>11.1f} {recall:>10.3f}"
            print(line, flush=True)
    finally:
        reset(driver, None)
        with driver.session() as session:
            session.run("DROP INDEX vec_bench_n IF EXISTS").consume()
        driver.close()


if __name__ == "__main__":
    main()
