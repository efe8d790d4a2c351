"""Both stores return the same rows, in the same order, for every template on the same graph."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from kb.stores import GraphStore
from kb.templates import load_catalogue, run_template
from tests.conftest import open_test_store
from tests.queries import graph
from tests.queries.graph import BRACE, QUOTE, TICK, UNICODE

CASES: list[tuple[str, dict[str, Any]]] = [
    *[("descendants", {"model": m, "edges": e}) for m in ("org/base-a", "org/base-b", "org/ft1") for e in ("declared", "inferred", "both")],
    ("descendants", {"model": "org/base-a", "max_depth": 2}),
    *[("descendant-count", {"model": m, "edges": e}) for m in ("org/base-a", "org/base-b", UNICODE) for e in ("declared", "inferred", "both")],
    *[("ancestors", {"model": m, "edges": e}) for m in ("org/deep", TICK, "org/m1", BRACE) for e in ("declared", "inferred", "both")],
    ("ancestors", {"model": "org/deep", "max_depth": 2}),
    *[("children", {"model": m, "edges": e}) for m in ("org/base-a", QUOTE, "org/base-b") for e in ("declared", "inferred", "both")],
    *[("parent", {"model": m, "edges": e}) for m in ("org/m1", "org/ft1", "org/deep", "org/base-a") for e in ("declared", "inferred", "both")],
    *[("siblings", {"model": m, "edges": e}) for m in ("org/ft1", "org/m1", UNICODE) for e in ("declared", "both")],
    *[("family", {"model": m}) for m in ("org/base-a", UNICODE, "org/meta-only")],
    *[("mrca", {"a": a, "b": b, "edges": e}) for a, b in [("org/m1", TICK), ("org/deep", BRACE), (UNICODE, QUOTE)] for e in ("declared", "both")],
    *[("nearest", {"model": m, "k": k}) for m in ("org/base-a", QUOTE, UNICODE) for k in (1, 5, 50)],
    ("undocumented", {}), ("undocumented", {"min_support": 0.8}),
    ("contradicted", {}), ("contradicted", {"min_support": 0.5}),
    ("family-summary", {}), ("family-summary", {"family": "fam-b", "edges": "inferred"}),
    *[("license-conflicts", {"edges": e, "show": s}) for e in ("declared", "inferred", "both") for s in ("conflicts", "unknown", "all")],
    *[("affected-by", {"model": m, "edges": e}) for m in ("org/base-a", "org/base-b", BRACE) for e in ("declared", "inferred", "both")],
    ("affected-by", {"model": "org/base-a", "min_support": 0.8}),
    *[("evolution-speed", {"edges": e}) for e in ("declared", "inferred", "both")],
    ("evolution-speed", {"family": "fam-a"}), ("evolution-speed", {"family": TICK}),
    *[("evidence", {"model": m, "k": k}) for m in ("org/ft1", QUOTE, UNICODE) for k in (1, 5, 50)],
]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GraphStore, GraphStore]]:
    embedded = graph.load(open_test_store("embedded", tmp_path_factory.mktemp("same")))
    try:
        neo4j = graph.load(open_test_store("neo4j", tmp_path_factory.mktemp("unused")))
    except BaseException:
        embedded.close()
        raise
    yield embedded, neo4j
    embedded.close()
    neo4j.close()


def same(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> bool:
    """Equal rows; floats equal to 1e-6 (the embedded store keeps DNAs as float32)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right):
        if a.keys() != b.keys():
            return False
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-6):
                    return False
            elif x != y:
                return False
    return True


def test_cases_cover_every_template():
    assert {name for name, _ in CASES} == set(load_catalogue())


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_same_rows_on_both_stores(both, name, params):
    embedded, neo4j = both
    left, right = run_template(embedded, name, params), run_template(neo4j, name, params)
    assert same(left, right), f"{name} {params}:\nembedded {left}\nneo4j    {right}"
