"""Import documented lineage (no weights needed): CSV edge lists and Hugging Face metadata.

Accepted inputs (a directory stands for every *.json, *.jsonl and *.csv file in it):

- CSV edge list: header `child,parent[,relation][,source]`; `relation` defaults to finetune.
  A headerless two- or three-column file is read the same way (e.g. the provenance benchmark's
  `child,parent` lists, also as .txt); a parent `None` or empty records the child without an
  edge. A one-column headerless file is a list of model ids.
- CSV node list: header with an `id` column, optionally `name, released, org, architecture,
  params, license, library, tags` (tags separated by `;`). Any other column is an error.
- Hugging Face model-tree JSON (`{"models": [...]}`): each row has `model_id`, `depth` and
  `metadata` (a JSON string of the Hub's `model_info`); typed files list `children` (= finetune),
  `adapters`, `quantized`, `merges` as `https://huggingface.co/<id>` URLs; `*.untyped.json` files
  only have `children`, relations mixed (the list may also be a Python-list string).
  Leaf models appear only in their parents' lists: they are imported too.
- `model_info` JSON records: one object (with `id`/`modelId`), a list of them, or JSONL.
- Epoch AI's "All AI models" CSV (recognised by its `Model` and `Publication date` columns): one model
  per row under its display name (`Model`), with the publication date, organisation and parameters;
  domain and accessibility become tags (`domain:Language`, `access:Open weights (non-commercial)`), and
  no licence is set (Epoch records accessibility, not a licence). `Base model` (comma-separated display
  names) gives declared parents; Epoch does not say how a model was derived, so they are finetune
  edges with the source `epoch-ai-untyped`. Line breaks inside a name (a few rows have them) become spaces.

Which relation an edge gets, strongest evidence first: the child's own Hub tag
`base_model:<relation>:<parent>`; then the typed list the child appears in; then
`cardData.base_model_relation`; otherwise finetune (untyped `children`, a bare `cardData.base_model`;
several bare base models make a merge). Such defaulted edges carry the source `*-untyped`, so a
query can tell a stated relation from an assumed one.

Models from metadata get status `metadata` when new; a model already in the store keeps its status
(an upsert never erases a DNA). All models are written first, then all edges (the store requires
both endpoints to exist).
"""

from __future__ import annotations

import ast
import csv
import gc
import io
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kb.errors import InputError
from kb.records import RELATIONS, DeclaredEdge, ModelRecord, normalise_date
from kb.stores.base import GraphStore

Progress = Callable[[str], None]

HUB_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "https://hf.co/", "hf.co/")
TREE_LISTS = {"children": "finetune", "adapters": "adapter", "quantized": "quantized", "merges": "merge"}
NODE_COLUMNS = ("id", "name", "released", "org", "architecture", "params", "license", "library", "tags")
EDGE_COLUMNS = ("child", "parent", "relation", "source")

_EMPTY = (None, "", [])  # a field with one of these is unknown
_SPECIAL_TAGS = ("base_model:", "license:", "region:")  # read into fields (region: dropped)

# evidence strength of an edge's relation (higher wins when one pair is seen twice)
_TAG, _TYPED, _CARD, _DEFAULT = 4, 3, 2, 1


@dataclass
class ImportReport:
    """What an import read and wrote."""

    files: list[str] = field(default_factory=list)
    records: int = 0
    models: int = 0
    new_models: int = 0
    edges: int = 0
    relations: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "records_per_s": round(self.records_per_s, 1)}


def hub_id(value: str) -> str:
    """A Hub model id from an id or a `https://huggingface.co/<id>` URL."""
    text = str(value).strip()
    if not text.startswith(("h", "H")):  # fast path: already an id
        return text.strip("/")
    for prefix in HUB_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return text.strip("/")


