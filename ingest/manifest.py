"""Ingest manifests: which models to ingest, where their weights are, and what is known about them.

One schema, three spellings (the zoo's manifest uses the same one):

YAML / JSON::

    models:
      - id: zoo/llama-a            # required, unique
        path: llama-a              # HF model folder or .gguf file, relative to the manifest's folder
        backend: transformers      # optional: transformers | llama-cpp (default: from the path)
        parents: [{id: zoo/base, relation: finetune}]   # or "zoo/base", or ["a", "b"]
        released: 2024-03-01
        architecture: LlamaForCausalLM
        params: 254000
        org: zoo
        license: mit
        tags: [base]
        name: llama-a              # optional display name

A top-level list of entries is accepted too. A parent given as a bare id has relation finetune.

CSV: a header row with the same keys as columns (`id` and `path` required); `parents` is written
`a:finetune;b:merge` (a bare `a` means finetune) and `tags` as `x;y`. Empty cells are absent.

`parse_manifest` validates the WHOLE manifest before returning and raises one `InputError` whose
first line is a summary and whose next lines list every problem with its entry (unknown keys,
missing or duplicate ids, unknown relations or backends, unparseable dates or numbers, paths that
don't exist, cycles among the declared parents).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import InputError
from kb.records import RELATIONS, DeclaredEdge, ModelRecord, normalise_date

BACKENDS = ("transformers", "llama-cpp")
ENTRY_KEYS = (
    "id", "path", "backend", "parents", "released", "architecture", "params", "org", "license",
    "tags", "name",
)
PARENT_KEYS = ("id", "relation")


@dataclass(frozen=True)
class ParentRef:
    id: str
    relation: str = "finetune"


@dataclass
class ManifestEntry:
    """One model to ingest; `path` is absolute once parsed."""

    id: str
    path: Path
    backend: str | None = None
    parents: list[ParentRef] = field(default_factory=list)
    released: str | None = None
    architecture: str | None = None
    params: int | None = None
    org: str | None = None
    license: str | None = None
    tags: list[str] = field(default_factory=list)
    name: str | None = None

    def record(self) -> ModelRecord:
        """The metadata part of this entry as a model record (no DNA)."""
        return ModelRecord(
            id=self.id, name=self.name, backend=self.backend, architecture=self.architecture,
            params=self.params, org=self.org, license=self.license, released=self.released,
            tags=list(self.tags),
        )

    def declared_edges(self, source: str = "manifest") -> list[DeclaredEdge]:
        return [DeclaredEdge(self.id, p.id, p.relation, source) for p in self.parents]


def guess_backend(path: Path) -> str:
    """llama-cpp for a .gguf file (or a folder holding only GGUF weights), else transformers."""
    if path.suffix.lower() == ".gguf":
        return "llama-cpp"
    if path.is_dir() and any(path.glob("*.gguf")) and not (path / "config.json").exists():
        return "llama-cpp"
    return "transformers"


# --- reading -----------------------------------------------------------------------------------
def _load_rows(path: Path) -> list[Any]:
    if not path.is_file():
        raise InputError(f"no manifest at {path}: give a YAML, JSON or CSV file")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, text)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: invalid JSON at line {error.lineno} ({error.msg})") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InputError(f"{path}: invalid YAML ({str(error).splitlines()[0]})") from None
    else:
        raise InputError(f"{path}: unknown manifest type {suffix!r}; use .yaml, .yml, .json or .csv")
    if isinstance(data, dict) and set(data) <= {"models"} and isinstance(data.get("models"), list):
        return data["models"]
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        extra = sorted(set(data) - {"models"})
        if extra:
            raise InputError(f"{path}: unknown top-level key(s) {', '.join(map(str, extra))}; expected only 'models'")
    raise InputError(f"{path}: expected a top-level 'models:' list of entries")


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InputError(f"{path}: empty CSV; expected a header row with id,path,...")
    rows: list[dict[str, Any]] = []
    for row in reader:
        entry: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:  # more cells than header columns
                entry["<extra cells>"] = value
                continue
            value = (value or "").strip()
            if not value:
                continue
            key = key.strip()
            if key == "parents":
                entry[key] = [
                    {"id": ref.rsplit(":", 1)[0].strip(), "relation": ref.rsplit(":", 1)[1].strip()}
                    if ":" in ref else ref.strip()
                    for ref in value.split(";") if ref.strip()
                ]
            elif key == "tags":
                entry[key] = [t.strip() for t in value.split(";") if t.strip()]
            else:
                entry[key] = value
        if entry:
            rows.append(entry)
    return rows


# --- validation --------------------------------------------------------------------------------
def _label(index: int, raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    return f"entry {index} ({ident})" if ident else f"entry {index}"


def _parents(raw: Any, where: str, problems: list[str]) -> list[ParentRef]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    refs: list[ParentRef] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            refs.append(ParentRef(item.strip()))
        elif isinstance(item, dict):
            unknown = sorted(set(map(str, item)) - set(PARENT_KEYS))
            if unknown:
                problems.append(f"{where}: unknown parent key(s) {', '.join(unknown)} (allowed: id, relation)")
            pid = item.get("id")
            relation = str(item.get("relation") or "finetune").strip()
            if not isinstance(pid, str) or not pid.strip():
                problems.append(f"{where}: a parent needs an 'id'")
                continue
            if relation not in RELATIONS:
                problems.append(f"{where}: parent {pid}: unknown relation {relation!r} (one of {', '.join(RELATIONS)})")
                continue
            refs.append(ParentRef(pid.strip(), relation))
        else:
            problems.append(f"{where}: parents must be an id, a list of ids, or {{id, relation}} items; got {item!r}")
    return refs


def _entry(index: int, raw: Any, base: Path, problems: list[str]) -> ManifestEntry | None:
    where = _label(index, raw)
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping of keys, got {type(raw).__name__}")
        return None
    before = len(problems)
    unknown = [str(k) for k in raw if k not in ENTRY_KEYS]
    for key in unknown:
        problems.append(f"{where}: unknown key {key!r} (allowed: {', '.join(ENTRY_KEYS)})")
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        problems.append(f"{where}: missing 'id'")
        model_id = None
    raw_path = raw.get("path")
    path: Path | None = None
    if not isinstance(raw_path, str) or not raw_path.strip():
        problems.append(f"{where}: missing 'path' (a model folder or .gguf file)")
    else:
        path = Path(raw_path).expanduser()
        path = path if path.is_absolute() else (base / path)
        if not path.exists():
            problems.append(f"{where}: path does not exist: {path}")
    backend = raw.get("backend")
    if backend is not None and backend not in BACKENDS:
        problems.append(f"{where}: unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    released = None
    try:
        released = normalise_date(raw.get("released"))
    except InputError:
        problems.append(f"{where}: unparseable date released={raw.get('released')!r} (expected YYYY-MM-DD)")
    params = raw.get("params")
    if params is not None:
        try:
            if isinstance(params, bool):
                raise ValueError
            params = int(float(params)) if isinstance(params, str) else int(params)
            if params < 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{where}: params={raw.get('params')!r} is not a non-negative number")
            params = None
    tags = raw.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, (str, int, float)) for t in tags):
        problems.append(f"{where}: tags must be a list of strings")
        tags = []
    parents = _parents(raw.get("parents"), where, problems)
    if model_id and any(p.id == model_id.strip() for p in parents):
        problems.append(f"{where}: lists itself as its parent")
    for key in ("architecture", "org", "license", "name"):
        if raw.get(key) is not None and not isinstance(raw.get(key), (str, int, float)):
            problems.append(f"{where}: {key} must be text")
    if len(problems) > before or model_id is None or path is None:
        return None
    return ManifestEntry(
        id=model_id.strip(), path=path.resolve(), backend=backend or guess_backend(path),
        parents=parents, released=released, architecture=_text(raw.get("architecture")),
        params=params, org=_text(raw.get("org")), license=_text(raw.get("license")),
        tags=[str(t) for t in tags], name=_text(raw.get("name")),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def find_cycles(parents: dict[str, list[str]]) -> list[list[str]]:
    """Cycles in a child -> parents graph (each once, as the path that closes it). O(V + E)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {node: WHITE for node in parents}
    cycles: list[list[str]] = []
    for start in parents:
        if colour[start] != WHITE:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        colour[start] = GREY
        while stack:
            node, i = stack[-1]
            nexts = parents.get(node, [])
            if i < len(nexts):
                stack[-1] = (node, i + 1)
                nxt = nexts[i]
                state = colour.get(nxt, BLACK)  # parents outside the manifest cannot close a cycle
                if state == GREY:
                    cycles.append(path[path.index(nxt):] + [nxt])
                elif state == WHITE:
                    colour[nxt] = GREY
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                colour[node] = BLACK
                stack.pop()
                path.pop()
    return cycles


