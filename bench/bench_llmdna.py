"""Whole-batch comparison with the reference `llm-dna` 1.0.1: the full zoo's transformers models.

Ours:       `dnakb ingest MANIFEST --workers 2` into a fresh embedded store and a fresh artifact root
            (generation, embedding, DNA, the log-likelihood and weight-sketch channels, graph writes).
Reference:  `calc-dna --llm-list FILE` — llm-dna's batch mode (`calc_dna_parallel`: one process, models
            generated in turn on one worker device, then one sentence-encoder pass over all responses),
            which accepts local model folders as list entries; offline flags from
            ../shared/notes/llm-dna-baseline.md, a fresh output folder per run (it caches responses there).

Same models (the HF folders of the zoo manifest; llm-dna cannot read GGUF), same probes (our 600, written
as its `rand` dataset), same token budget (64), same sentence encoder (the local MiniLM), chat templates
off on both sides. The contenders alternate, each run from a cold start; medians of --reps runs.

Usage: .venv/bin/python bench/bench_llmdna.py --manifest /tmp/zoofull/manifest.yaml [--reps 2] [--workers 2]
       (build the zoo with `dnakb zoo build DIR`; install the reference with bench/setup-reference.sh)
Writes a Markdown section to bench/out/llmdna.md (or --out), to copy into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "PYTHONPATH": str(ROOT)}
OURS_CLI = [sys.executable, "-c", "import sys; from ingest.cli import main; sys.exit(main(sys.argv[1:]))"]
REFERENCE = ROOT / ".bench-venv" / "bin" / "calc-dna"


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=cwd)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc


def ours(manifest: Path, probes: int, tokens: int, workers: int, work: Path) -> dict:
    run = Path(tempfile.mkdtemp(dir=work, prefix="ours-"))
    wall, proc = timed(OURS_CLI + ["--db", str(run / "kb"), "ingest", str(manifest), "--workers", str(workers),
                                   "--probes", str(probes), "--max-new-tokens", str(tokens),
                                   "--artifacts", str(run / "arts"), "--json", "-q"], cwd=run)
    dnas = list((run / "arts").rglob("dna.npy"))
    shutil.rmtree(run, ignore_errors=True)
    return {"wall": wall, "models": len(dnas), "summary": proc.stdout[-400:]}


def reference(models: list[Path], probes: list[str], tokens: int, work: Path) -> dict:
    from ingest.embedder import default_embedder_path

    run = Path(tempfile.mkdtemp(dir=work, prefix="ref-"))
    (run / "data" / "rand").mkdir(parents=True)
    (run / "data" / "rand" / "rand_dataset.json").write_text(json.dumps(probes))
    (run / "models.txt").write_text("\n".join(str(m) for m in models) + "\n")
    cmd = [str(REFERENCE), "--llm-list", str(run / "models.txt"), "--model-type", "huggingface",
           "--dataset", "rand", "--max-samples", str(len(probes)), "--data-root", str(run / "data"),
           "--sentence-encoder", str(default_embedder_path()), "--encoder-device", "cpu", "--device", "cpu",
           "--max-length", str(tokens), "--temperature", "0", "--no-trust-remote-code", "--no-use-chat-template",
           "--no-quantization",  # its batch mode otherwise asks for 8-bit loading (bitsandbytes) from hub metadata
           "--output-dir", str(run / "out"), "--log-level", "WARNING"]
    wall, proc = timed(cmd, cwd=run)
    dnas = list((run / "out").rglob("*_dna.json"))
    for path in dnas:
        assert len(json.loads(path.read_text())["signature"]) == 128
    shutil.rmtree(run, ignore_errors=True)
    return {"wall": wall, "models": len(dnas)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True, help="the full zoo's manifest.yaml")
    parser.add_argument("--probes", type=int, default=600)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N transformers models (a quick try)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "llmdna.md")
    args = parser.parse_args()
    if not REFERENCE.exists():
        sys.exit(f"Error: no {REFERENCE}: run bench/setup-reference.sh first")

    import yaml

    from ingest.manifest import parse_manifest
    from kb.probes import load_probes

    entries = [e for e in parse_manifest(args.manifest) if e.path.is_dir()]
    if args.limit:
        entries = entries[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="bench-llmdna-"))
    manifest = work / "hf-models.yaml"  # the HF models only, with their metadata, paths absolute
    manifest.write_text(yaml.safe_dump({"models": [{"id": e.id, "path": str(e.path)} for e in entries]}))
    prompts = load_probes().head(args.probes)
    load_start = os.getloadavg()[0]
    rows: dict[str, list[dict]] = {"ours": [], "reference": []}
    try:
        for rep in range(args.reps):
            first, second = ("ours", "reference") if rep % 2 == 0 else ("reference", "ours")
            for who in (first, second):
                if who == "ours":
                    rows["ours"].append(ours(manifest, args.probes, args.tokens, args.workers, work))
                else:
                    rows["reference"].append(reference([e.path for e in entries], prompts, args.tokens, work))
                print(f"rep {rep} {who}: {rows[who][-1]['wall']:.1f} s, {rows[who][-1]['models']} DNAs, "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    o = statistics.median(x["wall"] for x in rows["ours"])
    r = statistics.median(x["wall"] for x in rows["reference"])
    runs = {who: ", ".join(f"{x['wall']:.1f}" for x in rows[who]) for who in rows}
    lines = [f"## Whole zoo vs llm-dna ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `.venv/bin/python bench/bench_llmdna.py {' '.join(sys.argv[1:])}`; {len(entries)} transformers "
             f"models of {args.manifest}; {args.probes} probes x {args.tokens} tokens, MiniLM; machine: "
             f"{os.cpu_count()} cores, load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
             f"medians of {args.reps} runs, alternating.", "",
             "| contender | wall s (median) | runs | DNAs written |", "|---|---|---|---|",
             f"| ours `dnakb ingest --workers {args.workers}` (DNA + log-likelihood + weight sketch + store) | {o:.1f} | "
             f"{runs['ours']} | {rows['ours'][0]['models']} |",
             f"| reference `calc-dna --llm-list` (batch mode, one process) | {r:.1f} | "
             f"{runs['reference']} | {rows['reference'][0]['models']} |", "",
             f"Ratio reference / ours: **{r / o:.1f}x** (target >= 5x)."]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