class _Lineage:
    """Models and edges gathered from every file before one batched write."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], tuple[int, str, str]] = {}
        self.records = 0
        self.warnings: list[str] = []

    def model(self, model_id: str, **fields: Any) -> None:
        slot = self.models.get(model_id)
        if slot is None:
            self.models[model_id] = {k: v for k, v in fields.items() if v not in _EMPTY}
            return
        for key, value in fields.items():
            if value not in _EMPTY and slot.get(key) in _EMPTY:
                slot[key] = value

    def model_records(self) -> list[ModelRecord]:
        """ModelRecords of every model; a bad date loses only the date (with a warning)."""
        out = []
        for model_id, fields in self.models.items():
            try:
                out.append(ModelRecord(id=model_id, **fields))
            except InputError as error:
                self.warnings.append(f"{model_id}: {error}; date dropped")
                out.append(ModelRecord(id=model_id, **{k: v for k, v in fields.items() if k != "released"}))
        return out

    def edge(self, child: str, parent: str, relation: str, source: str, strength: int) -> None:
        if not child or not parent:
            return
        if child == parent:
            self.warnings.append(f"{source}: {child!r} lists itself as its parent; skipped")
            return
        if relation not in RELATIONS:
            self.warnings.append(f"{source}: {child} -> {parent}: unknown relation {relation!r}; skipped")
            return
        models = self.models
        if child not in models:
            models[child] = {}
        if parent not in models:
            models[parent] = {}
        old = self.edges.get((child, parent))
        if old is None or strength > old[0]:
            self.edges[(child, parent)] = (strength, relation, source)


# --- Hugging Face metadata ---------------------------------------------------------------------
def _card_data(info: dict[str, Any]) -> dict[str, Any]:
    """`cardData` as a dict: the Hub API gives a dict, the tree crawls a YAML string."""
    card = info.get("cardData") if info.get("cardData") is not None else info.get("card_data")
    if isinstance(card, dict):
        return card
    if isinstance(card, str) and "base_model" in card:  # YAML is slow: parse only when it matters
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(card, Loader=loader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def _add_model_info(graph: _Lineage, info: dict[str, Any], model_id: str, source: str) -> None:
    """A model's fields and declared parents from one Hub `model_info` record (one pass over its tags)."""
    licence = None
    kept: list[str] = []
    tagged: list[tuple[str, str]] = []
    for tag in info.get("tags") or ():
        if not isinstance(tag, str):
            continue
        if not tag.startswith(_SPECIAL_TAGS):
            kept.append(tag)
        elif tag.startswith("base_model:"):
            parts = tag.split(":")
            if len(parts) == 3:
                tagged.append((parts[1], parts[2]))
        elif tag.startswith("license:"):
            licence = licence or tag[8:]
    config = info.get("config")
    architectures = config.get("architectures") if isinstance(config, dict) else None
    safetensors = info.get("safetensors")
    graph.model(
        model_id,
        org=info.get("author") or (model_id.split("/", 1)[0] if "/" in model_id else None),
        released=info.get("created_at") or info.get("createdAt"),  # checked when the record is built
        library=info.get("library_name"),
        architecture=architectures[0] if isinstance(architectures, list) and architectures else None,
        license=licence,
        params=safetensors.get("total") if isinstance(safetensors, dict) else None,
        tags=kept,
    )
    for relation, parent in tagged:
        graph.edge(model_id, hub_id(parent), relation, source, _TAG)
    if tagged:
        return
    card = _card_data(info)
    bases = card.get("base_model")
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not bases:
        return
    stated = card.get("base_model_relation")
    relation = stated or ("merge" if len(bases) > 1 else "finetune")
    for base in bases:
        if isinstance(base, str) and base.strip():
            graph.edge(
                model_id, hub_id(base), relation,
                source if stated else f"{source}-untyped", _CARD if stated else _DEFAULT,
            )


