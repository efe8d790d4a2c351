"""Extraction speed: ours vs the reference `llm-dna` 1.0.1, and ours vs raw llama.cpp generation.

Same local model, same probes, same token budget, one run, the contenders alternating, medians reported.

  transformers, whole command   `dnakb extract` vs `calc-dna` (the reference CLI, offline flags from
                                notes/llm-dna-baseline.md, sentence encoder = the same local MiniLM),
                                each a fresh process writing to a fresh folder.
  transformers, generation only our batched backend vs the reference's algorithm as published (HF
                                `generate` one prompt at a time, fp16 — what it picks on CPU), in-process.
  llama-cpp                     `dnakb extract` on a GGUF vs a process that loads the same GGUF with
                                llama-cpp-python and generates the same prompts greedily (raw llama.cpp).

Usage: .venv/bin/python bench/bench_extract.py [--probes 100] [--tokens 32] [--reps 3]
       (run bench/setup-reference.sh first; --no-reference skips the reference)
Writes a Markdown section to bench/out/extract.md (or --out), to copy into bench/RESULTS.md.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

OURS_CLI = [sys.executable, "-c", "import sys; from ingest.cli import main; sys.exit(main(sys.argv[1:]))"]
REFERENCE = ROOT / ".bench-venv" / "bin" / "calc-dna"

RAW_LLAMA = """
import sys, time, json
t0 = time.perf_counter()
from llama_cpp import Llama
path, tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prompts = json.load(open(sys.argv[4]))
llm = Llama(model_path=path, n_ctx=1024, n_threads=threads, n_threads_batch=threads, seed=0, verbose=False)
t1 = time.perf_counter()
n = 0
for p in prompts:
    out = llm.create_completion(p, max_tokens=tokens, temperature=0.0, top_k=1, top_p=1.0, min_p=0.0,
                                repeat_penalty=1.0)
    n += out["usage"]["completion_tokens"]
