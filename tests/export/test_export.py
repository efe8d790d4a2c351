"""Subtree exports: each format read back by an independent library (Bio.Phylo, networkx, PIL-free
PNG header parsing), and the report formats checked for content."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import networkx as nx
import pytest
from Bio import Phylo

from ingest.cli import main
from kb.errors import InputError, NotFoundError
from kb.export import collect_subtree, export_subtree, render_subtree
from kb.export.subtree import Subtree, choose_primary
from kb.stores import StoreConfig, open_store
from tests.queries import graph
from tests.queries.graph import BRACE, QUOTE, TICK, UNICODE


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "kb"
    with open_store(StoreConfig(kind="embedded", db=path)) as store:
        graph.load(store)
    return path


@pytest.fixture
def kb(db):
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        yield store


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_subtree_members_edges_and_primary_tree(kb):
    tree = collect_subtree(kb, "org/base-a")
    assert set(tree.members) == {"org/base-a"} | {r["id"] for r in graph.descendants("org/base-a", 30)}
    assert tree.members["org/q1"]["org"] == "org" and tree.members["org/q1"]["params"] == 3_000_000
    assert ("org/b-ft", "org/base-a", "inferred") in {(e["child"], e["parent"], e["kind"]) for e in tree.edges}
    assert set(tree.primary) == set(tree.members) - {"org/base-a"}  # a spanning tree
    assert tree.primary["org/ft1"]["kind"] == "declared"  # declared wins over an agreeing inference
    assert tree.primary[BRACE]["kind"] == "inferred" and tree.primary[BRACE]["support"] == pytest.approx(0.7)
    declared = collect_subtree(kb, "org/base-a", edges="declared")
    assert BRACE not in declared.members and {e["kind"] for e in declared.edges} == {"declared"}


def test_newick_parses_back_to_the_same_leaves(kb):
    tree = collect_subtree(kb, "org/base-a")
    text = render_subtree(tree, "newick")
    parsed = Phylo.read(io.StringIO(text), "newick")
    assert sorted(c.name for c in parsed.get_terminals()) == sorted(tree.leaves())
    assert sorted(c.name for c in parsed.find_clades()) == sorted(tree.members)  # internal labels too
    assert QUOTE in tree.leaves() or QUOTE in tree.members
    [brace] = parsed.find_clades(name=BRACE)
    assert brace.branch_length == pytest.approx(0.5)  # inferred distance as branch length


def test_graphml_loads_with_the_same_nodes_and_edges(kb, tmp_path):
    tree = collect_subtree(kb, "org/base-b")
    out = export_subtree(kb, "org/base-b", "graphml", tmp_path / "b.graphml")
    loaded = nx.read_graphml(out, force_multigraph=True)
    assert set(loaded.nodes) == set(tree.members) == {"org/base-b", "org/b-ft", TICK, UNICODE, "org/m1"}
    assert sorted((u, v, d["kind"]) for u, v, d in loaded.edges(data=True)) == sorted(
        (e["child"], e["parent"], e["kind"]) for e in tree.edges
    )
    assert loaded.nodes[UNICODE]["depth"] == 1
    support = {(u, v): d.get("support") for u, v, d in loaded.edges(data=True) if d["kind"] == "inferred"}
    assert support[(UNICODE, "org/base-b")] == pytest.approx(0.85)


def test_json_has_members_edges_and_nested_tree(kb):
    data = json.loads(export_subtree(kb, "org/ft1", "json"))
    assert data["root"] == "org/ft1"
    assert [m["id"] for m in data["members"]][0] == "org/ft1"
    assert {m["id"] for m in data["members"]} == {"org/ft1", "org/ft1-ft", "org/m1", QUOTE, "org/deep"}
    assert data["tree"]["id"] == "org/ft1" and {c["id"] for c in data["tree"]["children"]} == {"org/ft1-ft", "org/m1"}
    assert sum(e["primary"] for e in data["edges"]) == 4


def test_png_and_svg_are_real_pictures(kb, tmp_path):
    png = export_subtree(kb, "org/base-a", "png", tmp_path / "a.png")
    width, height = png_size(png.read_bytes())
    assert 400 <= width <= 4000 and 200 <= height <= 2000
    svg = export_subtree(kb, "org/base-a", "svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for model in ("org/ft1", "org/deep", UNICODE if UNICODE in svg else "org/q1"):
        assert model in svg


def test_html_is_one_self_contained_file_with_the_table(kb, tmp_path):
    out = export_subtree(kb, "org/base-a", "html", tmp_path / "a.html")
    text = out.read_text(encoding="utf-8")
    tree = collect_subtree(kb, "org/base-a")
    assert text.count("<tr>") == 1 + len(tree.members)
    assert "<svg" in text and "<script>" in text and "sortable" in text
    assert "ori/it&#x27;s &quot;quoted&quot;" in text and "br{ace}s/{x}" in text  # escaped, intact
    assert "<link" not in text and " src=" not in text  # nothing loaded from elsewhere


def test_markdown_report_links_its_picture(kb, tmp_path):
    out = export_subtree(kb, "org/base-b", "md", tmp_path / "report.md")
    text = out.read_text(encoding="utf-8")
    assert "![Lineage tree under org/base-b](report.svg)" in text
    assert (tmp_path / "report.svg").read_text(encoding="utf-8").count("<svg") == 1
    assert "| back`tick/model |" in text and "| ünï/模型-ß |" in text


def big_tree(children: int = 20, grandchildren: int = 16) -> Subtree:
    """A 341-member tree without a store: the drawing must stay legible at that size."""
    members = {"base/root": {"name": "root"}}
    depth = {"base/root": 0}
    edges = []
    for i in range(children):
        child = f"org-{i:02d}/finetuned-model-with-a-long-name-{i}"
        members[child], depth[child] = {"name": child}, 1
        edges.append({"child": child, "parent": "base/root", "kind": "declared", "relation": "finetune"})
        for j in range(grandchildren):
            grand = f"quant{j}/{child.split('/')[1]}-Q{j}-GGUF"
            members[grand], depth[grand] = {"name": grand}, 2
            edges.append({"child": grand, "parent": child, "kind": "inferred", "relation": "quantized",
                          "support": 0.5 + j / 40, "distance": 0.01 * j})
    return Subtree("base/root", "both", depth, members, edges, choose_primary("base/root", depth, edges))


def test_big_tree_png_grows_with_the_leaves_and_keeps_every_label():
    tree = big_tree()
    assert len(tree.members) == 341
    width, height = png_size(render_subtree(tree, "png"))
    assert height >= 320 * 0.19 * 100 * 0.9  # ≈ one text row per leaf at ≥ 90 dpi
    assert height <= 16_000 and 1_000 <= width <= 16_000
    svg = render_subtree(tree, "svg")
    assert all(member[:40] in svg for member in tree.members)


def test_bad_export_requests(kb, tmp_path):
    with pytest.raises(InputError, match=r"^unknown export format 'pdf': use one of newick, json"):
        export_subtree(kb, "org/base-a", "pdf")
    with pytest.raises(InputError, match=r"^--format png needs --out FILE$"):
        export_subtree(kb, "org/base-a", "png")
    with pytest.raises(InputError, match=r"^--edges must be one of declared, inferred, both"):
        export_subtree(kb, "org/base-a", "newick", edges="all")
    with pytest.raises(NotFoundError, match=r"^no model 'org/base-c' in the store; did you mean"):
        export_subtree(kb, "org/base-c", "newick")
    with pytest.raises(InputError, match=r"the folder .* does not exist"):
        export_subtree(kb, "org/base-a", "svg", tmp_path / "missing" / "a.svg")


def test_cli_export(db, tmp_path, capsys):
    assert main(["--db", str(db), "export", "subtree", "org/ft1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("(") and out.rstrip().endswith("'org/ft1';")
    assert main(["--db", str(db), "export", "subtree", "org/ft1", "-f", "png", "-o", str(tmp_path / "t.png")]) == 0
    assert png_size((tmp_path / "t.png").read_bytes())[0] > 0
    capsys.readouterr()
    assert main(["--db", str(db), "export", "subtree", "org/ft9"]) == 1
    assert capsys.readouterr().err.startswith("Error: no model 'org/ft9' in the store; did you mean 'org/ft1'")
