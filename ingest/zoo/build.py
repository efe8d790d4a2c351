"""The model zoo: a fixed plan of models with known genealogy, built offline and deterministically.

A plan is a list of steps (base, finetune, lora, distill, merge, gguf, quantize); each step names
its parents and its arguments, so the true parent and relation of every model are known by
construction. Steps run in worker processes (one thread each, so every model is bit-identical
whatever the scheduling) as soon as their parents exist; each writes into a temporary path and is
renamed into place. A rebuild into the same folder reuses every step whose definition (and the
building code) is unchanged.

The full zoo has 4 bases (2 architectures x 2 tokenizers), 34 models, depth 4; `small=True` gives
13 models covering every relation, for tests. A random zoo (`random_seed`, see random_plan.py) is a
genealogy drawn from a documented process over four architectures, with trap cases tagged.
GGUF copies are made by the project's converter or by llama.cpp's own (`converter` argument); the
llama.cpp conversions ready at one moment run in one converter process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kb.errors import InputError
from ingest.zoo.cache import code_hash
from ingest.zoo.step import Step
from ingest.zoo.tiny import ARCHITECTURES, ArchSpec, TinySpec, TrainSpec

RELATION = {"finetune": "finetune", "lora": "adapter", "distill": "distill", "merge": "merge",
            "gguf": "quantized", "quantize": "quantized"}
MANIFEST = "manifest.yaml"
_STATE = ".zoo-state.json"


def _base(name: str, arch: str, tok: str, topics: tuple[str, ...], seed: int, steps: int,
          **shape: Any) -> Step:
    spec = TinySpec(tokenizer=tok, arch=ArchSpec(arch=arch, **shape),
                    train=TrainSpec(topics=topics, steps=steps, seed=seed), init_seed=seed)
    return Step(name, "base", (), {"spec": spec}, ("base", arch, tok))


def _ft(name: str, parent: str, topics: tuple[str, ...], seed: int, steps: int,
        styles: tuple[str, ...] = ("plain", "qa", "list", "dialogue"), op: str = "finetune",
        lr: float = 2e-3) -> Step:
    spec = TrainSpec(topics=topics, styles=styles, n_docs=1500, steps=steps, seed=seed, lr=lr)
    return Step(name, op, (parent,), {"train": spec}, (op, *topics))


def _distill(name: str, teacher: str, arch: ArchSpec, seed: int, steps: int, n_samples: int) -> Step:
    return Step(name, "distill", (teacher,), {"arch": arch, "train": TrainSpec(steps=steps, seed=seed),
                                              "n_samples": n_samples, "init_seed": seed + 1},
                ("distill", arch.arch))


def _gguf(parent: str, outtype: str) -> Step:
    return Step(f"{parent}-{outtype}", "gguf", (parent,), {"outtype": outtype}, ("gguf", outtype))


def _quant(parent_gguf: str, qtype: str) -> Step:
    name = parent_gguf.rsplit("-", 1)[0] + f"-{qtype}"
    return Step(name, "quantize", (parent_gguf,), {"qtype": qtype}, ("gguf", qtype))


def full_plan() -> list[Step]:
    """34 models: 4 bases (Llama/Qwen2 x tok-a/tok-b), 19 derived HF models, 11 GGUF files."""
    ft, lora = 100, 150
    return [
        _base("llama-a", "llama", "tok-a", ("animals", "cooking", "space"), 101, 300),
        _base("llama-b", "llama", "tok-b", ("sea", "city", "music"), 202, 300, kv_heads=4),
        _base("qwen-c", "qwen2", "tok-a", ("animals", "sea", "music", "city"), 303, 300),
        _base("qwen-d", "qwen2", "tok-b", ("space", "cooking", "animals"), 404, 300, layers=3),
        _ft("llama-a-cooking", "llama-a", ("cooking",), 111, ft, ("qa", "plain")),
        _ft("llama-a-cooking-chat", "llama-a-cooking", ("cooking",), 112, ft, ("dialogue",)),
        _ft("llama-a-cooking-chat-v2", "llama-a-cooking-chat", ("cooking", "animals"), 113, ft, ("list",)),
        _ft("llama-a-space", "llama-a", ("space",), 114, ft),
        Step("llama-a-merge", "merge", ("llama-a-cooking", "llama-a-space"), {"weight": 0.5}, ("merge",)),
        _ft("llama-a-lora-music", "llama-a", ("music",), 115, lora, op="lora", lr=5e-3),
        _distill("llama-a-distill", "llama-a", ArchSpec(arch="llama"), 116, 250, 384),
        _ft("llama-b-animals", "llama-b", ("animals",), 211, ft),
        _ft("llama-b-animals-qa", "llama-b-animals", ("animals",), 212, ft, ("qa",)),
        _ft("llama-b-lora-sea", "llama-b", ("sea",), 213, lora, ("qa", "plain"), op="lora", lr=5e-3),
        _ft("llama-b-lora-sea-city", "llama-b-lora-sea", ("city",), 214, ft),
        _ft("qwen-c-sea", "qwen-c", ("sea",), 311, ft),
        _ft("qwen-c-sea-lora", "qwen-c-sea", ("music",), 312, lora, ("dialogue",), op="lora", lr=5e-3),
        _ft("qwen-c-city", "qwen-c", ("city",), 313, ft),
        Step("qwen-c-merge", "merge", ("qwen-c-sea", "qwen-c-city"), {"weight": 0.5}, ("merge",)),
        _distill("qwen-c-distill", "qwen-c", ArchSpec(arch="qwen2", layers=1), 314, 250, 384),
        _ft("qwen-d-music", "qwen-d", ("music",), 411, ft),
        _ft("qwen-d-music-chat", "qwen-d-music", ("music",), 412, ft, ("dialogue",)),
        _ft("qwen-d-music-chat-space", "qwen-d-music-chat", ("space",), 413, ft),
        _gguf("llama-a", "f16"), _gguf("llama-a", "q8_0"), _quant("llama-a-f16", "q4_0"),
        _gguf("qwen-c", "f16"), _gguf("qwen-c", "q8_0"), _quant("qwen-c-f16", "q4_0"),
        _gguf("llama-a-cooking-chat-v2", "f16"), _quant("llama-a-cooking-chat-v2-f16", "q4_0"),
        _gguf("llama-b", "f16"), _gguf("qwen-d-music", "q8_0"), _gguf("llama-a-lora-music", "q8_0"),
    ]


def small_plan() -> list[Step]:
    """13 models covering every relation: 2 bases (Llama tok-a, Qwen2 tok-b), depth 3."""
    return [
        _base("llama-s", "llama", "tok-a", ("animals", "cooking", "space"), 11, 200),
        _base("qwen-s", "qwen2", "tok-b", ("sea", "city", "music"), 22, 200),
        _ft("llama-s-cooking", "llama-s", ("cooking",), 12, 60, ("qa", "plain")),
        _ft("llama-s-cooking-chat", "llama-s-cooking", ("cooking",), 13, 60, ("dialogue",)),
        _ft("llama-s-lora", "llama-s", ("music",), 14, 80, op="lora", lr=5e-3),
        _distill("llama-s-distill", "llama-s", ArchSpec(arch="qwen2"), 15, 150, 256),
        _ft("qwen-s-sea", "qwen-s", ("sea",), 23, 60),
        _ft("qwen-s-city", "qwen-s", ("city",), 24, 60),
        Step("qwen-s-merge", "merge", ("qwen-s-sea", "qwen-s-city"), {"weight": 0.5}, ("merge",)),
        _gguf("llama-s", "f16"), _quant("llama-s-f16", "q4_0"),
        _gguf("llama-s-cooking-chat", "q8_0"), _gguf("qwen-s", "f16"),
    ]


def run_step(step: Step, root: str) -> tuple[float, float]:
    """Build one step into `root` (temp path, then rename); returns (wall, CPU) seconds taken."""
    from ingest.convert import hf_to_gguf, quantize_gguf
    from ingest.zoo import ops
    from ingest.zoo.tiny import build_tiny

    start, cpu = time.perf_counter(), time.process_time()
    final = Path(root) / step.path
    tmp = Path(root) / f".tmp-{step.path}"
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    src = [str(Path(root) / p) for p in step.parents]
    a = step.args
    if step.op == "base":
        build_tiny(a["spec"], tmp)
    elif step.op == "finetune":
        ops.finetune(src[0], tmp, a["train"])
    elif step.op == "lora":
        ops.lora_finetune(src[0], tmp, a["train"], rank=a.get("rank", 4), alpha=a.get("alpha", 8.0))
    elif step.op == "distill":
        ops.distill(src[0], tmp, a["arch"], a["train"], n_samples=a["n_samples"], init_seed=a["init_seed"])
    elif step.op == "merge":
        ops.average_merge(src[0], src[1], tmp, weight=a["weight"])
    elif _by_llamacpp(step):
        from ingest.zoo.llamacpp import convert_hf

        convert_hf([(src[0], tmp, a["outtype"])])
    elif step.op == "gguf":
        hf_to_gguf(src[0], tmp, a["outtype"])
    elif step.op == "quantize":
        quantize_gguf(src[0] + ".gguf", tmp, a["qtype"])
    else:
        raise InputError(f"unknown zoo op {step.op!r}")
    if final.is_dir():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return time.perf_counter() - start, time.process_time() - cpu


def _by_llamacpp(step: Step) -> bool:
    return step.op == "gguf" and step.args.get("converter", "dnakb") == "llama.cpp"


def run_llamacpp_batch(steps: list[Step], root: str) -> dict[str, tuple[float, float]]:
    """Build several llama.cpp conversions in one converter process (it imports torch and
    transformers once: ~5 s saved per file). Returns {name: (wall, CPU) share of the batch}."""
    import resource

    from ingest.zoo.llamacpp import convert_hf

    def child_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    start, cpu = time.perf_counter(), child_cpu()
    jobs = [(Path(root) / s.parents[0], Path(root) / s.path, s.args["outtype"]) for s in steps]
    convert_hf(jobs)  # each output is written to a temp name and renamed into place
    wall, cpu = (time.perf_counter() - start) / len(steps), (child_cpu() - cpu) / len(steps)
    return {s.name: (wall, cpu) for s in steps}


def _run_one(step: Step, root: str) -> dict[str, tuple[float, float]]:
    return {step.name: run_step(step, root)}


def _check_plan(plan: list[Step]) -> None:
    names: set[str] = set()
    for s in plan:
        if s.name in names:
            raise InputError(f"zoo plan names {s.name!r} twice")
        missing = [p for p in s.parents if p not in names]
        if missing:
            raise InputError(f"zoo step {s.name!r} comes before its parent {missing[0]!r}")
        names.add(s.name)


def _execute(plan: list[Step], root: Path, jobs: int, force: bool,
             progress: Callable[[str], None]) -> dict[str, tuple[float, float]]:
    """Run the plan's steps in dependency order on `jobs` worker processes.

    Returns {built step: (wall seconds, CPU seconds)}; reused steps are absent.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    state_file = root / _STATE
    state: dict[str, str] = {} if force or not state_file.is_file() else json.loads(state_file.read_text())
    code = code_hash()
    by_name = {s.name: s for s in plan}
    key: dict[str, str] = {}
    for s in plan:  # a step's key covers its definition, the code, and its parents' keys
        key[s.name] = hashlib.sha256((code + s.fingerprint() + "".join(key[p] for p in s.parents)).encode()).hexdigest()
    done = {s.name for s in plan if state.get(s.name) == key[s.name] and (root / s.path).exists()}
    seconds: dict[str, tuple[float, float]] = {}
    if done:
        progress(f"zoo: reusing {len(done)} of {len(plan)} models already built in {root}")
    pending = [s for s in plan if s.name not in done]
    running: dict[cf.Future[dict[str, tuple[float, float]]], tuple[str, ...]] = {}

    def save_state() -> None:
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({n: key[n] for n in done}, indent=1, sort_keys=True))
        os.replace(tmp, state_file)

    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as pool:
        while pending or running:
            ready = [s for s in pending if all(p in done for p in s.parents)]
            for s in ready:
                pending.remove(s)
                if not _by_llamacpp(s):
                    running[pool.submit(_run_one, s, str(root))] = (s.name,)
            batch = [s for s in ready if _by_llamacpp(s)]
            if batch:  # all llama.cpp conversions ready now: one converter process
                running[pool.submit(run_llamacpp_batch, batch, str(root))] = tuple(s.name for s in batch)
            if not running:
                raise InputError(f"zoo plan is stuck at {pending[0].name!r}; its parents never build")
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                running.pop(fut)
                if fut.exception() is not None:  # stop at the first failure; queued steps never start
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise fut.exception()  # type: ignore[misc]
                for name, taken in fut.result().items():
                    seconds[name] = taken
                    done.add(name)
                    save_state()
                    wall, cpu = taken
                    progress(f"zoo: {len(done)}/{len(plan)} {by_name[name].id} ({by_name[name].op}, "
                             f"{wall:.1f} s, CPU {cpu:.1f} s)")
    return seconds


