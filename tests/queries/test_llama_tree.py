"""Real data: the Hugging Face model tree of Llama-2-7b (April 2025 crawl, ../shared/data).

The expected descendants are computed here straight from the file, independently of the importer:
every model listed in any crawled model's children/adapters/quantized/merges lists, closed
transitively from the root; leaf models appear only inside their parents' lists.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from ingest.cli import main as dnakb
from ingest.lineage_import import import_lineage
from kb.templates import run_template
from tests.conftest import open_test_store

ROOT = "meta-llama/Llama-2-7b"
LISTS = ("children", "adapters", "quantized", "merges")


def expected_descendants(path: Path) -> set[str]:
    def hub(url: str) -> str:
        return url.strip().removeprefix("https://huggingface.co/").strip("/")

    kids: dict[str, set[str]] = {}
    for row in json.loads(path.read_text(encoding="utf-8"))["models"]:
        for key in LISTS:
            kids.setdefault(hub(row["model_id"]), set()).update(hub(u) for u in row.get(key) or [])
    seen: set[str] = set()
    stack = [ROOT]
    while stack:
        for child in kids.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


@pytest.fixture
def tree_file(shared_data: Path) -> Path:
    return shared_data / "hf-model-trees" / "Llama-2-7b.json"


def test_descendants_of_llama2_are_exactly_the_tree(store, tree_file):
    expected = expected_descendants(tree_file)
    assert len(expected) == 173
    import_lineage([tree_file], store)
    rows = run_template(store, "descendants", {"model": ROOT})
    assert {r["id"] for r in rows} == expected
    assert len(rows) == 173
    counted = run_template(store, "descendant-count", {"model": ROOT, "edges": "declared"})
    assert counted[0]["descendants"] == 173  # the lineage index, on real data
    assert run_template(store, "ancestors", {"model": sorted(expected)[0]})[-1]["id"] == ROOT


def test_cli_query_and_export_render(tree_file, tmp_path, capsys):
    """The issue's commands, then the subtree exported as SVG, PNG and HTML."""
    db = ["--store", "embedded", "--db", str(tmp_path / "kb")]
    assert dnakb([*db, "import-lineage", str(tree_file)]) == 0
    capsys.readouterr()
    assert dnakb([*db, "query", "descendants", "--param", f"model={ROOT}", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == expected_descendants(tree_file)
    for fmt in ("svg", "png", "html"):
        out = tmp_path / f"llama.{fmt}"
        assert dnakb([*db, "export", "subtree", ROOT, "--format", fmt, "--out", str(out)]) == 0
        assert out.stat().st_size > 10_000
    png = (tmp_path / "llama.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 800 <= width <= 16_000 and 2_000 <= height <= 16_000  # grows with 140+ leaves
    html = (tmp_path / "llama.html").read_text(encoding="utf-8")
    assert html.count("<tr>") == 1 + 174 and "TheBloke/meditron-7B-GGUF" in html
    svg = (tmp_path / "llama.svg").read_text(encoding="utf-8")
    assert "TheBloke/meditron-7B-GGUF" in svg


def test_embedded_and_neo4j_agree_on_the_tree(tree_file, tmp_path):
    stores = [open_test_store("embedded", tmp_path), open_test_store("neo4j", tmp_path)]
    try:
        answers = []
        for store in stores:
            import_lineage([tree_file], store)
            answers.append([
                run_template(store, "descendants", {"model": ROOT, "max_depth": 5}),
                run_template(store, "children", {"model": ROOT}),
                run_template(store, "mrca", {"a": "TheBloke/meditron-7B-chat-GGUF", "b": "TheBloke/meditron-7B-GGUF"}),
            ])
        assert answers[0] == answers[1]
    finally:
        for store in stores:
            store.close()
