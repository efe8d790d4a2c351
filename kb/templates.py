"""Lineage questions as data: the loader and runner of `queries/<name>.cypher`, one file per question.

Each file starts with a header of `//` lines that says what the query answers and which
parameters it takes, so that the CLI lists, validates and documents templates without code::

    // name: descendants
    // description: every model below MODEL, with its generation
    // param: model: model (required) -- the ancestor
    // param: max_depth: int[1..30] = 10 -- deepest generation to follow
    // param: edges: declared|inferred|both = both -- which parent edges to follow

Parameter types: `str`, `int` (optionally `int[lo..hi]`), `float`, `bool`, `model` (a model id
that must exist), `dna_model` (a model id that must exist and carry a DNA), `family` (a family id
that must exist, or empty for all), and enumerations `a|b|c`.

Values reach the database only as `$params`. The only text that varies depends on the validated
`edges` enum, through fixed maps in code: `%EDGES%` becomes the parent relationship types
(`EDGE_TYPES`), `%DESCENDANTS%` the lineage-index property that counts descendants over them
(`DESCENDANT_FIELDS`). A header line `// index: lineage` brings that index up to date first.

Dialects: `<name>.kuzu.cypher` beside a template is used on the embedded store (LadybugDB speaks
Kùzu's dialect); its header may say `// impl: store`, and then the store's own method of the
template's name answers instead (k-nearest DNAs on the embedded store are numpy, since the engine's
vector extension is not available offline: `EmbeddedStore.nearest`).

Questions whose answer needs Python (medians, licence tables, per-channel distances) say
`// impl: python kb.<module>:<function>` in the template's own header: on every store the runner
calls `function(store, **parameters)`, which returns the rows. Only modules under `kb.` may be named,
so a template file can point at the knowledge base's own code and nothing else; the body holds no
Cypher (comments may say how the function reads the store).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from kb.errors import InputError, NotFoundError
import kb.stores.cypher as q
from kb.stores.base import DESCENDANT_FIELDS, PARENT_EDGE_TYPES

QUERIES_DIR = Path(str(resources.files("queries")))

EDGE_TYPES: dict[str, str] = {**PARENT_EDGE_TYPES, "both": "|".join(PARENT_EDGE_TYPES.values())}
"""Relationship types by the `edges` value: substituted for %EDGES%."""

EDGES_TOKEN = "%EDGES%"
DESCENDANTS_TOKEN = "%DESCENDANTS%"
"""Substituted by the lineage-index property (`DESCENDANT_FIELDS`) for the `edges` value. These two
maps are the only text that ever enters a template."""
DIALECTS = {"embedded": "kuzu"}
"""Store kind -> file suffix of its dialect variants (`<name>.<suffix>.cypher`)."""

_SCALAR_TYPES = ("str", "int", "float", "bool", "model", "dna_model", "family")
_PARAM_LINE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s*:\s*(?P<type>[^=(]+?)\s*"
    r"(?:=\s*(?P<default>.*?)|\((?P<required>required)\))\s*(?:--\s*(?P<help>.*))?$"
)
_INT_RANGE = re.compile(r"^int\[(-?\d+)\.\.(-?\d+)\]$")
_PYTHON_IMPL = re.compile(r"^python\s+(?P<module>kb(?:\.[a-z_][a-z0-9_]*)+):(?P<function>[a-z_][a-z0-9_]*)$")


@dataclass(frozen=True)
class Param:
    """One declared template parameter."""

    name: str
    type: str
    required: bool
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None

    @property
    def type_text(self) -> str:
        if self.choices:
            return "|".join(self.choices)
        if self.bounds:
            return f"int[{self.bounds[0]}..{self.bounds[1]}]"
        return self.type

    def coerce(self, value: Any, template: str) -> Any:
        """The value as this parameter's Python type; strings (from the CLI) are parsed."""
        where = f"template {template!r}: parameter {self.name!r}"
        base = "int" if self.bounds else self.type
        if self.choices:
            if value not in self.choices:
                raise InputError(f"{where} must be one of {', '.join(self.choices)}, not {value!r}")
            return value
        if base in ("str", "model", "dna_model", "family"):
            if not isinstance(value, str):
                raise InputError(f"{where} must be a string, not {type(value).__name__} {value!r}")
            return value
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise InputError(f"{where} must be true or false, not {value!r}")
        if base == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise InputError(f"{where} must be an integer, not {type(value).__name__} {value!r}")
            try:
                number = int(value)
            except ValueError:
                raise InputError(f"{where} must be an integer, not {value!r}") from None
            if self.bounds and not self.bounds[0] <= number <= self.bounds[1]:
                raise InputError(
                    f"{where} must be between {self.bounds[0]} and {self.bounds[1]}, not {number}"
                )
            return number
        if base == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise InputError(f"{where} must be a number, not {type(value).__name__} {value!r}")
            try:
                number = float(value)
            except ValueError:
                raise InputError(f"{where} must be a number, not {value!r}") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise InputError(f"{where} must be a finite number, not {value!r}")
            return number
        raise AssertionError(base)  # pragma: no cover - types are checked when loading


