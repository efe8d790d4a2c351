"""Scoring categories on a constructed genealogy whose right answers are counted by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.zoo.manifest import ZooEntry, ZooParent
from ingest.zoo.scoring import Inferred, as_stored, copy_classes, score_zoo, tag_keys


def _e(mid: str, parents: tuple[tuple[str, str], ...] = (), tags: tuple[str, ...] = ()) -> ZooEntry:
    return ZooEntry(id=mid, path=mid, file=Path(mid), backend="transformers",
                    parents=tuple(ZooParent(p, r) for p, r in parents), released=None, tags=tags)


ZOO = [
    _e("a"), _e("a-f16", (("a", "quantized"),)), _e("a-q4", (("a-f16", "quantized"),)),
    _e("ft", (("a", "finetune"),)), _e("twin", (("a", "finetune"),), ("seed-twin", "seed-twin-of:ft")),
    _e("st", (("a", "distill"),), ("distill", "cross-arch-distill")),
    _e("b"), _e("look", (), ("lookalike", "lookalike-of:b")),
]


def test_scores_count_what_they_say() -> None:
    inferred = Inferred(
        parents={"a-f16": ("a", "quantized"), "a-q4": ("a", "quantized"),  # a-q4: lenient only (a is a copy of a-f16)
                 "ft": ("a-f16", "finetune"),  # lenient only
                 "twin": ("a", "adapter"),  # right parent, wrong relation
                 "st": ("a", "distill"),  # right, right relation
                 "look": ("b", "finetune")},  # a look-alike given a parent: root wrong
        families={"a": "F1", "a-f16": "F1", "a-q4": "F1", "ft": "F1", "twin": "F1", "st": "F1", "b": "F2", "look": "F2"},
    )
    s = score_zoo(ZOO, inferred)
    assert s.n_models == 8
    assert s.strict == pytest.approx(3 / 5)  # a-f16, twin, st
    assert s.lenient == pytest.approx(5 / 5)
    assert s.relation == pytest.approx(2 / 3)  # a-f16 quantized, st distill; twin wrong
    assert s.roots == pytest.approx(2 / 3)  # a and b left as roots, look is not
    assert s.distill == 1.0
    assert s.lookalikes_together == 1.0
    assert s.ari == pytest.approx(1.0 - 0.0, abs=0.5) and s.ari < 1.0  # look joined b's family: not perfect
    assert s.by_tag["seed-twin"] == (1, 1) and s.by_tag["cross-arch-distill"] == (1, 1)
    assert s.by_tag["lookalike"] == (0, 1)


def test_roots_from_another_run_and_perfect_families() -> None:
    truth_like = Inferred(parents={"a-f16": ("a", "quantized"), "a-q4": ("a-f16", "quantized"), "ft": ("a", "finetune"),
                                   "twin": ("a", "finetune"), "st": ("a", "distill")},
                          families={m.id: ("F1" if m.id not in ("b", "look") else m.id) for m in ZOO})
    s = score_zoo(ZOO, truth_like)
    assert s.strict == s.lenient == s.relation == s.roots == s.ari == 1.0
    assert s.ari_weight_families < 1.0  # the student joined its teacher, as it should: not a weight family
    assert s.lookalikes_together == 0.0
    student_apart = Inferred(parents={}, families={**truth_like.families, "st": "F3"})
    assert score_zoo(ZOO, student_apart).ari_weight_families == 1.0
    wrong_roots = Inferred(parents={"a": ("b", "finetune")}, families=truth_like.families)
    assert score_zoo(ZOO, truth_like, roots_from=wrong_roots).roots == pytest.approx(2 / 3)


def test_copy_classes_and_tag_keys() -> None:
    classes = copy_classes(ZOO)
    assert classes["a"] == classes["a-q4"] == {"a", "a-f16", "a-q4"} and classes["ft"] == {"ft"}
    assert tag_keys(["lora-rank:4", "lora-alpha:8", "converter:llama.cpp", "seed-twin-of:x", "quantized-from:f16"]) == {
        "lora-rank:4", "converter:llama.cpp", "quantized-from:f16", "quantized-from"}


def test_a_duplicate_parent_is_scored_as_its_original() -> None:
    """Two byte-identical f16 files keep one node: a q4 made from the duplicate, attached to the
    original, has its true parent."""
    zoo = [_e("a"), _e("a-f16", (("a", "quantized"),)), _e("a-f16b", (("a", "quantized"),)),
           _e("a-q4", (("a-f16b", "quantized"),))]
    inferred = Inferred(parents={"a-f16": ("a", "quantized"), "a-q4": ("a-f16", "quantized")},
                        families={"a": "F", "a-f16": "F", "a-q4": "F"})  # a-f16b: a duplicate, no node
    assert score_zoo(zoo, inferred).strict == pytest.approx(1 / 1)  # a-q4 counted as a root: not scored
    assert score_zoo(zoo, inferred).roots == pytest.approx(1 / 2)
    fixed = score_zoo(as_stored(zoo, {"a-f16b": "a-f16"}), inferred)
    assert fixed.strict == 1.0 and fixed.roots == 1.0 and fixed.n_models == 3
