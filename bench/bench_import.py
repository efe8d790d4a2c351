"""Benchmark: `import_lineage` of synthetic Hub metadata into each store, and zoo ingest with 1 vs 2 workers.

    .venv/bin/python bench/bench_import.py [--records 100000] [--stores embedded,neo4j] [--zoo]

Synthetic records (fixed seed): `model_info` JSON lines with an id, `created_at`, `library_name`,
architectures and, for 95% of them, a `base_model:<relation>:<parent>` tag naming an earlier record
(a forest: finetune 70%, adapter 15%, quantized 10%, merge 5%). The anchor, measured in the same
run, is plain `json.loads` of the same file: the floor any importer pays. Neo4j runs when
NEO4J_PASSWORD is set (scripts/neo4j-local start; eval "$(scripts/neo4j-local env)").
Figures go to stdout as a Markdown table (paste into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.lineage_import import import_lineage  # noqa: E402
from kb.stores import StoreConfig, open_store  # noqa: E402

ZOO_PROBES, ZOO_TOKENS, ZOO_LOGLIK = 50, 16, 64
"""Zoo timing protocol: 50 probes, 16 new tokens, 64 reference texts (the default is 600 / 64 / 1200)."""
RELATIONS = ["finetune"] * 14 + ["adapter"] * 3 + ["quantized"] * 2 + ["merge"]


def synthetic_records(path: Path, n: int, seed: int = 7) -> int:
    """Write n model_info records as JSON lines; returns the number of declared edges."""
    rng = random.Random(seed)
    edges = 0
    with path.open("w") as out:
        for i in range(n):
            tags = ["transformers", "text-generation", f"license:{rng.choice(['mit', 'apache-2.0', 'llama2'])}"]
            if i > 0 and rng.random() < 0.95:
                parent = rng.randrange(max(0, i - 5000), i)
                tags.append(f"base_model:{rng.choice(RELATIONS)}:org{parent % 97}/model-{parent}")
                edges += 1
            record = {
                "id": f"org{i % 97}/model-{i}", "author": f"org{i % 97}",
                "created_at": f"20{20 + i * 5 // n}-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
                "library_name": "transformers", "tags": tags,
                "config": {"architectures": [rng.choice(["LlamaForCausalLM", "MistralForCausalLM", "PhiForCausalLM"])]},
            }
            out.write(json.dumps(record) + "\n")
    return edges


def bench_store(kind: str, data: Path, n: int, edges: int, workdir: Path) -> dict:
    config = StoreConfig(kind=kind, db=workdir / f"kb-{kind}") if kind == "embedded" else StoreConfig(kind="neo4j")
    with open_store(config) as store:
        store.clear()
        t0 = time.perf_counter()
        report = import_lineage([data], store)
        seconds = time.perf_counter() - t0
        stats = store.stats()
        assert (stats.models, stats.declared_edges) == (n, edges), (stats, n, edges)
        store.clear()
    return {"store": kind, "records": n, "edges": edges, "seconds": seconds, "records_per_s": n / seconds,
            "warnings": len(report.warnings)}


def bench_zoo(workdir: Path) -> list[dict]:
    """Wall time of `dnakb ingest` of the small zoo with 1 and 2 workers (fresh store and artifacts each)."""
    import subprocess

    from ingest.zoo.build import cached_small_zoo

    from ingest.api import make_protocol

    manifest = cached_small_zoo()
    protocol_file = make_protocol(ZOO_PROBES, ZOO_TOKENS, loglik_texts=ZOO_LOGLIK).save(workdir / "protocol.json")
    rows = []
    for workers in (1, 2):
        db, art = workdir / f"zoo-kb-{workers}", workdir / f"zoo-art-{workers}"
        cmd = [sys.executable, "-c", "import sys; from ingest.cli import main; sys.exit(main(sys.argv[1:]))",
               "--db", str(db), "ingest", str(manifest), "--workers", str(workers), "--artifacts", str(art),
               "--protocol", str(protocol_file),
               "--json", "--quiet"]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        seconds = time.perf_counter() - t0
        report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
        rows.append({"workers": workers, "seconds": seconds, "ok": report.get("ok"), "failed": report.get("failed"),
                     "rc": done.returncode})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--zoo", action="store_true", help="also time zoo ingest with 1 vs 2 workers")
    parser.add_argument("--no-import", action="store_true", help="skip the import-lineage part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dnakb-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "records.jsonl"
        edges = synthetic_records(data, args.records)
        t0 = time.perf_counter()
        with data.open() as handle:
            for line in handle:
                json.loads(line)
        anchor = args.records / (time.perf_counter() - t0)
        print(f"anchor: json.loads of the same file: {anchor:,.0f} records/s")
        print("\n| store | records | declared edges | seconds | records/s |\n|---|---|---|---|---|")
        for kind in [] if args.no_import else args.stores.split(","):
            if kind == "neo4j" and not os.environ.get("NEO4J_PASSWORD"):
                print("| neo4j | (skipped: NEO4J_PASSWORD not set) | | | |")
                continue
            row = bench_store(kind, data, args.records, edges, workdir)
            print(f"| {kind} | {row['records']:,} | {row['edges']:,} | {row['seconds']:.2f} | {row['records_per_s']:,.0f} |")
        if args.zoo:
            print("\n| zoo ingest workers | wall seconds | ok | failed | exit |\n|---|---|---|---|---|")
            for row in bench_zoo(workdir):
                print(f"| {row['workers']} | {row['seconds']:.1f} | {row['ok']} | {row['failed']} | {row['rc']} |")


if __name__ == "__main__":
    main()