t2 = time.perf_counter()
print(json.dumps({"tokens": n, "load": t1 - t0, "generate": t2 - t1}))
"""


def run(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc


def ours_cli(model: Path, probes: int, tokens: int, threads: int, work: Path) -> dict:
    arts = Path(tempfile.mkdtemp(dir=work))
    wall, proc = run(OURS_CLI + ["extract", str(model), "--probes", str(probes), "--max-new-tokens", str(tokens),
                                 "--threads", str(threads), "--artifacts", str(arts), "--force", "--json", "-q"])
    data = json.loads(proc.stdout)
    return {"wall": wall, "tokens": data["tokens_generated"], "generate": data["timings"]["generate"],
            "timings": data["timings"]}


def reference_cli(model: Path, probes: list[str], tokens: int, work: Path, tokenizer) -> dict:
    from ingest.embedder import default_embedder_path

    data_root = work / "ref-data"
    (data_root / "rand").mkdir(parents=True, exist_ok=True)
    (data_root / "rand" / "rand_dataset.json").write_text(json.dumps(probes))
    out = Path(tempfile.mkdtemp(dir=work))
    cmd = [str(REFERENCE), "--model-name", "tiny", "--model-path", str(model), "--model-type", "huggingface",
           "--dataset", "rand", "--max-samples", str(len(probes)), "--data-root", str(data_root),
           "--sentence-encoder", str(default_embedder_path()), "--encoder-device", "cpu", "--device", "cpu",
           "--max-length", str(tokens), "--temperature", "0", "--no-trust-remote-code", "--output-dir", str(out)]
    wall, _ = run(cmd, cwd=work)
    responses_file = next(out.rglob("responses.json"))
    items = json.loads(responses_file.read_text())["items"]
    n_tokens = sum(len(tokenizer(i["response"], add_special_tokens=False)["input_ids"]) for i in items)
    signature = next(out.rglob("*_dna.json"))
    assert len(json.loads(signature.read_text())["signature"]) == 128
    return {"wall": wall, "tokens": n_tokens, "n_empty": sum(not i["response"].strip() for i in items)}


def generation_only(model: Path, prompts: list[str], tokens: int, reps: int, threads: int) -> dict:
    """Our batched backend vs HF generate one prompt at a time in fp16 (the reference's algorithm)."""
    import torch

    from ingest.backends.hf import HFBackend
    from reference_hf import generate_one_at_a_time, load_reference

    ours = HFBackend(model, n_threads=threads)
    ref_model, tok = load_reference(model)
    torch.set_num_threads(threads)
    results = {"ours": [], "reference": []}
    for _ in range(reps):
        before = ours.tokens_generated
        t = time.perf_counter()
        ours.generate(prompts, tokens)
        results["ours"].append(((ours.tokens_generated - before), time.perf_counter() - t))
        t = time.perf_counter()
        n = generate_one_at_a_time(ref_model, tok, prompts, tokens)
        results["reference"].append((n, time.perf_counter() - t))
    ours.close()
    return results


def raw_llama(gguf: Path, prompts: list[str], tokens: int, threads: int, work: Path) -> dict:
    prompt_file = work / "prompts.json"
    prompt_file.write_text(json.dumps(prompts))
    wall, proc = run([sys.executable, "-c", RAW_LLAMA, str(gguf), str(tokens), str(threads), str(prompt_file)])
    return {"wall": wall, **json.loads(proc.stdout.strip().splitlines()[-1])}


def med(values) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gguf-probes", type=int, default=50)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "extract.md")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from ingest.packaged import smollm2_gguf
    from kb.probes import load_probes
    from ingest.zoo.testing import cached_tiny

    model = cached_tiny()
    prompts = load_probes().head(args.probes)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    lines = [f"## Extraction speed ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `.venv/bin/python bench/bench_extract.py --probes {args.probes} --tokens {args.tokens} "
             f"--reps {args.reps} --threads {args.threads} --gguf-probes {args.gguf_probes}`; "
             f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start. Medians of "
             f"{args.reps} alternating runs.", ""]
    try:
        # 1. whole command, transformers path
        rows = {"ours": [], "reference": []}
        for rep in range(args.reps):
            rows["ours"].append(ours_cli(model, args.probes, args.tokens, args.threads, work))
            if not args.no_reference:
                rows["reference"].append(reference_cli(model, prompts, args.tokens, work, tokenizer))
            print(f"rep {rep}: ours {rows['ours'][-1]['wall']:.1f}s"
                  + (f", reference {rows['reference'][-1]['wall']:.1f}s" if rows["reference"] else ""), file=sys.stderr)
        o_wall, o_tok = med(r["wall"] for r in rows["ours"]), med(r["tokens"] for r in rows["ours"])
        o_gen = med(r["generate"] for r in rows["ours"])
        lines += [f"### transformers on CPU, tiny Llama ({model.parent.name}), {args.probes} probes x {args.tokens} tokens",
                  "", "| contender | wall s (median) | tokens | tokens/s (whole command) |", "|---|---|---|---|",
                  f"| ours `dnakb extract` | {o_wall:.2f} | {o_tok:.0f} | {o_tok / o_wall:.0f} |"]
        if rows["reference"]:
            r_wall, r_tok = med(r["wall"] for r in rows["reference"]), med(r["tokens"] for r in rows["reference"])
            lines += [f"| reference `calc-dna` 1.0.1 | {r_wall:.2f} | {r_tok:.0f} | {r_tok / r_wall:.0f} |", "",
                      f"Whole-command ratio (reference wall / ours): **{r_wall / o_wall:.1f}x**. "
                      f"Our generation phase alone: {o_gen:.2f} s ({o_tok / o_gen:.0f} tokens/s)."]
        # 2. generation only, in-process
        gen = generation_only(model, prompts, args.tokens, args.reps, args.threads)
        g_o = med(n / t for n, t in gen["ours"])
        g_r = med(n / t for n, t in gen["reference"])
        lines += ["", "Generation only, in-process (same prompts, greedy):", "",
                  "| contender | tokens/s (median) |", "|---|---|",
                  f"| ours: batched, left padding, fp32 | {g_o:.0f} |",
                  f"| reference algorithm: one prompt at a time, fp16 | {g_r:.0f} |", "",
                  f"Generation throughput ratio: **{g_o / g_r:.1f}x** (target >= 10x)."]
        # 3. llama-cpp
        gguf = smollm2_gguf()
        gprompts = load_probes().head(args.gguf_probes)
        rows = {"ours": [], "raw": []}
        for rep in range(args.reps):
            rows["ours"].append(ours_cli(gguf, args.gguf_probes, args.tokens, 2, work))
            rows["raw"].append(raw_llama(gguf, gprompts, args.tokens, 2, work))
            print(f"gguf rep {rep}: ours {rows['ours'][-1]['wall']:.1f}s, raw {rows['raw'][-1]['wall']:.1f}s", file=sys.stderr)
        o_wall, raw_wall = med(r["wall"] for r in rows["ours"]), med(r["wall"] for r in rows["raw"])
        o_gen, raw_gen = med(r["generate"] for r in rows["ours"]), med(r["generate"] for r in rows["raw"])
        lines += ["", f"### llama-cpp on CPU, SmolLM2-135M-Instruct Q4_1, {args.gguf_probes} probes x {args.tokens} tokens, 2 threads",
                  "", "| | wall s (median) | generation s (median) | tokens |", "|---|---|---|---|",
                  f"| ours `dnakb extract` (load, generate, embed, project, write) | {o_wall:.2f} | {o_gen:.2f} | {med(r['tokens'] for r in rows['ours']):.0f} |",
                  f"| raw llama-cpp-python (load + generate) | {raw_wall:.2f} | {raw_gen:.2f} | {med(r['tokens'] for r in rows['raw']):.0f} |",
                  "", f"Ratio ours / raw, whole process: **{o_wall / raw_wall:.2f}x**; generation phases: "
                  f"{o_gen / raw_gen:.2f}x (target: whole <= 1.5x)."]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
