"""Which family a model belongs to, for questions asked per family (evolution speed, reports, colours).

A model's family is its inferred family (`dnakb infer`'s MEMBER_OF, named `family:<root>`) when it
has one. A model without one (metadata only, e.g. imported from Hugging Face model trees) takes the
inferred family of its nearest declared ancestor that has one (ties: the smallest id), else the tree of
its declared root, named `root:<root id>` (`walk.roots_by_model`: the parentless ancestor over declared
edges, the largest tree when several). So a KB of declarations alone still has families, and a
metadata-only fine-tune of an ingested model joins that model's family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kb.errors import NotFoundError
from kb.lineage.walk import ancestor_depths, parents_of, read_parent_edges, roots_by_model

ROOT_PREFIX = "root:"


@dataclass(frozen=True)
class Groups:
    """model id -> family label; family label -> its root model id."""

    of: dict[str, str]
    root: dict[str, str]

    def members(self, label: str) -> list[str]:
        return sorted(m for m, g in self.of.items() if g == label)

    def resolve(self, name: str) -> str:
        """A family label from a label or a model id (that model's family); NotFoundError otherwise."""
        if name in self.root:
            return name
        if name in self.of:
            return self.of[name]
        import difflib

        close = difflib.get_close_matches(name, sorted(self.root), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else (
            "; families are named family:<root> (dnakb infer) or root:<declared root>, or give a model id")
        raise NotFoundError(f"no family or model {name!r} in the store{hint}")


def group_models(model_ids: list[str], memberships: dict[str, str], family_roots: dict[str, str],
                 declared_parents: dict[str, Any]) -> Groups:
    """The grouping rule of the module docstring, as a pure function."""
    of = {m: memberships[m] for m in model_ids if m in memberships}
    rest = []
    for model in model_ids:
        if model in of:
            continue
        above = ancestor_depths(model, declared_parents) if memberships else {}
        found = sorted((depth, a) for a, depth in above.items() if a in memberships)
        if found:
            of[model] = memberships[found[0][1]]
        else:
            rest.append(model)
    roots = roots_by_model(rest, declared_parents)
    of.update({m: ROOT_PREFIX + roots[m] for m in rest})
    root = {label: family_roots.get(label, "") for label in set(memberships.values())}
    root.update({ROOT_PREFIX + r: r for r in roots.values()})
    return Groups(of=dict(sorted(of.items())), root=dict(sorted(root.items())))


def model_groups(store: Any) -> Groups:
    """Every model's family in `store` (two reads: memberships and families; plus declared edges)."""
    memberships = {m.model: m.family for m in store.memberships()}
    family_roots = {f.id: f.root for f in store.families() if f.root}
    declared = parents_of(read_parent_edges(store, "declared"))
    return group_models(store.model_ids(), memberships, family_roots, declared)
