"""Neo4j DNA insert rate against the vector index's settings and the write transaction size.

Loads N random 128-d DNAs into a scratch label (`:VecBench`, its own vector index, removed after)
for each combination of transaction size, quantization and concurrent writers, and first without
any vector index: the anchor, so each row prints its rate as a fraction of the unindexed one.
Why it exists: the store's choices (`DNA_BATCH_SIZE`, `vector.quantization.enabled: false`,
`WRITERS`) in kb/stores/neo4j_store.py come from this sweep.

    eval "$(scripts/neo4j-local env)"
    .venv/bin/python bench/bench_vector_index.py [--n 20000] [--sizes 500,1000,5000] [--writers 1,2]
"""

from __future__ import annotations

import argparse
import itertools
import os
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


def main() -> None:
    from neo4j import GraphDatabase

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--sizes", default="500,1000,5000")
    parser.add_argument("--writers", default="1,2")
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
        print(f"{'quantization':>12} {'tx rows':>8} {'writers':>8} {'records/s':>10} {'of unindexed':>13}")
        for quantization, size, count in itertools.product((True, False), sizes, writers):
            reset(driver, quantization)
            rate = load(driver, dnas, size, count)
            print(f"{str(quantization):>12} {size:>8} {count:>8} {rate:>10,.0f} {rate / anchor:>13.2f}")
    finally:
        reset(driver, None)
        driver.close()


if __name__ == "__main__":
    main()