def _hf_info(folder: Path) -> tuple[str, int]:
    from safetensors import safe_open

    config = json.loads((folder / "config.json").read_text())
    n = 0
    with safe_open(str(folder / "model.safetensors"), "np") as f:
        for k in f.keys():
            shape = f.get_slice(k).get_shape()
            n += int(math.prod(shape))
    return config["architectures"][0], n


def manifest_rows(plan: list[Step], root: Path,
                  dates: dict[str, dt.date | None] | None = None) -> list[dict[str, Any]]:
    """Manifest rows (the shared zoo schema) for a built plan: parents, relations, dates, sizes.

    `dates` (a random plan's, None = missing) replaces the fixed plan's date rule."""
    base_day = dt.date(2024, 1, 1)
    released: dict[str, dt.date | None] = {}
    info: dict[str, tuple[str, int]] = {}
    rows = []
    n_base = 0
    for i, s in enumerate(plan):
        if dates is not None:
            released[s.name] = dates.get(s.name)
        elif s.op == "base":
            released[s.name] = base_day + dt.timedelta(days=30 * n_base)
            n_base += 1
        else:  # strictly after every parent: 10-31 days later, varied deterministically
            released[s.name] = max(released[p] for p in s.parents) + dt.timedelta(days=10 + (i * 7) % 22)
        if s.op in ("gguf", "quantize"):
            info[s.name] = info[s.parents[0]]
        else:
            info[s.name] = _hf_info(root / s.path)
        arch, params = info[s.name]
        rows.append({
            "id": s.id, "path": s.path,
            "backend": "llama-cpp" if s.path.endswith(".gguf") else "transformers",
            "parents": [{"id": f"zoo/{p}", "relation": RELATION[s.op]} for p in s.parents],
            "released": released[s.name], "architecture": arch, "params": params,
            "org": "zoo", "license": "mit", "tags": list(s.tags),
        })
    return rows


