"""`dnakb ingest --dry-run`'s time estimate against the ingest it predicts, per model, in one run.

Builds (or reuses) the small zoo, estimates every model's extraction from a short run of that model
(ingest/calibrate.py), then ingests the zoo with one worker into a fresh KB and artifact store and
prints estimated and measured seconds per model, their ratio, and the median ratio. The anchor is
the real ingest of the same models with the same protocol, right after the estimate. `--real` does
the same for the two real models PyPI packages ship (SmolLM2-135M-Instruct Q4_1, Gemma-3-270M
Q4_K_M), whose extraction takes minutes rather than seconds.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_dry_run.py --probes 100 --tokens 64
    PYTHONPATH=$PWD .venv/bin/python bench/bench_dry_run.py --real --probes 600 --tokens 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def real_manifest(folder: Path) -> Path:
    """A manifest of the real models that PyPI packages ship, raw probes (no chat template)."""
    from ingest.packaged import gemma3_gguf, smollm2_gguf

    models = [("real/smollm2-135m-instruct-q4_1", smollm2_gguf()), ("real/gemma-3-270m-q4_k_m", gemma3_gguf())]
    path = folder / "manifest.yaml"
    path.write_text("models:\n" + "".join(f"  - {{id: {mid}, path: {file}}}\n" for mid, file in models))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--real", action="store_true", help="the packaged real models instead of the small zoo")
    args = ap.parse_args(argv)
    from ingest.api import estimate, ingest, make_protocol
    from ingest.zoo.build import cached_small_zoo
    from kb.stores import StoreConfig, open_store

    protocol = make_protocol(args.probes, args.tokens)
    models = "real models" if args.real else "small zoo"
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"protocol {args.probes} probes x {args.tokens} tokens; {models}, 1 worker")
    with tempfile.TemporaryDirectory(prefix="bench-dry-run-") as tmp:
        manifest = real_manifest(Path(tmp)) if args.real else cached_small_zoo()
        arts = Path(tmp) / "artifacts"
        with open_store(StoreConfig(kind="embedded", db=Path(tmp) / "kb")) as store:
            clock = time.perf_counter()
            plan = estimate(manifest, store, protocol=protocol, artifacts=arts, declared=False)
            dry_s = time.perf_counter() - clock
            clock = time.perf_counter()
            report = ingest(manifest, store, workers=1, declared=False, protocol=protocol, artifacts=arts)
            ingest_s = time.perf_counter() - clock
    measured = {o.id: o.seconds for o in report.outcomes if o.status == "ok"}
    print("| model | backend | estimated s | measured s | estimated / measured |\n|---|---|---:|---:|---:|")
    ratios = []
    for row in plan.rows:
        if row.seconds is None or row.model not in measured:
            continue
        ratio = row.seconds / measured[row.model]
        ratios.append(ratio)
        print(f"| {row.model} | {row.backend} | {row.seconds:.1f} | {measured[row.model]:.1f} | {ratio:.2f} |")
    total_est = sum(r.seconds for r in plan.rows if r.seconds is not None)
    print(f"\nmedian estimated/measured {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}); "
          f"total estimated {total_est:.0f} s, ingest wall {ingest_s:.0f} s; the dry run itself took {dry_s:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
