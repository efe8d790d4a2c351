"""The shape of the code: no import cycle anywhere, dependencies one way (ingest -> kb), queries/ is
data, and an evidence channel is one module plus one registry line."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("kb", "ingest", "queries")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at top level or inside functions (a lazy import is a
    dependency too). `from package import submodule` depends on the submodule only."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                targets = subs if len(subs) == len(node.names) else [node.module, *subs]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere() -> None:
    assert cycles(import_graph()) == []


def test_dependencies_point_one_way() -> None:
    for module, imports in import_graph().items():
        if module.startswith("kb"):
            assert not [m for m in imports if m.startswith("ingest")], f"{module} imports ingest"
        if module.startswith("queries"):
            assert not imports, f"{module} imports code: queries/ is data"


def test_queries_holds_templates_and_no_code() -> None:
    for path in (REPO / "queries").glob("*.py"):
        body = ast.parse(path.read_text()).body
        assert all(isinstance(node, ast.Expr) for node in body), f"{path.name} holds code: queries/ is data"
    assert len(list((REPO / "queries").glob("*.cypher"))) >= 10


WEIGHT_SPECIFIC = {"ingest.weights", "kb.lineage.metrics", "kb.lineage.synthetic"}
"""Modules that are about weights themselves: the file reader, the rank features of the relation
AUC, and synthetic sketches. Everything else reaches channels through the registry."""


def test_a_channel_is_one_module_and_one_registry_line() -> None:
    """Nothing outside kb/channels/ names a channel module, so adding one touches its module, its
    tests and the registry."""
    from kb.channels import REGISTRY

    names = {chan.__class__.__module__ for chan in REGISTRY}
    for module, imports in import_graph().items():
        if module.startswith("kb.channels"):
            continue
        allowed = {"kb.channels.weights"} if module in WEIGHT_SPECIFIC else set()
        named = sorted(imports & names - allowed)
        assert not named, f"{module} imports channel module(s) {named}"
