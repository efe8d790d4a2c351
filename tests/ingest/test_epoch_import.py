"""Epoch AI's model table through import-lineage: rows, dates, tags and Base-model edges, checked against
the file read with the csv module; a constructed table for the corner cases."""

from __future__ import annotations

import csv

from ingest.lineage_import import import_lineage, read_lineage


def test_the_real_epoch_table(shared_data, tmp_path):
    path = shared_data / "epoch-ai" / "all_ai_models.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["Model"].strip()]
    clean = lambda text: " ".join(text.split())  # noqa: E731 - a few names hold line breaks
    names = {clean(r["Model"]) for r in rows}
    bases = {(clean(r["Model"]), clean(b)) for r in rows for b in r["Base model"].split(",") if b.strip()}
    models, edges, graph = read_lineage([path])
    by_id = {m.id: m for m in models}
    assert names <= set(by_id) and set(by_id) == names | {p for _, p in bases}
    assert {(e.child, e.parent) for e in edges} == bases - {(c, p) for c, p in bases if c == p}
    assert {e.relation for e in edges} == {"finetune"} and {e.source for e in edges} == {"epoch-ai-untyped"}
    qwq = by_id["QwQ-32B"]
    assert qwq.released == "2025-03-06" and qwq.license is None and "epoch-ai" in qwq.tags
    assert "access:Open weights (unrestricted)" in qwq.tags and "domain:Language" in qwq.tags
    assert ("QwQ-32B", "Qwen2.5-Coder (32B)") in {(e.child, e.parent) for e in edges}
    assert any("base models have no row of their own" in w for w in graph.warnings)
    assert "Cosmos-1.0- Diffusion-14B Video2World" in by_id  # a line break inside the name


def test_a_constructed_epoch_table(tmp_path, store):
    path = tmp_path / "epoch.csv"
    path.write_text(
        "Model,Domain,Organization,Publication date,Parameters,Model accessibility,Base model,Abstract\n"
        'Base A,Language,Acme,2023-01-05,7000000000.0,Open weights (restricted use),,"a, b\nc"\n'
        "Tuned B,Language,Lab,2023-06-01,7e9,Open weights (non-commercial),\"Base A, Other C\",\n"
        "Bad D,Vision,,not a date,many,,,\n"
        ",Language,,,,,,\n",
        encoding="utf-8",
    )
    report = import_lineage(path, store)
    assert report.models == 4 and report.edges == 2
    got = {m.id: m for m in store.get_models()}
    assert got["Base A"].params == 7_000_000_000 and got["Base A"].org == "Acme"
    assert got["Tuned B"].released == "2023-06-01" and "access:Open weights (non-commercial)" in got["Tuned B"].tags
    assert got["Bad D"].released is None and got["Bad D"].params is None  # a bad date is dropped, with a warning
    assert {(e.child, e.parent) for e in store.declared_edges()} == {("Tuned B", "Base A"), ("Tuned B", "Other C")}
    assert any("line 5 has no model name" in w for w in report.warnings)
    assert any("parameters 'many' is not a number" in w for w in report.warnings)
    assert any("Bad D" in w and "date dropped" in w for w in report.warnings)
