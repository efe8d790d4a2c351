"""Extraction speed: ours vs the reference `llm-dna` 1.0.1, and ours vs raw llama.cpp generation.

Same local model, same probes, same token budget, one run, the contenders alternating, medians reported.

  transformers, whole command   `dnakb extract` vs `calc-dna` (the reference CLI, offline flags from
                                notes/llm-dna-baseline.md, sentence encoder = the same local MiniLM),
                                each a fresh process writing to a fresh folder.
  transformers, generation only our batched backend vs the reference's algorithm as published (HF
                                `generate` one prompt at a time, fp16 — what it picks on CPU), in-process.
  llama-cpp                     `dnakb extract` on SmolLM2-135M Q4_1 (batched decoding, the default) vs a
                                process that loads the same GGUF with llama-cpp-python and generates the
                                same prompts greedily one at a time (raw llama.cpp), alternating; beside
                                them the machine's compute limit for that model: tokens/s if every thread
                                ran the model's matmuls (2 x matmul parameters + attention per token) at
                                the fp32 GEMM rate measured in the same run (torch, square 2048 matrices),
                                and llama.cpp's own prefill rate (a 512-token batch of this model: its
                                matmuls as matrix-matrix products). `--with-sequential` adds one run of
                                `dnakb extract --batch-size 1` (our one-at-a-time path).
  sweep (opt-in)                our llama-cpp backend in-process at 1, 8, ... sequences decoded together.
  big (opt-in)                  a Llama-2-7B-shaped Q4_0 GGUF with random weights, one at a time vs batched.

Usage: .venv/bin/python bench/bench_extract.py [--sections hf,llama,sweep,big] [--probes 100] [--tokens 32]
         [--reps 3] [--gguf-probes 600] [--gguf-tokens 64] [--gguf-threads 2]
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

import numpy as np

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


def ours_cli(model: Path, probes: int, tokens: int, threads: int, work: Path, batch_size: int | None = None) -> dict:
    arts = Path(tempfile.mkdtemp(dir=work))
    extra = ["--batch-size", str(batch_size)] if batch_size else []
    wall, proc = run(OURS_CLI + ["extract", str(model), "--probes", str(probes), "--max-new-tokens", str(tokens),
                                 "--threads", str(threads), "--artifacts", str(arts), "--force", "--json", "-q"] + extra)
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


GEMM = """
import json, sys, time, statistics, torch
threads, n, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
a, b = torch.randn(n, n), torch.randn(n, n)
a @ b
times = []
for _ in range(reps):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
print(json.dumps({"flops": 2 * n ** 3 / statistics.median(times), "threads": torch.get_num_threads()}))
"""

PREFILL = """
import json, sys, time, statistics, ctypes
import llama_cpp
path, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(model_path=path, n_ctx=n + 8, n_batch=n, n_ubatch=n, n_threads=threads,
                      n_threads_batch=threads, verbose=False)
tokens = [llm.token_bos()] + [1000 + (i * 7919) % 20000 for i in range(n - 1)]
times = []
for _ in range(3):
    llm.reset(); t = time.perf_counter(); llm.eval(tokens); times.append(time.perf_counter() - t)
print(json.dumps({"tokens_per_s": n / statistics.median(times)}))
"""


def gemm_rate(threads: int, n: int = 2048, reps: int = 7) -> float:
    """fp32 GEMM FLOP/s on `threads` threads (torch, n x n times n x n, median of `reps`), in a fresh process."""
    _, proc = run([sys.executable, "-c", GEMM, str(threads), str(n), str(reps)])
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["flops"])


def prefill_rate(gguf: Path, threads: int, n: int = 512) -> float:
    """llama.cpp's tokens/s on one n-token prompt of this model (matrix-matrix work), in a fresh process."""
    _, proc = run([sys.executable, "-c", PREFILL, str(gguf), str(threads), str(n)])
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["tokens_per_s"])


BIG_SHAPE = {"n_layer": 32, "n_embd": 4096, "n_ff": 11008, "n_head": 32, "n_head_kv": 32}
"""Llama-2-7B's layer shapes (6.6B parameters with a 49,152-token vocabulary)."""