def _listed(value: Any, where: str) -> list[str]:
    """A tree row's child list: a list, or a Python/JSON list written as a string; anything else (a
    bare string, a number, a mapping) is refused rather than read as a model id."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise InputError(f"{where} must be a list of model ids, not the text {value[:60]!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, RecursionError):
            value = [part for part in text.strip("[]").split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) for v in value):
        raise InputError(f"{where} must be a list of model ids, not {type(value).__name__} {str(value)[:60]}")
    return [hub_id(str(v).strip().strip("'\"")) for v in value if str(v).strip().strip("'\"")]


def _add_tree(graph: _Lineage, data: dict[str, Any], path: Path) -> None:
    rows = data.get("models")
    if not isinstance(rows, list):
        raise InputError(f"{path}: 'models' must be a list of model rows")
    untyped = not any(key in row for row in rows if isinstance(row, dict) for key in ("adapters", "quantized", "merges"))
    source = "hf-tree"
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("model_id"):
            graph.warnings.append(f"{path.name}: row {number} has no model_id; skipped")
            continue
        graph.records += 1
        model_id = hub_id(row["model_id"])
        graph.model(model_id)
        raw = row.get("metadata")
        info: Any = None
        if isinstance(raw, dict):
            info = raw
        elif isinstance(raw, str) and raw.strip().startswith("{"):
            try:
                info = orjson.loads(raw)
            except orjson.JSONDecodeError:
                graph.warnings.append(f"{path.name}: {model_id}: metadata is not valid JSON")
        if isinstance(info, dict):
            _add_model_info(graph, info, model_id, source)
        for key, relation in TREE_LISTS.items():
            for child in _listed(row.get(key), f"{path}: row {number} ({model_id}): {key!r}"):
                graph.records += 1
                if untyped:
                    graph.edge(child, model_id, relation, f"{source}-untyped", _DEFAULT)
                else:
                    graph.edge(child, model_id, relation, source, _TYPED)


# --- CSV ---------------------------------------------------------------------------------------
def _add_csv(graph: _Lineage, path: Path, text: str) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        graph.warnings.append(f"{path.name}: empty file")
        return
    header = [c.strip().lower() for c in rows[0]]
    problems: list[str] = []
    if "child" in header and "parent" in header:
        unknown = [c for c in header if c not in EDGE_COLUMNS]
        if unknown:
            raise InputError(f"{path}: unknown edge column(s) {', '.join(unknown)}; expected {', '.join(EDGE_COLUMNS)}")
        body, start = rows[1:], 2
    elif "id" in header:
        _add_node_csv(graph, path, header, rows[1:])
        return
    elif EPOCH_COLUMNS <= set(header):
        _add_epoch_csv(graph, path, header, rows[1:])
        return
    elif len(header) == 1:  # a plain list of ids
        for row in rows:
            graph.records += 1
            graph.model(hub_id(row[0]))
        return
    elif len(header) in (2, 3) and not set(header) & {"id", "name", "relation"}:
        header, body, start = list(EDGE_COLUMNS[: len(header)]), rows, 1
    else:
        raise InputError(
            f"{path}: CSV header {','.join(header)!r} is neither an edge list (child,parent,relation) "
            "nor a node list (id,...)"
        )
    for line, row in enumerate(body, start):
        graph.records += 1
        cells = dict(zip(header, (c.strip() for c in row)))
        child, parent = hub_id(cells.get("child", "")), hub_id(cells.get("parent", ""))
        relation = (cells.get("relation") or "finetune").lower()
        if not child:
            problems.append(f"line {line}: empty child")
            continue
        graph.model(child)
        if not parent or parent.lower() == "none":
            continue
        if relation not in RELATIONS:
            problems.append(f"line {line}: unknown relation {relation!r} (one of {', '.join(RELATIONS)})")
            continue
        if child == parent:
            problems.append(f"line {line}: {child!r} is its own parent")
            continue
        graph.edge(child, parent, relation, cells.get("source") or "csv", _TAG)
    _raise_problems(path, problems)


def _add_node_csv(graph: _Lineage, path: Path, header: list[str], body: list[list[str]]) -> None:
    unknown = [c for c in header if c not in NODE_COLUMNS]
    if unknown:
        raise InputError(f"{path}: unknown node column(s) {', '.join(unknown)}; expected {', '.join(NODE_COLUMNS)}")
    problems: list[str] = []
    for line, row in enumerate(body, 2):
        graph.records += 1
        cells = {k: v.strip() for k, v in zip(header, row) if v.strip()}
        model_id = hub_id(cells.pop("id", ""))
        if not model_id:
            problems.append(f"line {line}: empty id")
            continue
        try:
            cells["released"] = normalise_date(cells.get("released"))
        except InputError as error:
            problems.append(f"line {line}: {error}")
            continue
        if "params" in cells:
            try:
                cells["params"] = int(float(cells["params"]))
            except ValueError:
                problems.append(f"line {line}: params {cells['params']!r} is not a number")
                continue
        if "tags" in cells:
            cells["tags"] = [t.strip() for t in cells["tags"].split(";") if t.strip()]
        graph.model(model_id, **cells)
    _raise_problems(path, problems)


EPOCH_COLUMNS = {"model", "publication date"}
"""Header cells (lower case) that mark Epoch AI's model table."""


def _add_epoch_csv(graph: _Lineage, path: Path, header: list[str], body: list[list[str]]) -> None:
    column = {name: i for i, name in enumerate(header)}

    def cell(row: list[str], name: str) -> str:
        """The cell's text with runs of whitespace as one space (some names hold line breaks)."""
        i = column.get(name)
        return " ".join(row[i].split()) if i is not None and i < len(row) else ""

    rows = set()
    for line, row in enumerate(body, 2):
        graph.records += 1
        model = cell(row, "model")
        if not model:
            graph.warnings.append(f"{path.name}: line {line} has no model name; skipped")
            continue
        rows.add(model)
        params = None
        try:
            params = int(float(cell(row, "parameters"))) if cell(row, "parameters") else None
        except ValueError:
            graph.warnings.append(f"{path.name}: {model}: parameters {cell(row, 'parameters')!r} is not a number")
        tags = [f"{prefix}:{cell(row, name)}" for prefix, name in (("domain", "domain"), ("access", "model accessibility"))
                if cell(row, name)]
        graph.model(model, released=cell(row, "publication date") or None, org=cell(row, "organization") or None,
                    params=params, tags=["epoch-ai", *tags])
        for base in cell(row, "base model").split(","):
            graph.edge(model, base.strip(), "finetune", "epoch-ai-untyped", _DEFAULT)
    missing = {p for (c, p) in graph.edges if c in rows and p not in rows}
    if missing:
        graph.warnings.append(f"{path.name}: {len(missing)} base models have no row of their own (imported as "
                              f"names only), e.g. {sorted(missing)[0]!r}")


