"""Batched llama.cpp decoding vs one prompt at a time: same responses, same DNA (up to float noise)?

For every GGUF of the small zoo, and for SmolLM2-135M-Instruct Q4_1, the DNA is extracted twice under one
protocol (default: the default protocol, 600 probes x 64 tokens): with `batch_size=1` (one prompt at a
time through llama-cpp-python) and with the default batched decoding. Reported per model: the share of
identical responses, the DNA L2 distance between the two, and for scale the L2 distance from the model to
its nearest OTHER model under the same protocol (the small zoo's 13 models; for SmolLM2 also Gemma-3-270M).
Each mode writes to its own artifact root (the artifact key holds no decode mode), so nothing is reused
across modes; `--artifacts DIR` keeps them for a rerun.

Usage: .venv/bin/python bench/bench_batched_equality.py [--probes 600] [--tokens 64] [--threads 2] [--no-real]
Writes a Markdown section to bench/out/batched-equality.md (or --out), to copy into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=600)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-real", action="store_true", help="skip SmolLM2 and Gemma-3 (small zoo only)")
    parser.add_argument("--artifacts", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "batched-equality.md")
    args = parser.parse_args()

    from ingest.extract import EmptyResponsesWarning, default_protocol, extract_dna
    from ingest.manifest import parse_manifest
    from ingest.packaged import gemma3_gguf, smollm2_gguf
    from ingest.zoo.build import cached_small_zoo

    warnings.simplefilter("ignore", EmptyResponsesWarning)
    protocol = default_protocol(args.probes, args.tokens)
    root = args.artifacts or Path(tempfile.mkdtemp(prefix="bench-batched-"))
    load_start = os.getloadavg()[0]
    manifest_path = cached_small_zoo()
    zoo = {entry.id: entry.path for entry in parse_manifest(manifest_path)}

    def dna(path: Path, batch_size: int | None):
        mode = "sequential" if batch_size == 1 else "default"
        result = extract_dna(path, protocol, artifacts=root / mode, n_threads=args.threads, batch_size=batch_size)
        print(f"{path.name} {mode}: {result.meta['timings'].get('generate', 0):.1f} s generate"
              f"{' (reused)' if result.reused else ''}", file=sys.stderr)
        return result

    others = {name: dna(path, None) for name, path in zoo.items()}
    subjects = {name: path for name, path in zoo.items() if path.suffix == ".gguf"}
    if not args.no_real:
        others["gemma-3-270m-q4_k_m"] = dna(gemma3_gguf(), None)
        subjects["smollm2-135m-instruct-q4_1"] = smollm2_gguf()
    rows = []
    for name, path in subjects.items():
        one, many = dna(path, 1), dna(path, None)
        assert one.meta["decode"] == "sequential" and many.meta["decode"] == "batched"
        same = float(np.mean([a == b for a, b in zip(one.responses, many.responses)]))
        l2 = float(np.linalg.norm(one.dna - many.dna))
        nearest_name, nearest = min(((other, float(np.linalg.norm(one.dna - r.dna))) for other, r in others.items()
                                     if other != name), key=lambda t: t[1])
        rows.append({"model": name, "same": same, "l2": l2, "nearest": nearest, "nearest_name": nearest_name,
                     "norm": float(np.linalg.norm(one.dna)), "t_one": one.meta["timings"]["generate"],
                     "t_many": many.meta["timings"]["generate"], "batch": many.meta.get("batch_size")})
    lines = [f"## Batched vs one-at-a-time llama.cpp decoding: responses and DNA "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `.venv/bin/python bench/bench_batched_equality.py {' '.join(sys.argv[1:])}`; protocol "
             f"{protocol.id} ({args.probes} probes x {args.tokens} tokens); {args.threads} threads; machine: "
             f"{os.cpu_count()} cores, load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end.", "",
             "| model | identical responses | DNA L2, batched vs one at a time | nearest other model (L2) | DNA norm | "
             "generate s, one at a time / batched (batch) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['same']:.1%} | {r['l2']:.4f} | {r['nearest_name']} ({r['nearest']:.3f}) | "
                     f"{r['norm']:.3f} | {r['t_one']:.1f} / {r['t_many']:.1f} ({r['batch']}) |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