def random_llama_gguf(out: Path, template: Path, n_layer: int, n_embd: int, n_ff: int, n_head: int,
                      n_head_kv: int, seed: int = 0) -> Path:
    """A Llama-architecture GGUF of the given shape with seeded random Q4_0 weights and `template`'s tokenizer.

    Same arithmetic per token as a real model of that shape (the weights never leave this machine, no
    download); random weights rarely emit an end-of-generation token, so every answer runs to the budget.
    Tensors are written one at a time: memory stays at one tensor.
    """
    import gguf as gg

    reader = gg.GGUFReader(str(template))
    writer = gg.GGUFWriter(str(out), "llama")
    for key, field in reader.fields.items():
        if key.startswith("tokenizer.") or key in ("llama.vocab_size", "llama.rope.freq_base",
                                                   "llama.attention.layer_norm_rms_epsilon"):
            sub = field.types[1] if len(field.types) > 1 else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type=sub)
    vocab = int(reader.fields["llama.vocab_size"].contents())
    writer.add_block_count(n_layer)
    writer.add_context_length(4096)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_file_type(gg.LlamaFileType.MOSTLY_Q4_0)
    writer.add_quantization_version(gg.GGML_QUANT_VERSION)
    kv = n_embd // n_head * n_head_kv
    shapes: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (vocab, n_embd))]
    for i in range(n_layer):
        shapes += [(f"blk.{i}.attn_norm.weight", (n_embd,)), (f"blk.{i}.attn_q.weight", (n_embd, n_embd)),
                   (f"blk.{i}.attn_k.weight", (kv, n_embd)), (f"blk.{i}.attn_v.weight", (kv, n_embd)),
                   (f"blk.{i}.attn_output.weight", (n_embd, n_embd)), (f"blk.{i}.ffn_norm.weight", (n_embd,)),
                   (f"blk.{i}.ffn_gate.weight", (n_ff, n_embd)), (f"blk.{i}.ffn_up.weight", (n_ff, n_embd)),
                   (f"blk.{i}.ffn_down.weight", (n_embd, n_ff))]
    shapes += [("output_norm.weight", (n_embd,)), ("output.weight", (vocab, n_embd))]
    block, size = gg.GGML_QUANT_SIZES[gg.GGMLQuantizationType.Q4_0]
    for name, shape in shapes:
        if len(shape) == 1:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), shape[0] * 4)
        else:
            byte_shape = (shape[0], shape[1] // block * size)  # the writer takes quantized shapes in bytes
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), byte_shape[0] * byte_shape[1],
                                   raw_dtype=gg.GGMLQuantizationType.Q4_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for _, shape in shapes:
        if len(shape) == 1:
            writer.write_tensor_data(np.ones(shape, dtype=np.float32))
            continue
        rows, cols = shape
        blocks = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
        # Q4_0 block: an f16 scale d, then 32 nibbles q; weight = (q - 8) d, std ~ 4.6 d = 1 / sqrt(cols)
        scale = np.float16(1.0 / (4.6 * np.sqrt(cols)))
        blocks[:, :, :2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
        writer.write_tensor_data(blocks.reshape(rows, -1))
    writer.close()
    return out


def big_section(args, work: Path) -> list[str]:
    """A 7B-shaped Q4_0 model: one prompt at a time vs batched, our backend in-process, same prompts."""
    from ingest.backends.llamacpp import LlamaCppBackend
    from ingest.packaged import smollm2_gguf
    from kb.probes import load_probes

    path = random_llama_gguf(work / "big-q4_0.gguf", smollm2_gguf(), **BIG_SHAPE)
    prompts = load_probes().head(args.big_probes)
    tokens, threads = args.big_tokens, args.gguf_threads
    rates = {}
    for mode, batch_size in (("one at a time", 1), ("batched", None)):
        with LlamaCppBackend(path, n_threads=threads, batch_size=batch_size) as backend:
            t = time.perf_counter()
            backend.generate(prompts, tokens)
            elapsed = time.perf_counter() - t
            rates[mode] = (backend.tokens_generated, elapsed, backend.last_batch_size)
        print(f"big {mode}: {rates[mode][0]} tokens in {elapsed:.1f} s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    size = path.stat().st_size
    path.unlink()
    one = rates["one at a time"][0] / rates["one at a time"][1]
    many = rates["batched"][0] / rates["batched"][1]
    default_tokens = 600 * 64
    return ["", f"### llama-cpp on CPU, a Llama-2-7B-shaped Q4_0 GGUF (random weights, {size / 2**30:.2f} GiB), "
            f"{len(prompts)} probes x {tokens} tokens, {threads} threads", "",
            "| contender | tokens | generation s | tokens/s | the default protocol (600 x 64 = 38,400 tokens at most) |",
            "|---|---|---|---|---|",
            f"| ours, one at a time (`batch_size=1`) | {rates['one at a time'][0]} | {rates['one at a time'][1]:.1f} | "
            f"{one:.2f} | {default_tokens / one / 3600:.1f} h |",
            f"| ours, batched ({rates['batched'][2]} sequences) | {rates['batched'][0]} | {rates['batched'][1]:.1f} | "
            f"{many:.2f} | {default_tokens / many / 3600:.1f} h |", "",
            f"Batched / one at a time: **{many / one:.1f}x** (random weights never stop early, so each answer runs "
            f"its full budget: the hours are an upper bound for a real model of this shape)."]


def sweep_section(args, work: Path) -> list[str]:
    """Generation tokens/s of SmolLM2 Q4_1 against the number of sequences decoded together, in-process."""
    from ingest.backends.llamacpp import LlamaCppBackend
    from ingest.packaged import smollm2_gguf
    from kb.probes import load_probes

    prompts = load_probes().head(args.sweep_probes)
    sizes = [int(x) for x in args.sweep.split(",")]
    lines = ["", f"### Sequences decoded together (SmolLM2-135M Q4_1, {len(prompts)} probes x {args.sweep_tokens} "
             f"tokens, {args.gguf_threads} threads, in-process, generation only)", "",
             "| sequences | tokens | generation s | tokens/s | vs one at a time |", "|---|---|---|---|---|"]
    base = None
    for size in sizes:
        with LlamaCppBackend(smollm2_gguf(), n_threads=args.gguf_threads, batch_size=size) as backend:
            t = time.perf_counter()
            backend.generate(prompts, args.sweep_tokens)
            elapsed = time.perf_counter() - t
            rate = backend.tokens_generated / elapsed
        base = base or (rate if size == 1 else None)
        print(f"sweep {size}: {rate:.1f} tok/s, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        lines.append(f"| {size} | {backend.tokens_generated} | {elapsed:.1f} | {rate:.1f} | "
                     f"{f'{rate / base:.2f}x' if base else '-'} |")
    return lines


def mean_prompt_tokens(gguf: Path, prompts: list[str]) -> float:
    """Mean prompt length in this model's tokens (BOS included), from its vocabulary alone."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    return float(np.mean([1 + len(vocab.tokenize(p.encode(), add_bos=False, special=False)) for p in prompts]))


def flops_per_token(gguf: Path, mean_context: float) -> tuple[float, dict]:
    """2 x (parameters of every matrix a token is multiplied by) + attention (QK and AV over the context).

    The token embedding is a lookup, not a matmul, unless the model has no separate output matrix (tied).
    """
    import gguf as gg

    reader = gg.GGUFReader(str(gguf))
    arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")

    def field(key: str) -> int:
        return int(reader.fields[f"{arch}.{key}"].parts[-1][0])

    sizes = {t.name: int(np.prod(t.shape)) for t in reader.tensors}
    matmul = sum(n for name, n in sizes.items() if name.startswith("blk.") and name.endswith(".weight") and
                 len(next(t.shape for t in reader.tensors if t.name == name)) == 2)
    head = sizes.get("output.weight", sizes["token_embd.weight"])
    layers, heads, embd = field("block_count"), field("attention.head_count"), field("embedding_length")
    attention = 4 * layers * embd * mean_context  # q.k and p.v: 2 FLOPs x d x context, per layer
    total = 2 * (matmul + head) + attention
    return total, {"matmul_params": matmul + head, "attention_flops": attention, "layers": layers, "heads": heads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sections", default="hf,llama", help="comma-separated: hf, llama, sweep (sequences decoded together), big (a 7B-shaped GGUF)")
    parser.add_argument("--sweep", default="1,8,16,32,64,128", help="sequence counts for --sections sweep")
    parser.add_argument("--sweep-probes", type=int, default=192)
    parser.add_argument("--sweep-tokens", type=int, default=32)
    parser.add_argument("--big-probes", type=int, default=16)
    parser.add_argument("--big-tokens", type=int, default=16)
    parser.add_argument("--gguf-probes", type=int, default=600)
    parser.add_argument("--gguf-tokens", type=int, default=64)
    parser.add_argument("--gguf-threads", type=int, default=2)
    parser.add_argument("--with-sequential", action="store_true", help="also one run of our one-at-a-time path")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "extract.md")
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}

    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    lines = [f"## Extraction speed ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"Command: `.venv/bin/python bench/bench_extract.py {' '.join(sys.argv[1:])}`; "
             f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start. Medians of "
             f"{args.reps} alternating runs.", ""]
    try:
        if "hf" in sections:
            lines += hf_section(args, work)
        if "llama" in sections:
            lines += llama_section(args, work)
        if "sweep" in sections:
            lines += sweep_section(args, work)
        if "big" in sections:
            lines += big_section(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


def hf_section(args, work: Path) -> list[str]:
    from transformers import AutoTokenizer

    from kb.probes import load_probes
    from ingest.zoo.testing import cached_tiny

    model = cached_tiny()
    prompts = load_probes().head(args.probes)
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    lines: list[str] = []
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
    return lines


def llama_section(args, work: Path) -> list[str]:
    """SmolLM2-135M Q4_1: raw one-at-a-time llama-cpp-python vs our batched path, and the compute limit."""
    from ingest.packaged import smollm2_gguf
    from kb.probes import load_probes

    gguf = smollm2_gguf()
    n, tokens, threads = args.gguf_probes, args.gguf_tokens, args.gguf_threads
    prompts = load_probes().head(n)
    rows: dict[str, list[dict]] = {"ours": [], "raw": [], "gemm": [], "prefill": []}
    for rep in range(args.reps):
        rows["gemm"].append({"flops": gemm_rate(threads)})
        rows["prefill"].append({"tok_s": prefill_rate(gguf, threads)})
        rows["ours"].append(ours_cli(gguf, n, tokens, threads, work))
        rows["raw"].append(raw_llama(gguf, prompts, tokens, threads, work))
        print(f"gguf rep {rep}: ours {rows['ours'][-1]['wall']:.1f}s, raw {rows['raw'][-1]['wall']:.1f}s, "
              f"gemm {rows['gemm'][-1]['flops'] / 1e9:.1f} GFLOP/s, prefill {rows['prefill'][-1]['tok_s']:.0f} tok/s, "
              f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    sequential = ours_cli(gguf, n, tokens, threads, work, batch_size=1) if args.with_sequential else None
    o_wall, raw_wall = med(r["wall"] for r in rows["ours"]), med(r["wall"] for r in rows["raw"])
    o_gen, raw_gen = med(r["generate"] for r in rows["ours"]), med(r["generate"] for r in rows["raw"])
    o_tok, raw_tok = med(r["tokens"] for r in rows["ours"]), med(r["tokens"] for r in rows["raw"])
    o_rate, raw_rate = o_tok / o_gen, raw_tok / raw_gen
    gemm = med(r["flops"] for r in rows["gemm"])
    prefill = med(r["tok_s"] for r in rows["prefill"])
    mean_prompt = mean_prompt_tokens(gguf, prompts)
    mean_new = o_tok / n
    per_token, parts = flops_per_token(gguf, mean_prompt + mean_new / 2)  # mean context of a generated token
    limit = gemm / per_token
    lines = ["", f"### llama-cpp on CPU, SmolLM2-135M-Instruct Q4_1, {n} probes x {tokens} tokens, {threads} threads",
             "", "| contender | wall s (median) | generation s (median) | tokens | generation tokens/s |",
             "|---|---|---|---|---|",
             f"| raw llama-cpp-python, one prompt at a time (load + generate) | {raw_wall:.2f} | {raw_gen:.2f} | {raw_tok:.0f} | {raw_rate:.1f} |",
             f"| ours `dnakb extract`, batched (load, generate, embed, project, write) | {o_wall:.2f} | {o_gen:.2f} | {o_tok:.0f} | {o_rate:.1f} |"]
    if sequential:
        lines.append(f"| ours `dnakb extract --batch-size 1`, one at a time (1 run) | {sequential['wall']:.2f} | "
                     f"{sequential['generate']:.2f} | {sequential['tokens']:.0f} | {sequential['tokens'] / sequential['generate']:.1f} |")
    lines += ["", f"Batched generation / raw one-at-a-time: **{o_rate / raw_rate:.2f}x** tokens/s "
              f"(whole command vs raw load + generate: {raw_wall / o_wall:.2f}x; target >= 3x).", "",
              "Compute limit, measured in the same run:", "",
              "| quantity | value |", "|---|---|",
              f"| fp32 GEMM rate, {threads} threads (torch, 2048^3, median) | {gemm / 1e9:.1f} GFLOP/s |",
              f"| FLOPs per generated token (2 x {parts['matmul_params'] / 1e6:.1f}M matmul parameters + attention over {mean_prompt + mean_new / 2:.0f} positions on average) | {per_token / 1e6:.0f} MFLOP |",
              f"| compute limit = GEMM rate / FLOPs per token | {limit:.0f} tokens/s |",
              f"| llama.cpp prefill of one 512-token prompt (this model's matmuls as matrix-matrix work) | {prefill:.0f} tokens/s |",
              "", f"Batched generation reaches **{o_rate / limit:.0%} of the compute limit** "
              f"({o_rate / prefill:.0%} of llama.cpp's own prefill rate); one at a time: {raw_rate / limit:.0%}."]
    return lines


if __name__ == "__main__":
    main()