@dataclass
class ZooSummary:
    """What `build_zoo` made: counts, wall time and the manifest's path."""

    manifest: Path
    models: int
    hf_models: int
    gguf_models: int
    seconds: float
    cpu_seconds: float  # CPU time of the built steps (workers), the machine-independent cost
    built: int
    reused: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "manifest": str(self.manifest)}


def build_zoo(out_dir: Path | str, small: bool = False, jobs: int = 2, force: bool = False,
              progress: Callable[[str], None] | None = None, random_seed: int | None = None,
              n_models: int | None = None) -> ZooSummary:
    """Build the zoo (or the small zoo, or random zoo `random_seed` of `n_models` models, see
    ingest/zoo/random_plan.py) into `out_dir` and write `out_dir/manifest.yaml`.

    Cost: the full zoo trains ~20 tiny models (~6 CPU-minutes; about half that in wall time on
    2 workers); the small zoo ~1-2 minutes. Reuses models already built by the same code.
    """
    import yaml

    say = progress or (lambda _m: None)
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise InputError(f"zoo folder {str(root)!r} is a file; pass a folder")
    root.mkdir(parents=True, exist_ok=True)
    dates = None
    if random_seed is not None:
        from ingest.zoo.random_plan import random_plan

        if small:
            raise InputError("choose one zoo: --small or --random SEED, not both")
        drawn = random_plan(random_seed, n_models or 24)
        plan, dates = drawn.steps, drawn.released
    elif n_models is not None:
        raise InputError("--models sizes a random zoo: give --random SEED too")
    else:
        plan = small_plan() if small else full_plan()
    _check_plan(plan)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.perf_counter()
    seconds = _execute(plan, root, jobs, force, say)
    rows = manifest_rows(plan, root, dates)
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(yaml.safe_dump({"models": rows}, sort_keys=False, default_flow_style=None, width=120))
    os.replace(tmp, root / MANIFEST)
    n_gguf = sum(r["backend"] == "llama-cpp" for r in rows)
    built = len(seconds)
    return ZooSummary(root / MANIFEST, len(rows), len(rows) - n_gguf, n_gguf,
                      round(time.perf_counter() - start, 1), round(sum(c for _, c in seconds.values()), 1),
                      built, len(rows) - built)


def cached_small_zoo() -> Path:
    """manifest.yaml of the small zoo, built once per code version under ~/.cache/dnakb/test-models."""
    from ingest.zoo.cache import cached_build

    return cached_build("small-zoo", {"plan": "small"}, lambda tmp: build_zoo(tmp, small=True)) / MANIFEST


__all__ = ["Step", "RELATION", "MANIFEST", "full_plan", "small_plan", "run_step", "manifest_rows",
           "ZooSummary", "build_zoo", "cached_small_zoo", "ARCHITECTURES"]