@dataclass(frozen=True)
class Template:
    """A named lineage question: its Cypher (per dialect) and its declared parameters."""

    name: str
    description: str
    params: tuple[Param, ...]
    body: str
    path: Path
    variants: dict[str, str] = field(default_factory=dict)
    store_dialects: frozenset[str] = frozenset()
    """Dialects whose store answers with its own method (`// impl: store`)."""
    uses_lineage_index: bool = False
    python: tuple[str, str] | None = None
    """(module, function) answering on every store (`// impl: python kb.<module>:<function>`)."""

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def usage(self) -> str:
        """Parameters as `--param` would take them: `model=<model> [k=10]`."""
        parts = []
        for p in self.params:
            shown = '""' if p.default == "" else p.default
            parts.append(f"{p.name}=<{p.type_text}>" if p.required else f"[{p.name}={shown}]")
        return " ".join(parts)


def _parse_default(param_type: str, text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if param_type.startswith("int"):
        return int(text)
    if param_type == "float":
        return float(text)
    if param_type == "bool":
        return text.lower() == "true"
    return text


def _parse_param(spec: str, path: Path) -> Param:
    match = _PARAM_LINE.match(spec.strip())
    if not match:
        raise InputError(f"{path.name}: cannot read the parameter line {spec!r}")
    name, kind = match["name"], match["type"].strip()
    choices: tuple[str, ...] = ()
    bounds = None
    if "|" in kind:
        choices = tuple(c.strip() for c in kind.split("|"))
        kind = "enum"
    elif (found := _INT_RANGE.match(kind)) is not None:
        bounds = (int(found[1]), int(found[2]))
    elif kind not in _SCALAR_TYPES:
        raise InputError(f"{path.name}: parameter {name!r} has unknown type {kind!r}")
    required = match["required"] is not None
    default = None if required else _parse_default(kind, match["default"] or "")
    return Param(name, kind, required, default, (match["help"] or "").strip(), choices, bounds)


def _split(text: str) -> tuple[dict[str, list[str]], str]:
    """Header fields (`// key: value` lines at the top) and the Cypher body below them."""
    header: dict[str, list[str]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines) and (lines[i].startswith("//") or not lines[i].strip()):
        line = lines[i][2:].strip() if lines[i].startswith("//") else ""
        key, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[a-z_]+", key.strip()):
            header.setdefault(key.strip(), []).append(value.strip())
        i += 1
    return header, "\n".join(lines[i:]).strip()


def load_template(path: Path) -> Template:
    header, body = _split(path.read_text(encoding="utf-8"))
    name = (header.get("name") or [""])[0]
    if name != path.name.removesuffix(".cypher"):
        raise InputError(f"{path.name}: header name {name!r} differs from the file name")
    params = tuple(_parse_param(spec, path) for spec in header.get("param", []))
    python = _python_impl(header.get("impl", []), path)
    if python is None and not body:
        raise InputError(f"{path.name}: no Cypher below the header (and no `// impl: python ...` line)")
    variants: dict[str, str] = {}
    by_store: set[str] = set()
    for suffix in set(DIALECTS.values()):
        variant = path.with_name(f"{name}.{suffix}.cypher")
        if variant.exists():
            v_header, v_body = _split(variant.read_text(encoding="utf-8"))
            if (v_header.get("impl") or [""])[0] == "store":
                by_store.add(suffix)
            else:
                variants[suffix] = v_body
    return Template(
        name=name,
        description=(header.get("description") or [""])[0],
        params=params,
        body=body,
        path=path,
        variants=variants,
        store_dialects=frozenset(by_store),
        uses_lineage_index="lineage" in header.get("index", []),
        python=python,
    )


def _python_impl(lines: list[str], path: Path) -> tuple[str, str] | None:
    """(module, function) of a `// impl: python kb.<module>:<function>` header line, or None."""
    wanted = [line for line in lines if line.split(maxsplit=1)[:1] == ["python"]]
    if not wanted:
        return None
    found = _PYTHON_IMPL.match(wanted[0].strip())
    if len(wanted) > 1 or found is None:
        raise InputError(
            f"{path.name}: `// impl: {wanted[-1]}` must name one function of the knowledge base as "
            "`python kb.<module>:<function>`"
        )
    return found["module"], found["function"]


def python_function(template: Template) -> Any:
    """The function a `// impl: python` template names (imported on first use)."""
    import importlib

    assert template.python is not None
    module_name, function = template.python
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(f"template {template.name!r}: cannot import {module_name} ({error})") from None
    answer = getattr(module, function, None)
    if not callable(answer):
        raise InputError(f"template {template.name!r}: {module_name} has no function {function!r}")
    return answer


@lru_cache(maxsize=4)
def load_catalogue(directory: Path = QUERIES_DIR) -> dict[str, Template]:
    """Every template in `directory`, by name (dialect variants folded into their template)."""
    templates = {}
    for path in sorted(directory.glob("*.cypher")):
        if path.name.count(".") == 1:
            template = load_template(path)
            templates[template.name] = template
    return templates


def list_templates() -> list[dict[str, str]]:
    """One row per template: name, description, parameters (for `dnakb query --list`)."""
    return [
        {"name": t.name, "description": t.description, "params": t.usage()}
        for t in load_catalogue().values()
    ]


def get_template(name: str) -> Template:
    catalogue = load_catalogue()
    if name not in catalogue:
        close = difflib.get_close_matches(name, list(catalogue), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "see `dnakb query --list`"
        raise NotFoundError(f"no query template {name!r}; {hint}")
    return catalogue[name]


def bind_params(template: Template, params: dict[str, Any] | None) -> dict[str, Any]:
    """Validated, typed parameters with defaults filled in; any mismatch is an InputError."""
    params = dict(params or {})
    extra = sorted(set(params) - {p.name for p in template.params})
    if extra:
        known = ", ".join(p.name for p in template.params) or "none"
        raise InputError(
            f"template {template.name!r} has no parameter {extra[0]!r} (its parameters: {known})"
        )
    bound: dict[str, Any] = {}
    for p in template.params:
        if p.name not in params or params[p.name] is None:
            if p.required:
                raise InputError(
                    f"template {template.name!r} needs parameter {p.name!r}: "
                    f"pass --param {p.name}=<{p.type_text}>"
                )
            bound[p.name] = p.default
        else:
            bound[p.name] = p.coerce(params[p.name], template.name)
    return bound


def _suggest(value: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(value, candidates, n=3, cutoff=0.6)
    if not close:  # ids are long "org/name" strings: also try the part after the slash
        tail = value.rsplit("/", 1)[-1].lower()
        close = [c for c in candidates if len(tail) >= 4 and tail in c.lower()][:3]
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def check_references(store: Any, template: Template, bound: dict[str, Any]) -> None:
    """Named models and families must exist (one indexed lookup each; suggestions on a miss)."""
    for p in template.params:
        value = bound.get(p.name)
        if p.type in ("model", "dna_model"):
            rows = store.cypher(q.MODEL_HAS_DNA, {"id": value})
            if not rows:
                raise NotFoundError(f"no model {value!r} in the store{_suggest(value, store.model_ids())}")
            if p.type == "dna_model" and not rows[0]["has_dna"]:
                raise InputError(
                    f"model {value!r} has no DNA (metadata only); ingest it first with `dnakb ingest`"
                )
        elif p.type == "family" and value:
            rows = store.cypher(q.FAMILY_EXISTS, {"id": value})
            if not rows:
                ids = [f.id for f in store.families()]
                raise NotFoundError(f"no family {value!r} in the store{_suggest(value, ids)}")


def render(template: Template, dialect: str | None, bound: dict[str, Any]) -> str:
    """The Cypher text to run: the dialect variant if any, with the `edges` value's relationship
    types and lineage-index property."""
    body = template.variants.get(dialect or "", template.body)
    edges = bound.get("edges", "both")
    return body.replace(EDGES_TOKEN, EDGE_TYPES[edges]).replace(DESCENDANTS_TOKEN, DESCENDANT_FIELDS[edges])


def run_template(store: Any, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Answer the lineage question `name` on `store` (rows in a fixed order on every store).

    Raises NotFoundError for an unknown template or model id (with close matches), InputError
    for a missing, extra or mistyped parameter.
    """
    template = get_template(name)
    bound = bind_params(template, params)
    check_references(store, template, bound)
    if template.uses_lineage_index:
        store.refresh_lineage_index()
    if template.python is not None:
        return python_function(template)(store, **bound)
    dialect = DIALECTS.get(store.kind)
    if dialect in template.store_dialects:
        return getattr(store, template.name.replace("-", "_"))(**bound)
    # only declared parameters travel: a template need not use every one (e.g. `edges`)
    query = render(template, dialect, bound)
    used = {k: v for k, v in bound.items() if re.search(rf"\${k}\b", query)}
    return store.cypher(query, used)
