"""The random zoo's process (plans only, no building): deterministic, valid, every relation and trap
appears across the development seeds 0-9, dates consistent with the genealogy."""

from __future__ import annotations

import pytest

from kb.errors import InputError
from ingest.zoo.build import RELATION, _check_plan
from ingest.zoo.random_plan import ARCHS, TRAPS, random_plan

DEV_SEEDS = range(10)


def _summary(seed: int, n: int) -> list[tuple]:
    plan = random_plan(seed, n)
    return [(s.name, s.op, s.parents, s.fingerprint(), s.tags, plan.released[s.name]) for s in plan.steps]


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    assert _summary(3, 24) == _summary(3, 24)
    assert _summary(3, 24) != _summary(4, 24)
    assert _summary(3, 24) != _summary(3, 30)


@pytest.mark.parametrize("n", [8, 24, 40])
def test_plans_are_valid_and_sized(n: int) -> None:
    for seed in DEV_SEEDS:
        plan = random_plan(seed, n)
        assert len(plan.steps) == n
        _check_plan(plan.steps)  # unique names, parents first
        assert all(s.op in RELATION or s.op == "base" for s in plan.steps)


def test_every_relation_and_trap_appears_across_dev_seeds() -> None:
    ops, tags, base_archs, distill_archs = set(), set(), set(), set()
    for seed in DEV_SEEDS:
        for s in random_plan(seed, 24).steps:
            ops.add(s.op)
            tags.update(s.tags)
            if s.op == "base":
                base_archs.add(s.args["spec"].arch.arch)
            if s.op == "distill":
                distill_archs.add(s.args["arch"].arch)
    assert ops == {"base", "finetune", "lora", "merge", "distill", "gguf", "quantize"}
    assert set(TRAPS) <= tags, set(TRAPS) - tags
    assert any(t.startswith("quantized-from:") for t in tags)
    assert {t for t in tags if t.startswith("lora-rank:")} == {"lora-rank:2", "lora-rank:4", "lora-rank:8"}
    assert base_archs == set(ARCHS)
    assert len(distill_archs) >= 2


def test_traps_are_what_they_say() -> None:
    for seed in DEV_SEEDS:
        plan = random_plan(seed, 24)
        by = {s.name: s for s in plan.steps}
        by_id = {s.id: s for s in plan.steps}
        for s in plan.steps:
            for tag in s.tags:
                if tag.startswith("seed-twin-of:"):  # same parent, same data, other training seed
                    other = by_id[tag.split(":", 1)[1]]
                    a, b = s.args["train"], other.args["train"]
                    assert s.parents == other.parents and a.topics == b.topics and a.seed != b.seed
                    assert (a.corpus_seed or a.seed) == (b.corpus_seed if b.corpus_seed is not None else b.seed)
                if tag.startswith("lookalike-of:"):  # unrelated, same arch/shape/tokenizer, overlapping data
                    other = by_id[tag.split(":", 1)[1]]
                    a, b = s.args["spec"], other.args["spec"]
                    assert s.op == other.op == "base" and a.arch == b.arch and a.tokenizer == b.tokenizer
                    assert a.init_seed != b.init_seed and len(set(a.train.topics) & set(b.train.topics)) >= 2
            if "cross-arch-distill" in s.tags:
                teacher = by[s.parents[0]]
                while teacher.op not in ("base", "distill"):
                    teacher = by[teacher.parents[0]]
                t_arch = (teacher.args["spec"].arch if teacher.op == "base" else teacher.args["arch"]).arch
                assert s.args["arch"].arch != t_arch
            if "converter:dnakb" in s.tags and s.op == "gguf":
                assert s.args["converter"] == "dnakb"
            if s.op == "quantize":
                assert by[s.parents[0]].op == "gguf" and by[s.parents[0]].args["outtype"] in ("f16", "f32")


def test_dates_follow_the_genealogy() -> None:
    missing = 0
    for seed in DEV_SEEDS:
        plan = random_plan(seed, 24)
        for s in plan.steps:
            mine = plan.released[s.name]
            missing += mine is None
            assert (mine is None) == ("no-date" in s.tags)
            for p in s.parents:
                theirs = plan.released[p]
                if mine is None or theirs is None:
                    continue
                if s.op in ("gguf", "quantize"):
                    assert mine >= theirs
                else:
                    assert mine > theirs, (seed, s.name, p)
    assert missing > 0


def test_too_small_a_zoo_is_refused() -> None:
    with pytest.raises(InputError, match="at least 8 models"):
        random_plan(0, 3)