def validate_entries(rows: Sequence[Any], base: Path, source: str = "manifest") -> list[ManifestEntry]:
    """Check every row; return entries, or raise one InputError listing every problem."""
    problems: list[str] = []
    entries: list[ManifestEntry] = []
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(rows, 1):
        entry = _entry(index, raw, base, problems)
        ident = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(ident, str) and ident.strip():
            ident = ident.strip()
            if ident in first_seen:
                problems.append(f"entry {index} ({ident}): duplicate id (first at entry {first_seen[ident]})")
                entry = None
            else:
                first_seen[ident] = index
        if entry is not None:
            entries.append(entry)
    graph = {e.id: [p.id for p in e.parents] for e in entries}
    for cycle in find_cycles(graph):
        problems.append(f"entry {first_seen[cycle[0]]} ({cycle[0]}): cycle in declared parents: {' -> '.join(cycle)}")
    if not rows:
        problems.append("no entries: add a 'models:' list")
    if problems:
        raise InputError(
            f"{source}: {len(problems)} problem(s) in {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, "
            "nothing was ingested; fix them and re-run:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return entries


def parse_manifest(path: str | Path) -> list[ManifestEntry]:
    """Read and validate a YAML/JSON/CSV manifest; paths resolve against its folder."""
    path = Path(path).expanduser().resolve()
    rows = _load_rows(path)
    return validate_entries(rows, path.parent, source=str(path))


def entries_from(value: str | Path | Sequence[ManifestEntry | dict[str, Any]], base: Path | None = None) -> list[ManifestEntry]:
    """A manifest path, a list of entries, or a list of raw dicts (validated like a file)."""
    if isinstance(value, (str, Path)):
        return parse_manifest(value)
    items = list(value)
    if all(isinstance(item, ManifestEntry) for item in items):
        ids = [item.id for item in items]  # type: ignore[union-attr]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise InputError(f"duplicate id(s) in the entries: {', '.join(dupes)}")
        return list(items)  # type: ignore[arg-type]
    rows = [
        {k: v for k, v in vars(item).items()} if isinstance(item, ManifestEntry) else item for item in items
    ]
    for row in rows:
        if isinstance(row.get("path"), Path):
            row["path"] = str(row["path"])
        if row.get("parents") and isinstance(row["parents"][0], ParentRef):
            row["parents"] = [{"id": p.id, "relation": p.relation} for p in row["parents"]]
    return validate_entries(rows, base or Path.cwd(), source="entries")


__all__ = [
    "ManifestEntry", "ParentRef", "BACKENDS", "ENTRY_KEYS", "parse_manifest", "validate_entries",
    "entries_from", "find_cycles", "guess_backend",
]