def _raise_problems(path: Path, problems: list[str]) -> None:
    if problems:
        raise InputError(
            f"{path}: {len(problems)} bad line(s): " + "; ".join(problems[:20])
            + (" ..." if len(problems) > 20 else "")
        )


# --- files -------------------------------------------------------------------------------------
def _add_json_value(graph: _Lineage, data: Any, path: Path) -> None:
    model_id = isinstance(data, dict) and (data.get("id") or data.get("modelId") or data.get("model_id"))
    if isinstance(data, dict) and "models" in data:
        _add_tree(graph, data, path)
    elif model_id:
        graph.records += 1
        _add_model_info(graph, data, hub_id(model_id), "hf-model-info")
    elif isinstance(data, list):
        for item in data:
            _add_json_value(graph, item, path)
    else:
        raise InputError(
            f"{path}: JSON is neither a model tree ({{\"models\": [...]}}) nor model_info records (with 'id')"
        )


def _add_file(graph: _Lineage, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; expected CSV or JSON") from None
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        _add_csv(graph, path, text)
    elif suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    _add_json_value(graph, orjson.loads(line), path)
                except orjson.JSONDecodeError as error:
                    raise InputError(f"{path}:{number}: invalid JSON ({error.msg})") from None
    elif suffix == ".json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise InputError(f"{path}: invalid JSON at line {error.lineno} ({error.msg})") from None
        _add_json_value(graph, data, path)
    else:
        raise InputError(f"{path}: unknown file type {suffix!r}; expected .csv, .txt, .json or .jsonl")


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".json", ".jsonl"))
            if not found:
                raise InputError(f"{path}: no .csv, .json or .jsonl files in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"no file or directory at {path}")
    if not files:
        raise InputError("no input files: name one or more CSV/JSON files or directories")
    return files


def read_lineage(paths: Sequence[str | Path]) -> tuple[list[ModelRecord], list[DeclaredEdge], _Lineage]:
    """Parse every file (all of them, before anything is written) into records and edges."""
    graph = _Lineage()
    for path in _expand(paths):
        _add_file(graph, path)
    models = graph.model_records()
    edges = [DeclaredEdge(c, p, rel, src) for (c, p), (_, rel, src) in graph.edges.items()]
    return models, edges, graph


def import_lineage(
    paths: Sequence[str | Path] | str | Path,
    store: GraphStore,
    progress: Progress | None = None,
) -> ImportReport:
    """Import declared lineage from CSV / Hugging Face JSON files into `store`.

    All files are parsed first (a bad file writes nothing), then models and edges are written by
    `GraphStore.upsert_lineage` (one transaction on the embedded store). Returns counts, relations
    and warnings about skipped input.
    """
    say = progress or (lambda _msg: None)
    if isinstance(paths, (str, Path)):
        paths = [paths]
    with _no_cyclic_gc():
        return _import(paths, store, say)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector: it rescans every parsed record each time it runs (~20% of an import)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import(paths: Sequence[str | Path], store: GraphStore, say: Progress) -> ImportReport:
    started = time.perf_counter()
    files = _expand(paths)
    say(f"reading {len(files)} file(s)")
    models, edges, graph = read_lineage(files)
    existing = set(store.model_ids())
    for model in models:
        if model.id not in existing:
            model.status = "metadata"
    store.upsert_lineage(models, edges, progress=say)
    relations: dict[str, int] = {}
    for edge in edges:
        relations[edge.relation] = relations.get(edge.relation, 0) + 1
    return ImportReport(
        files=[str(f) for f in files],
        records=graph.records,
        models=len(models),
        new_models=sum(1 for m in models if m.id not in existing),
        edges=len(edges),
        relations=dict(sorted(relations.items())),
        warnings=graph.warnings,
        seconds=time.perf_counter() - started,
    )


__all__ = ["ImportReport", "import_lineage", "read_lineage", "hub_id"]
