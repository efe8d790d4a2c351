"""Property tests: whatever a manifest or a `--param` holds, validation gives a clean error or a valid
result, never another exception."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from ingest.manifest import ENTRY_KEYS, parse_manifest
from kb.errors import InputError
from kb.templates import bind_params, load_catalogue

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

EDGE_NUMBERS = st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), 10**400, 1e308, float("inf"), float("-inf"),
                                float("nan"), 1e-320, 0.5])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), EDGE_NUMBERS, TEXT,
                    st.dates().map(str), st.just("2024-02-30"), st.just("2024-13-45"))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)
KEYS = st.one_of(st.sampled_from(ENTRY_KEYS + ("parents", "parents")), TEXT)
ENTRY = st.dictionaries(KEYS, VALUES, max_size=8)
MANIFEST = st.one_of(st.lists(ENTRY, max_size=5).map(lambda rows: {"models": rows}), st.lists(ENTRY, max_size=5), VALUES)


def _check(path: Path) -> None:
    try:
        entries = parse_manifest(path)
    except InputError as error:
        assert str(error).strip()
        return
    for e in entries:  # a valid plan: every entry has an id, an existing path and known values
        assert isinstance(e.id, str) and e.id.strip() and e.path.exists()
        assert e.params is None or 0 <= e.params < 2**63


@SETTINGS
@given(data=MANIFEST, spelling=st.sampled_from(["yaml", "json"]))
def test_any_yaml_or_json_manifest_is_a_clean_error_or_a_valid_plan(data, spelling, tmp_path) -> None:
    path = tmp_path / f"m.{spelling}"
    if spelling == "yaml":
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
    else:
        path.write_text(json.dumps(data, default=str))
    _check(path)


@SETTINGS
@given(rows=st.lists(st.dictionaries(st.sampled_from(ENTRY_KEYS + ("colour",)), TEXT, max_size=8), max_size=5))
def test_any_csv_manifest_is_a_clean_error_or_a_valid_plan(rows, tmp_path) -> None:
    buffer = io.StringIO()
    columns = sorted({key for row in rows for key in row}) or ["id"]
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "m.csv"
    path.write_text(buffer.getvalue())
    _check(path)


@SETTINGS
@given(raw=st.binary(max_size=200), suffix=st.sampled_from(["yaml", "json", "csv"]))
def test_any_bytes_as_a_manifest(raw, suffix, tmp_path) -> None:
    path = tmp_path / f"m.{suffix}"
    path.write_bytes(raw)
    _check(path)


@SETTINGS
@given(name=st.sampled_from(sorted(load_catalogue())),
       params=st.dictionaries(st.one_of(st.sampled_from(["model", "k", "max_depth", "edges", "min_support",
                                                          "family", "other"]), TEXT),
                              st.one_of(TEXT, st.integers(), st.floats(allow_nan=True), st.booleans(), EDGE_NUMBERS),
                              max_size=4))
def test_any_template_parameters_are_a_clean_error_or_typed_values(name, params) -> None:
    template = load_catalogue()[name]
    try:
        bound = bind_params(template, params)
    except InputError as error:
        assert str(error).strip()
        return
    assert set(bound) == {p.name for p in template.params}
    for p in template.params:
        value = bound[p.name]
        if p.bounds:
            assert isinstance(value, int) and p.bounds[0] <= value <= p.bounds[1]
        if p.type == "float":
            assert value == value and abs(value) != float("inf")
