"""A random zoo: a genealogy sampled from a documented random process, not a fixed plan.

`random_plan(seed, n_models)` turns a seed into a list of Steps (ingest/zoo/build.py builds them)
plus release dates. Everything is drawn from `random.Random(f"random-zoo:{seed}")`, so one seed
always gives one plan; the process, with its probabilities:

1. Families. n_families = clamp(round(n_models / 6), 2, 5). Each family has one base model:
   - architecture: the first families take Llama, Qwen2, GPT-2, GPT-NeoX in a shuffled order (so
     larger zoos hold all four), later ones draw uniformly;
   - shape: hidden 64 or 96 (4 heads), 1-3 layers, FFN 128/192/256 (GPT-2: 4 x hidden, which
     llama.cpp's converter assumes), KV heads 1/2/4 (Llama, Qwen2);
   - tokenizer: with p = 0.3 (when an earlier family exists) the tokenizer of an earlier family
     (tag `shared-tokenizer` on both bases), else a new byte-level BPE (vocab 384-768, its own topics,
     specials and seed);
   - training: 3 of the 6 corpus topics, 100-160 steps.
2. Look-alike (p = 0.6 per zoo): one more base with the architecture, shape and tokenizer of an
   existing base, its own initialisation and a corpus sharing at least two topics: unrelated but
   similar (tags `lookalike`, `lookalike-of:<id>` on it).
3. Derivations, until n_models: a parent is drawn among the HF models with weight 1 + depth
   (chains grow), depth at most 4; the operation with these probabilities:
   finetune 0.28 (1-2 topics, 40-70 steps), seed-twin 0.08 (a sibling of an existing fine-tune: same
   parent, same data, another training seed; tags `seed-twin`, `seed-twin-of:<id>`), LoRA 0.14
   (rank 2/4/8, alpha = rank x 1/2/4, merged; tags `lora-rank:<r>`, `lora-alpha:<a>`), two-parent
   merge 0.08 (two HF models of one family with the same shape, weight 0.3-0.7), distillation 0.10
   (the student is a fresh model, of another architecture with p = 0.5: `cross-arch-distill`), GGUF
   copy 0.32 (below). An operation that finds no valid parent is redrawn.
4. GGUF copies: from an HF model, made the ways people make them: by llama.cpp's
   convert_hf_to_gguf.py (p = 0.7, or always for GPT-2 / GPT-NeoX; tag `converter:llama.cpp`) or
   by the project's converter (`converter:dnakb`), at f16 (p = 0.6), q8_0 or f32; then with
   p = 0.5 a quantized copy of that float GGUF with llama_model_quantize (q4_0, q5_0, q8_0, q4_k_m;
   tag `quantized-from:<type>`). Copies count toward n_models.
5. Dates: bases uniform over 2023-01-01 .. 2024-06-30; a derived model 7-120 days after its
   latest parent; a GGUF copy the same day (p = 0.5) or 1-30 days later; then each date is
   dropped with p = 0.1 (tag `no-date`). A child is never dated before a parent.

Relations in the manifest (truth) are today's: finetune (finetune, seed-twin), adapter (LoRA),
merge, distill, quantized (every GGUF copy, parent = the model it was made from).

Cost of a build: a 24-model zoo trains ~1,100-1,800 steps of tiny models (~75 CPU-seconds for
seed 0) plus 3-8 llama.cpp conversions (~5 s of converter start-up per batch); wall times measured
by bench/eval_random.py are in bench/RESULTS.md.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from kb.errors import InputError
from ingest.zoo.step import Step
from ingest.zoo.corpora import TOPICS
from ingest.zoo.tiny import ArchSpec, TinySpec, TrainSpec
from ingest.zoo.tokenizers import TokenizerSpec

ARCHS = ("llama", "qwen2", "gpt2", "gptneox")
OWN_CONVERTER = ("llama", "qwen2")  # what ingest/convert.py supports
OPS = {"finetune": 0.28, "seed-twin": 0.08, "lora": 0.14, "merge": 0.08, "distill": 0.10, "gguf": 0.32}
QUANTS = ("q4_0", "q5_0", "q8_0", "q4_k_m")
MAX_DEPTH = 4
MIN_MODELS = 8
TRAPS = ("seed-twin", "lookalike", "cross-arch-distill", "shared-tokenizer", "converter:llama.cpp",
         "converter:dnakb", "no-date")
_SPECIALS = (("<s>", "</s>", "<pad>"), ("<|bos|>", "<|eos|>", "<|pad|>"), ("<|start|>", "<|end|>", "<|pad|>"))


@dataclass
class RandomPlan:
    """A sampled genealogy: the steps, release dates (None: missing) and the seed it came from."""

    seed: int
    steps: list[Step]
    released: dict[str, dt.date | None] = field(default_factory=dict)


@dataclass
class _Model:
    step: Step
    family: int
    depth: int
    arch: ArchSpec
    tokenizer: TokenizerSpec
    hf: bool


def _topics(rng: random.Random, k: int, among: tuple[str, ...] | None = None) -> tuple[str, ...]:
    pool = sorted(among or TOPICS)
    return tuple(sorted(rng.sample(pool, min(k, len(pool)))))


def _shape(rng: random.Random, arch: str) -> ArchSpec:
    kv = rng.choice((1, 2, 4)) if arch in ("llama", "qwen2") else 4
    hidden = rng.choice((64, 96))
    ffn = rng.choice((128, 192, 256))
    if arch == "gpt2":  # llama.cpp's GPT-2 converter writes feed_forward_length = 4 * n_embd, as GPT-2 has
        ffn = 4 * hidden
    return ArchSpec(arch=arch, hidden=hidden, layers=rng.choice((1, 2, 2, 3)), heads=4, kv_heads=kv, intermediate=ffn)


def _tokenizer(rng: random.Random, seed: int, i: int) -> TokenizerSpec:
    bos, eos, pad = rng.choice(_SPECIALS)
    return TokenizerSpec(name=f"tok-r{seed}-{i}", vocab_size=rng.choice((384, 512, 640, 768)),
                         topics=_topics(rng, rng.randint(4, 6)), seed=rng.randrange(1, 10_000),
                         bos=bos, eos=eos, pad=pad)


def random_plan(seed: int, n_models: int = 24) -> RandomPlan:
    """The plan of random zoo `seed` with `n_models` models (see the module docstring)."""
    if n_models < MIN_MODELS:
        raise InputError(f"a random zoo needs at least {MIN_MODELS} models (got {n_models})")
    rng = random.Random(f"random-zoo:{seed}")
    models: list[_Model] = []
    released: dict[str, dt.date | None] = {}
    counter = iter(range(1, 10_000))

    def add(model: _Model, date: dt.date) -> None:
        models.append(model)
        released[model.step.name] = date

    # 1. families and their bases
    n_families = max(2, min(5, round(n_models / 6)))
    first = list(ARCHS)
    rng.shuffle(first)
    tokenizers: list[TokenizerSpec] = []
    start = dt.date(2023, 1, 1)
    for f in range(n_families):
        arch = first[f] if f < len(first) else rng.choice(ARCHS)
        tags: list[str] = []
        if tokenizers and rng.random() < 0.3:
            owner = rng.randrange(len(tokenizers))
            tok = tokenizers[owner]
            tags.append("shared-tokenizer")
            for m in models:  # mark the earlier base too
                if m.step.op == "base" and m.tokenizer == tok and "shared-tokenizer" not in m.step.tags:
                    _retag(models, m, "shared-tokenizer")
        else:
            tok = _tokenizer(rng, seed, f)
        tokenizers.append(tok)
        shape = _shape(rng, arch)
        name = f"{chr(97 + f)}{next(counter):02d}-base-{arch}"
        init = rng.randrange(1, 100_000)
        spec = TinySpec(tokenizer=tok, arch=shape, init_seed=init,
                        train=TrainSpec(topics=_topics(rng, 3, tok.topics), steps=rng.randint(100, 160), seed=init))
        step = Step(name, "base", (), {"spec": spec}, ("base", arch, *tags))
        add(_Model(step, f, 0, shape, tok, True), start + dt.timedelta(days=rng.randrange(0, 546)))

    # 2. an unrelated look-alike of one base
    if rng.random() < 0.6:
        twin = rng.choice([m for m in models if m.step.op == "base"])
        spec0: TinySpec = twin.step.args["spec"]
        init = rng.randrange(100_000, 200_000)
        topics = tuple(sorted(set(rng.sample(spec0.train.topics, 2)) | set(_topics(rng, 1))))
        spec = TinySpec(tokenizer=spec0.tokenizer, arch=spec0.arch, init_seed=init,
                        train=TrainSpec(topics=topics, steps=spec0.train.steps, seed=init))
        name = f"{chr(97 + len(tokenizers))}{next(counter):02d}-base-{twin.arch.arch}"
        step = Step(name, "base", (), {"spec": spec},
                    ("base", twin.arch.arch, "lookalike", f"lookalike-of:{twin.step.id}"))
        add(_Model(step, len(tokenizers), 0, twin.arch, twin.tokenizer, True),
            start + dt.timedelta(days=rng.randrange(0, 546)))

    # 3. derivations
    ops, weights = list(OPS), list(OPS.values())
    tries = 0
    while len(models) < n_models:
        tries += 1
        if tries > 50 * n_models:
            raise InputError(f"random zoo {seed}: could not place {n_models} models")
        op = rng.choices(ops, weights)[0]
        made = _derive(rng, op, models, next(counter), n_models - len(models))
        for model, lag in made:
            parents_dates = [released[p] for p in model.step.parents]
            add(model, max(parents_dates) + dt.timedelta(days=lag))

    # 5. missing dates (after every date is drawn, so dropping one never moves another)
    steps = [m.step for m in models]
    for i, m in enumerate(models):
        if rng.random() < 0.1:
            released[m.step.name] = None
            steps[i] = _with_tag(m.step, "no-date")
    return RandomPlan(seed, steps, released)


def _with_tag(step: Step, tag: str) -> Step:
    return Step(step.name, step.op, step.parents, step.args, (*step.tags, tag))


def _retag(models: list[_Model], model: _Model, tag: str) -> None:
    model.step = _with_tag(model.step, tag)


def _pick(rng: random.Random, pool: list[_Model]) -> _Model | None:
    pool = [m for m in pool if m.hf and m.depth < MAX_DEPTH]
    if not pool:
        return None
    return rng.choices(pool, [1 + m.depth for m in pool])[0]


def _derive(rng: random.Random, op: str, models: list[_Model], k: int, room: int) -> list[tuple[_Model, int]]:
    """One operation's new models (with their date lag in days); [] when no valid parent exists."""
    lag = rng.randint(7, 120)
    if op in ("finetune", "lora"):
        parent = _pick(rng, models)
        if parent is None:
            return []
        seed = rng.randrange(1, 100_000)
        train = TrainSpec(topics=_topics(rng, rng.randint(1, 2)), n_docs=1200, steps=rng.randint(40, 70), seed=seed,
                          lr=2e-3 if op == "finetune" else 5e-3)
        args: dict = {"train": train}
        tags = [op]
        if op == "lora":
            rank = rng.choice((2, 4, 8))
            alpha = float(rank * rng.choice((1, 2, 4)))
            args.update(rank=rank, alpha=alpha)
            tags += [f"lora-rank:{rank}", f"lora-alpha:{alpha:g}"]
        name = f"{parent.step.name[0]}{k:02d}-{'ft' if op == 'finetune' else 'lora'}"
        step = Step(name, op, (parent.step.name,), args, tuple(tags))
        return [(_Model(step, parent.family, parent.depth + 1, parent.arch, parent.tokenizer, True), lag)]
    if op == "seed-twin":
        done = [m for m in models if m.step.op == "finetune" and "seed-twin" not in m.step.tags]
        if not done:
            return []
        first = rng.choice(done)
        train: TrainSpec = first.step.args["train"]
        seed = rng.randrange(100_000, 200_000)
        twin = TrainSpec(topics=train.topics, styles=train.styles, n_docs=train.n_docs, steps=train.steps,
                         batch_size=train.batch_size, seq_len=train.seq_len, lr=train.lr, seed=seed,
                         corpus_seed=train.corpus_seed if train.corpus_seed is not None else train.seed)
        step = Step(f"{first.step.name[0]}{k:02d}-ft", "finetune", first.step.parents, {"train": twin},
                    ("finetune", "seed-twin", f"seed-twin-of:{first.step.id}"))
        return [(_Model(step, first.family, first.depth, first.arch, first.tokenizer, True), lag)]
    if op == "merge":
        pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]
                 if a.hf and b.hf and a.family == b.family and a.arch == b.arch and a.tokenizer == b.tokenizer
                 and a.step.op != "distill" and b.step.op != "distill" and max(a.depth, b.depth) < MAX_DEPTH]
        if not pairs:
            return []
        a, b = rng.choice(pairs)
        weight = round(rng.uniform(0.3, 0.7), 2)
        step = Step(f"{a.step.name[0]}{k:02d}-merge", "merge", (a.step.name, b.step.name), {"weight": weight},
                    ("merge", f"merge-weight:{weight:g}"))
        return [(_Model(step, a.family, max(a.depth, b.depth) + 1, a.arch, a.tokenizer, True), lag)]
    if op == "distill":
        teacher = _pick(rng, models)
        if teacher is None:
            return []
        cross = rng.random() < 0.5
        arch = rng.choice([a for a in ARCHS if a != teacher.arch.arch]) if cross else teacher.arch.arch
        student = _shape(rng, arch)
        seed = rng.randrange(1, 100_000)
        tags = ["distill", arch] + (["cross-arch-distill"] if cross else [])
        step = Step(f"{teacher.step.name[0]}{k:02d}-distill-{arch}", "distill", (teacher.step.name,),
                    {"arch": student, "train": TrainSpec(steps=rng.randint(80, 120), seed=seed),
                     "n_samples": 192, "init_seed": seed + 1}, tuple(tags))
        return [(_Model(step, teacher.family, teacher.depth + 1, student, teacher.tokenizer, True), lag)]
    # gguf copy (+ maybe a quantization of it)
    source = rng.choice([m for m in models if m.hf])
    own = source.arch.arch in OWN_CONVERTER and rng.random() < 0.3
    converter = "dnakb" if own else "llama.cpp"
    outtype = rng.choices(("f16", "q8_0", "f32"), (0.6, 0.3, 0.1))[0]
    short = "dn" if own else "lc"
    name = f"{source.step.name}-{short}{k:02d}-{outtype}"
    copy_lag = 0 if rng.random() < 0.5 else rng.randint(1, 30)
    step = Step(name, "gguf", (source.step.name,), {"outtype": outtype, "converter": converter},
                ("gguf", outtype, f"converter:{converter}"))
    made = [(_Model(step, source.family, source.depth, source.arch, source.tokenizer, False), copy_lag)]
    if room >= 2 and outtype in ("f16", "f32") and rng.random() < 0.5:
        qtype = rng.choice(QUANTS)
        qstep = Step(f"{source.step.name}-{short}{k:02d}-{qtype}", "quantize", (name,), {"qtype": qtype},
                     ("gguf", qtype, f"quantized-from:{outtype}", f"converter:{converter}"))
        made.append((_Model(qstep, source.family, source.depth, source.arch, source.tokenizer, False),
                     0 if rng.random() < 0.5 else rng.randint(1, 30)))
    return made


__all__ = ["ARCHS", "OPS", "QUANTS", "TRAPS", "RandomPlan", "random_plan"]
