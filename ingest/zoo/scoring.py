"""Scores of an inferred lineage against a zoo manifest's truth, by category (pure functions).

Used by bench/eval_random.py on random zoos (ingest/zoo/random_plan.py). Definitions:
- strict parent accuracy: models with a true parent whose inferred (primary) parent is one of them;
- lenient: ... or a copy of one: a model joined to a true parent by `quantized` edges only (its
  GGUF conversions and their quantizations, or the HF folder a true GGUF parent was made from);
- relation right: among strict-right edges, the inferred relation equals the true one;
- roots right: true roots (no true parent) that inference leaves without a parent;
- distillations right: distilled students whose inferred parent is the teacher *and* relation distill;
- look-alikes together: unrelated look-alike pairs (`lookalike-of:` tag) put in one inferred family
  (lower is better);
- by tag: strict accuracy over the non-root models carrying each trap tag (roots: roots right).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.zoo.manifest import ZooEntry, ZooParent

TAG_PREFIXES = ("seed-twin", "lookalike", "cross-arch-distill", "shared-tokenizer", "converter:llama.cpp",
                "converter:dnakb", "no-date", "quantized-from", "merge", "lora", "distill")


@dataclass(frozen=True)
class Inferred:
    """An inference run reduced to what scoring needs: child -> (parent, relation), model -> family."""

    parents: dict[str, tuple[str, str | None]]
    families: dict[str, str]
    directions: dict[str, str] = field(default_factory=dict)
    """child -> what set its parent edge's direction ("date", "growth", ..., "uncertain")."""

    @classmethod
    def from_result(cls, result: Any) -> "Inferred":
        """From a kb.lineage InferenceResult (first arborescence edge per child is its parent)."""
        parents: dict[str, tuple[str, str | None]] = {}
        directions: dict[str, str] = {}
        for e in sorted(result.edges, key=lambda e: (e.child, e.method != "arborescence")):
            parents.setdefault(e.child, (e.parent, e.relation))
            directions.setdefault(e.child, e.direction or "uncertain")
        return cls(parents, {m.model: m.family for m in result.memberships}, directions)


