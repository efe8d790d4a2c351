"""Reading a zoo manifest (manifest.yaml: the true genealogy of every zoo model).

Schema (shared with the ingest manifest): a top-level `models` list; each entry has `id`, `path`
(relative to the manifest's folder: HF folder or .gguf file), optional `backend`, `parents`
(list of {id, relation}), `released` (date), `architecture`, `params`, `org`, `license`, `tags`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import InputError

RELATIONS = ("finetune", "adapter", "quantized", "merge", "distill")


@dataclass(frozen=True)
class ZooParent:
    id: str
    relation: str


@dataclass(frozen=True)
class ZooEntry:
    """One model of a zoo manifest; `file` is `path` resolved against the manifest's folder."""

    id: str
    path: str
    file: Path
    backend: str
    parents: tuple[ZooParent, ...]
    released: dt.date | None
    architecture: str | None = None
    params: int | None = None
    org: str | None = None
    license: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def parent_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parents)


def _date(value: Any, where: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{where}: released {value!r} is not a date; write YYYY-MM-DD") from None


def load_zoo_manifest(path: Path | str) -> list[ZooEntry]:
    """Parse and check a manifest: unique ids, known relations, parents that exist, in file order."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no zoo manifest {str(path)!r}; build one with `dnakb zoo build DIR`")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InputError(f"{str(path)!r} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise InputError(f"{str(path)!r} has no `models:` list; see the zoo manifest schema")
    entries: list[ZooEntry] = []
    seen: set[str] = set()
    for i, row in enumerate(data["models"]):
        where = f"{path.name} model #{i + 1}"
        if not isinstance(row, dict) or not row.get("id") or not row.get("path"):
            raise InputError(f"{where}: every model needs an `id` and a `path`")
        if row["id"] in seen:
            raise InputError(f"{where}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        parents = []
        for p in row.get("parents") or []:
            if not isinstance(p, dict) or "id" not in p or p.get("relation") not in RELATIONS:
                raise InputError(f"{where}: parent {p!r} needs an id and a relation in {', '.join(RELATIONS)}")
            parents.append(ZooParent(str(p["id"]), str(p["relation"])))
        rel = str(row["path"])
        backend = row.get("backend") or ("llama-cpp" if rel.endswith(".gguf") else "transformers")
        entries.append(ZooEntry(
            id=str(row["id"]), path=rel, file=(path.parent / rel).resolve(), backend=backend,
            parents=tuple(parents), released=_date(row.get("released"), where),
            architecture=row.get("architecture"), params=row.get("params"), org=row.get("org"),
            license=row.get("license"), tags=tuple(row.get("tags") or ()),
        ))
    for e in entries:
        for p in e.parents:
            if p.id not in seen:
                raise InputError(f"{path.name}: {e.id!r} names parent {p.id!r}, which is not in the manifest")
    return entries


__all__ = ["RELATIONS", "ZooParent", "ZooEntry", "load_zoo_manifest"]
