"""What resampling the reference texts adds to bootstrap support, measured against its anchor in one run.

On KBs whose artifact stores are kept (e.g. `bench/eval_random.py ... --keep-kbs K --reuse-artifacts`),
infer with `--bootstrap` replicates twice per repetition, interleaved: with every channel's parts
(per-probe embeddings and per-text log-likelihoods), and with the per-probe embeddings only, which is
what a replicate resampled before the log-likelihood profile had parts (the anchor). Prints the median
bootstrap time of each and their ratio per KB, and how many edges reach support >= 0.9 either way.

Usage: .venv/bin/python bench/bench_bootstrap_parts.py KB [KB ...] [--bootstrap 100] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from kb.artifacts import ArtifactArrays
    from kb.lineage.infer import _load_parts, _protocol_record, infer_lineage, store_evidence
    from kb.stores import StoreConfig, open_store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kbs", nargs="+", type=Path)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    print("| KB | models | bootstrap s, all parts | bootstrap s, probes only (anchor) | ratio | support >= 0.9: all / anchor |")
    print("|---|---|---|---|---|---|")
    for kb in args.kbs:
        store = open_store(StoreConfig(kind="embedded", db=kb))
        try:
            pid = max(store.protocols().items(), key=lambda kv: kv[1])[0]
            evs = store_evidence(store, pid, declared=False)
            record = _protocol_record(store, pid, [])
            if record is None:
                raise SystemExit(f"{kb}: the KB holds no protocol record; bootstrap parts cannot be read")
            parts = _load_parts(pid, record, [e.id for e in evs], ArtifactArrays(store), lambda _m: None)
        finally:
            store.close()
        if "loglik" not in parts:
            raise SystemExit(f"{kb}: its artifact store holds no per-text log-likelihoods")
        runs = {"all": parts, "anchor": {"text": parts.get("text", {})}}
        seconds: dict[str, list[float]] = {k: [] for k in runs}
        confident: dict[str, int] = {}
        for _ in range(args.reps):
            for name, chosen in runs.items():
                result = infer_lineage(evs, protocol=pid, use_declared=False, trees=False, bootstrap=args.bootstrap,
                                       parts=chosen, protocol_record=record)
                seconds[name].append(result.timings["bootstrap"])
                confident[name] = sum((e.support or 0) >= 0.9 for e in result.edges)
        a, b = statistics.median(seconds["all"]), statistics.median(seconds["anchor"])
        print(f"| {kb.name} | {len(evs)} | {a:.2f} | {b:.2f} | {a / b:.2f} | {confident['all']} / {confident['anchor']} |")


if __name__ == "__main__":
    main()