def by_direction(entries: Sequence[ZooEntry], inferred: Inferred) -> dict[str, tuple[int, int]]:
    """direction label -> (edges whose parent is a true parent, edges): how far each kind of
    direction evidence can be trusted."""
    truth = {e.id: {p.id for p in e.parents} for e in entries}
    out: dict[str, list[int]] = {}
    for child, (parent, _relation) in inferred.parents.items():
        counts = out.setdefault(inferred.directions.get(child, "uncertain"), [0, 0])
        counts[0] += parent in truth.get(child, set())
        counts[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


@dataclass
class ZooScore:
    n_models: int
    strict: float | None
    lenient: float | None
    relation: float | None
    ari: float | None
    ari_weight_families: float | None
    """ARI against families that distillations do not join (a student starts a family of its own): what
    clustering by shared weights alone can reach, and how much of `ari` the distillations cost."""
    roots: float | None
    distill: float | None
    lookalikes_together: float | None
    by_tag: dict[str, tuple[int, int]] = field(default_factory=dict)  # tag -> (right, n)

    def as_dict(self) -> dict[str, Any]:
        return {"n_models": self.n_models, "strict": self.strict, "lenient": self.lenient, "relation": self.relation,
                "ari": self.ari, "ari_weight_families": self.ari_weight_families, "roots": self.roots,
                "distill": self.distill,
                "lookalikes_together": self.lookalikes_together,
                "by_tag": {k: {"right": r, "n": n} for k, (r, n) in sorted(self.by_tag.items())}}


def _ratio(right: int, n: int) -> float | None:
    return right / n if n else None


def copy_classes(entries: Sequence[ZooEntry]) -> dict[str, set[str]]:
    """model -> every model joined to it by `quantized` edges (itself included): same weights."""
    link: dict[str, set[str]] = {e.id: {e.id} for e in entries}
    for e in entries:
        for p in e.parents:
            if p.relation == "quantized" and p.id in link:
                merged = link[e.id] | link[p.id]
                for m in merged:
                    link[m] = merged
    return link


def tag_keys(tags: Iterable[str]) -> set[str]:
    """The scoring categories of a model's tags (`lora-rank:4` -> `lora-rank:4` and `lora`)."""
    keys = set()
    for tag in tags:
        if tag.startswith(("lookalike-of:", "seed-twin-of:", "merge-weight:", "lora-alpha:")):
            continue
        keys.add(tag)
        head = tag.split(":", 1)[0]
        if head in TAG_PREFIXES:
            keys.add(head)
    return keys


def as_stored(entries: Sequence[ZooEntry], stored_as: dict[str, str]) -> list[ZooEntry]:
    """`entries` with every parent named as the KB stores it (`ingest.evaluation.stored_as`: a
    byte-identical duplicate under its original's id)."""
    return [replace(e, parents=tuple(ZooParent(stored_as.get(p.id, p.id), p.relation) for p in e.parents))
            for e in entries]


def score_zoo(entries: Sequence[ZooEntry], inferred: Inferred, *, roots_from: Inferred | None = None) -> ZooScore:
    """Score `inferred` against the manifest `entries`; `roots_from` scores roots on another run
    (the bench passes the no-dates run: with dates, the oldest model of a family is the root trivially)."""
    from sklearn.metrics import adjusted_rand_score

    from kb.lineage.metrics import true_families

    ids = [e.id for e in entries if e.id in inferred.families]
    inside = set(ids)
    copies = copy_classes(entries)
    strict = lenient = rel_right = rel_n = 0
    non_roots = 0
    by_tag: dict[str, list[int]] = {}
    roots_run = roots_from or inferred
    root_right = root_n = distill_right = distill_n = 0
    for e in entries:
        if e.id not in inside:
            continue
        truth = {p.id: p.relation for p in e.parents if p.id in inside}
        got = inferred.parents.get(e.id)
        if not truth:  # a true root
            right = e.id not in roots_run.parents
            root_n += 1
            root_right += right
        else:
            non_roots += 1
            right = got is not None and got[0] in truth
            strict += right
            lenient += got is not None and any(got[0] in copies.get(p, {p}) for p in truth)
            if right:
                rel_n += 1
                rel_right += got[1] == truth[got[0]]
            if "distill" in truth.values():
                distill_n += 1
                distill_right += right and got[1] == "distill"
        for key in tag_keys(e.tags):
            counts = by_tag.setdefault(key, [0, 0])
            counts[0] += int(right)
            counts[1] += 1
    truth_edges = [(e.id, p.id, p.relation) for e in entries for p in e.parents if e.id in inside and p.id in inside]
    got = [inferred.families[m] for m in ids]

    def ari_against(edges: list[tuple[str, str, str]]) -> float | None:
        fam = true_families(edges, ids)
        return float(adjusted_rand_score([fam[m] for m in ids], got)) if ids else None
    pairs = [(e.id, t.split(":", 1)[1]) for e in entries for t in e.tags
             if t.startswith("lookalike-of:") and e.id in inside and t.split(":", 1)[1] in inside]
    together = sum(inferred.families[a] == inferred.families[b] for a, b in pairs)
    return ZooScore(len(ids), _ratio(strict, non_roots), _ratio(lenient, non_roots), _ratio(rel_right, rel_n),
                    ari_against(truth_edges), ari_against([t for t in truth_edges if t[2] != "distill"]),
                    _ratio(root_right, root_n), _ratio(distill_right, distill_n), _ratio(together, len(pairs)),
                    {k: (v[0], v[1]) for k, v in by_tag.items()})


__all__ = ["Inferred", "ZooScore", "as_stored", "by_direction", "copy_classes", "tag_keys", "score_zoo"]
