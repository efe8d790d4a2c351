"""license-conflicts, affected-by and evolution-speed on a real Hugging Face model tree (Llama-2-7b,
../shared/data), on both stores, against oracles read straight from the file."""

from __future__ import annotations

import datetime as dt
import json
import re

import networkx as nx
import numpy as np
import pytest

from ingest.lineage_import import import_lineage
from kb.licenses import compatibility
from kb.templates import run_template
from tests.ingest.test_lineage_import import expected_counts

LICENCE_TAG = re.compile(r'"license:([^"]+)"')
ROOT = "meta-llama/Llama-2-7b"


def file_facts(path) -> tuple[set[str], dict[tuple[str, str], str | None], dict[str, str], dict[str, str]]:
    """Models, edges, licences (`license:` tags) and dates (`created_at`) of the crawled rows."""
    models, edges = expected_counts(path)
    licences, dates = {}, {}
    for row in json.loads(path.read_text())["models"]:
        model = row["model_id"].split("huggingface.co/")[-1].strip("/")
        found = LICENCE_TAG.search(row["metadata"] or "")
        if found:
            licences[model] = found.group(1)
        info = json.loads(row["metadata"]) if (row["metadata"] or "").startswith("{") else {}
        if info.get("created_at"):
            dates[model] = info["created_at"][:10]
    return models, edges, licences, dates


@pytest.fixture
def llama(shared_data, store):
    path = shared_data / "hf-model-trees" / "Llama-2-7b.json"
    import_lineage([path], store)
    return store, file_facts(path)


def test_license_conflicts_on_the_real_tree(llama):
    store, (models, edges, licences, _) = llama
    up = nx.DiGraph(list(edges))
    want = []
    for model in sorted(m for m in up if up.out_degree(m)):
        for ancestor, depth in sorted(nx.single_source_shortest_path_length(up, model).items(), key=lambda x: (x[1], x[0])):
            verdict = compatibility(licences.get(ancestor), licences.get(model))
            if depth and verdict.verdict in ("more-permissive", "incompatible"):
                want.append((model, ancestor, depth, verdict.verdict))
    rows = run_template(store, "license-conflicts", {"edges": "declared", "show": "conflicts"})
    assert [(r["model"], r["ancestor"], r["depth"], r["verdict"]) for r in rows] == want
    assert len(want) >= 20 and {r["ancestor_license"] for r in rows} == {"llama2"}  # relicensed fine-tunes


def test_affected_by_a_withdrawn_base(llama):
    store, (models, edges, _, _) = llama
    rows = run_template(store, "affected-by", {"model": ROOT, "edges": "declared"})
    below = nx.ancestors(nx.DiGraph(list(edges)), ROOT)
    assert {r["id"] for r in rows} == below and len(rows) == 173
    assert all(r["weakest_support"] == 1.0 and r["inferred_edges"] == 0 for r in rows)
    assert all(r["path"][0] == ROOT and len(r["path"]) == r["depth"] + 1 for r in rows)


def test_evolution_speed_on_the_real_tree(llama):
    store, (models, edges, _, dates) = llama
    days = []
    for child, parent in edges:
        if child in dates and parent in dates:
            gap = (dt.date.fromisoformat(dates[child]) - dt.date.fromisoformat(dates[parent])).days
            if gap > 0:
                days.append(gap)
    [row] = run_template(store, "evolution-speed", {"edges": "declared", "family": ROOT})
    assert row["family"] == f"root:{ROOT}" and row["edges"] == len(edges) == 173
    assert row["dated_edges"] == len(days) and row["median_days"] == pytest.approx(float(np.median(days)))
    assert row["dna_edges"] == 0 and row["median_rate"] is None  # no DNAs: rates need them
