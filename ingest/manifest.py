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
      - id: vendor/hosted-chat     # a model behind an OpenAI-compatible API: no path
        backend: api
        base_url: https://api.example.com/v1
        model: hosted-chat-1       # the id the server knows
        api_key_env: VENDOR_KEY    # the environment variable holding the key (omit: no key)
        concurrency: 4             # optional: requests in flight (default 4)
        retries: 5                 # optional: retries of a 429 / 5xx / cut answer, with backoff (default 5)
        extra_body: {repeat_penalty: 1.0}   # optional: fields sent with every request

A top-level list of entries is accepted too. A parent given as a bare id has relation finetune.

CSV: a header row with the same keys as columns (`id` required, and `path` or `base_url`); `parents` is
written `a:finetune;b:merge` (a bare `a` means finetune), `tags` as `x;y`, `extra_body` as JSON. Empty
cells are absent.

`parse_manifest` validates the WHOLE manifest before returning and raises one `InputError` whose
first line is a summary and whose next lines list every problem with its entry (unknown keys,
missing or duplicate ids, unknown relations or backends, unparseable dates or numbers, paths that
don't exist, API fields that are missing or malformed, cycles among the declared parents). The API key
itself is never in a manifest: only the name of the variable that holds it.
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
from kb.lineage.reach import find_cycles
from ingest.backends.api import DEFAULT_CONCURRENCY, DEFAULT_RETRIES, ApiSpec, check_spec
from kb.records import RELATIONS, DeclaredEdge, ModelRecord, check_id, check_params, normalise_date

BACKENDS = ("transformers", "llama-cpp", "api")
API_KEYS = ("base_url", "model", "api_key_env", "concurrency", "retries", "extra_body")
ENTRY_KEYS = (
    "id", "path", "backend", "parents", "released", "architecture", "params", "org", "license",
    "tags", "name", *API_KEYS,
)
PARENT_KEYS = ("id", "relation")


@dataclass(frozen=True)
class ParentRef:
    id: str
    relation: str = "finetune"


@dataclass
class ManifestEntry:
    """One model to ingest; `path` is absolute once parsed (None for a model behind an API, `api` instead)."""

    id: str
    path: Path | None
    backend: str | None = None
    parents: list[ParentRef] = field(default_factory=list)
    released: str | None = None
    architecture: str | None = None
    params: int | None = None
    org: str | None = None
    license: str | None = None
    tags: list[str] = field(default_factory=list)
    name: str | None = None
    api: ApiSpec | None = None

    def source(self):  # noqa: ANN201 - ingest.access.ModelSource (imported late: access loads the backends)
        """What this model is and how to reach it (ingest/access.py)."""
        from ingest.access import resolve_source

        return resolve_source(self.api) if self.api is not None else resolve_source(self.path, self.backend)

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
def read_text_file(path: Path, what: str) -> str:
    """A UTF-8 text file's content, or one clear error (a binary file, a folder, no file)."""
    if not path.is_file():
        raise InputError(f"no {what} at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a UTF-8 text file: give a YAML, JSON or CSV {what}") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    if "\x00" in text:
        raise InputError(f"{path} is a binary file, not a {what}")
    return text


def strict_yaml(text: str, path: Path) -> Any:
    """YAML as plain data: dates stay text (checked later, so an impossible date is a clear error, not a
    traceback), and a key given twice in one mapping is an error, not a silent overwrite."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def mapping(loader: Loader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise InputError(f"{path}: line {key_node.start_mark.line + 1}: key {key!r} given twice in one entry")
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise InputError(f"{path}: invalid YAML ({' '.join(str(error).split())})") from None
    except (ValueError, TypeError, RecursionError) as error:  # e.g. an unhashable key
        raise InputError(f"{path}: YAML this reader cannot take ({error})") from None


def _load_rows(path: Path) -> list[Any]:
    text = read_text_file(path, "manifest")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, text)
    if suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys(path))
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: invalid JSON at line {error.lineno} ({error.msg})") from None
        except RecursionError:
            raise InputError(f"{path}: JSON nested too deep") from None
    elif suffix in (".yaml", ".yml"):
        data = strict_yaml(text, path)
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


def _unique_keys(path: Path):  # noqa: ANN202
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise InputError(f"{path}: key {key!r} given twice in one object")
            out[key] = value
        return out

    return pairs


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
            try:
                refs.append(ParentRef(check_id(item.strip(), "parent id")))
            except InputError as error:
                problems.append(f"{where}: {error}")
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
            try:
                refs.append(ParentRef(check_id(pid.strip(), "parent id"), relation))
            except InputError as error:
                problems.append(f"{where}: {error}")
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
    if model_id is None:
        problems.append(f"{where}: missing 'id'")
    else:
        try:
            model_id = check_id(model_id.strip() if isinstance(model_id, str) else model_id)
        except InputError as error:
            problems.append(f"{where}: {error}")
            model_id = None
    raw_path = raw.get("path")
    path: Path | None = None
    backend = raw.get("backend")
    if backend is not None and backend not in BACKENDS:
        problems.append(f"{where}: unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    given_api = [key for key in API_KEYS if raw.get(key) is not None]
    is_api = backend == "api" or (backend is None and raw_path is None and "base_url" in given_api)
    api = _api_spec(raw, where, problems) if is_api else None
    if is_api:
        if raw_path is not None:
            problems.append(f"{where}: an api entry has no 'path' (the model is reached at its base_url)")
    elif given_api:
        problems.append(f"{where}: {', '.join(given_api)} belong to backend api; this entry is "
                        f"{backend or 'a local model'} (set backend: api and drop the path, or drop them)")
    elif not isinstance(raw_path, str) or not raw_path.strip():
        problems.append(f"{where}: missing 'path' (a model folder or .gguf file), or base_url + model for an API model")
    else:
        try:
            path = Path(raw_path).expanduser()  # `~user` of no such user is a RuntimeError
        except RuntimeError:
            path = Path(raw_path)
        path = path if path.is_absolute() else (base / path)
        if "\x00" in raw_path or not path.exists():
            problems.append(f"{where}: path does not exist: {path}")
            path = None
    released = None
    try:
        released = normalise_date(raw.get("released"))
    except InputError:
        problems.append(f"{where}: released={raw.get('released')!r} is not a real date (expected YYYY-MM-DD)")
    params = None
    try:
        params = check_params(raw.get("params"), str(model_id or index))
    except InputError:
        problems.append(f"{where}: params={raw.get('params')!r} is not a whole number from 0 to 2^63 - 1")
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
        value = raw.get(key)
        if value is not None and (not isinstance(value, (str, int, float)) or isinstance(value, bool)):
            problems.append(f"{where}: {key} must be text")
        elif isinstance(value, str) and any(c in value for c in "\n\r\x00"):
            problems.append(f"{where}: {key} must be one line of text")
    if len(problems) > before or model_id is None or (path is None and api is None):
        return None
    return ManifestEntry(
        id=model_id.strip(), path=path.resolve() if path is not None else None,
        backend="api" if api is not None else backend or guess_backend(path), api=api,
        parents=parents, released=released, architecture=_text(raw.get("architecture")),
        params=params, org=_text(raw.get("org")), license=_text(raw.get("license")),
        tags=[str(t) for t in tags], name=_text(raw.get("name")),
    )


def _api_spec(raw: dict[str, Any], where: str, problems: list[str]) -> ApiSpec | None:
    """The API fields of an entry, every problem listed (the key itself is never accepted)."""
    extra = raw.get("extra_body")
    if isinstance(extra, str):  # a CSV cell
        try:
            extra = json.loads(extra)
        except ValueError:
            problems.append(f"{where}: extra_body is not JSON")
            return None
    concurrency = raw.get("concurrency", DEFAULT_CONCURRENCY)
    if isinstance(concurrency, str) and concurrency.strip().isdigit():
        concurrency = int(concurrency)
    retries = raw.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, str) and retries.strip().isdigit():
        retries = int(retries)
    found = check_spec(raw.get("base_url"), raw.get("model"), raw.get("api_key_env"), concurrency, extra)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        found.append(f"retries={retries!r}: a whole number from 0 to 20")
    problems.extend(f"{where}: {problem}" for problem in found)
    if found:
        return None
    return ApiSpec(base_url=raw["base_url"], model=str(raw["model"]).strip(), api_key_env=raw.get("api_key_env"),
                   concurrency=concurrency, retries=retries, extra_body=tuple((extra or {}).items()))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


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
    rows = [_as_row(item) if isinstance(item, ManifestEntry) else item for item in items]
    for row in rows:
        if isinstance(row.get("path"), Path):
            row["path"] = str(row["path"])
        if row.get("parents") and isinstance(row["parents"][0], ParentRef):
            row["parents"] = [{"id": p.id, "relation": p.relation} for p in row["parents"]]
    return validate_entries(rows, base or Path.cwd(), source="entries")


def _as_row(entry: ManifestEntry) -> dict[str, Any]:
    row = {k: v for k, v in vars(entry).items() if k != "api" and not (k == "path" and v is None)}
    if entry.api is not None:
        spec = entry.api.to_dict()
        row.update({key: spec[key] for key in API_KEYS if spec.get(key) not in (None, {})})
    return row


__all__ = [
    "ManifestEntry", "ParentRef", "BACKENDS", "ENTRY_KEYS", "parse_manifest", "validate_entries",
    "entries_from", "find_cycles", "guess_backend",
]
