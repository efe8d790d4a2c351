"""`dnakb export tree`, `dnakb export timeline` and `dnakb report` through the real CLI on the test graph."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from Bio import Phylo

from ingest.cli import main
from kb.stores import StoreConfig, open_store
from tests.queries import graph

WITH_DNA = sorted(graph.dnas())


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("whole") / "kb"
    with open_store(StoreConfig(kind="embedded", db=path)) as store:
        graph.load(store)
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_tree_newick_over_every_model_with_a_dna(db, capsys):
    code, out, _ = run(capsys, "--db", db, "export", "tree")
    assert code == 0
    tree = Phylo.read(io.StringIO(out), "newick")
    assert sorted(t.name for t in tree.get_terminals()) == WITH_DNA
    assert len(tree.root.clades) == 2  # rooted
    # auto rooting: on the branch of the earliest release (org/base-a, 2024-01-01)
    assert "org/base-a" in {c.name for c in tree.root.clades}


def test_export_tree_selection_and_root(db, capsys):
    code, out, _ = run(capsys, "--db", db, "export", "tree", "--family", "fam-b", "--root", "midpoint")
    assert code == 0
    leaves = {t.name for t in Phylo.read(io.StringIO(out), "newick").get_terminals()}
    assert leaves == {m for m in WITH_DNA if graph.FAMILY_OF[m] == "fam-b"}
    code, out, _ = run(capsys, "--db", db, "export", "tree", "--family", graph.TICK, "--family", "org/q1",
                       "--since", "2024-01-02", "--root", "outgroup:org/q1", "--distance", "text")
    tree = Phylo.read(io.StringIO(out), "newick")
    assert code == 0 and "org/q1" in {c.name for c in tree.root.clades}
    assert "org/base-a" not in {t.name for t in tree.get_terminals()}  # released 2024-01-01
    code, out, _ = run(capsys, "--db", db, "export", "tree", "--org", "nobody")
    assert code == 1


@pytest.mark.parametrize("fmt", ["svg", "png", "html"])
def test_export_tree_pictures(db, capsys, tmp_path, fmt):
    out = tmp_path / f"tree.{fmt}"
    code, _, err = run(capsys, "--db", db, "export", "tree", "-f", fmt, "-o", str(out), "--colour", "org")
    assert code == 0 and err.strip() == f"wrote {out}"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" if fmt == "png" else b"<svg" in data


def test_export_timeline(db, capsys, tmp_path):
    code, out, _ = run(capsys, "--db", db, "export", "timeline")
    assert code == 0 and "<svg" in out and 'id="point-label-' in out
    code, _, _ = run(capsys, "--db", db, "export", "timeline", "--family", "fam-a", "--from", "org/base-a",
                     "-f", "html", "-o", str(tmp_path / "t.html"))
    assert code == 0 and "DNA distance from org/base-a" in (tmp_path / "t.html").read_text()


def test_report_whole_and_family(db, capsys, tmp_path):
    out = tmp_path / "report.html"
    code, _, err = run(capsys, "--db", db, "report", "--out", str(out))
    assert code == 0 and err.strip() == f"wrote {out}"
    text = out.read_text()
    assert text.count("<svg") == 2 and "Licence conflicts" in text and "org/b-ft" in text
    code, _, _ = run(capsys, "--db", db, "report", "--family", "fam-a", "-o", str(out))
    text = out.read_text()
    assert code == 0 and "family fam-a (root org/base-a)" in text
    assert graph.UNICODE not in text.split("Evolution speed")[1]  # fam-b's rows are left out


@pytest.mark.parametrize(("args", "message"), [
    (["export", "tree", "-f", "pdf"], "Error: unknown format 'pdf': use one of newick, svg, png, html"),
    (["export", "tree", "-f", "png"], "Error: --format png needs --out FILE"),
    (["export", "tree", "--family", "fam-z"], "Error: no family or model 'fam-z' in the store; did you mean"),
    (["export", "tree", "--root", "outgroup:org/nobody"], "Error: --root outgroup:org/nobody: 'org/nobody' is not among the tree's models"),
    (["export", "tree", "--colour", "licence"], "Error: --colour must be one of family, architecture, org"),
    (["export", "tree", "--distance", "weights"], "Error: distance must be one of evidence, text"),
    (["export", "tree", "--since", "yesterday"], "Error: unparseable date 'yesterday'"),
    (["export", "timeline", "--from", "org/meta-only"], "Error: --from org/meta-only: that model has no DNA"),
    (["report", "--out", "/nonexistent/dir/r.html"], "Error: cannot write /nonexistent/dir/r.html: the folder"),
])
def test_bad_requests_are_one_line(db, capsys, args, message):
    code, _, err = run(capsys, "--db", db, *args)
    assert code == 1 and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_too_many_models_for_one_tree_is_refused_and_the_report_says_so(db, capsys, tmp_path, monkeypatch):
    import kb.lineage.kbtree

    monkeypatch.setattr(kb.lineage.kbtree, "NJ_MAX", 5)
    code, _, err = run(capsys, "--db", db, "export", "tree")
    assert code == 1 and err.startswith("Error: 13 models: one tree is O(n³) and limited to 5; select families")
    code, out, _ = run(capsys, "--db", db, "export", "tree", "--family", "fam-b")
    assert code == 0 and out.endswith(";\n")
    code, _, _ = run(capsys, "--db", db, "report", "-o", str(tmp_path / "r.html"))
    assert code == 0 and "Not drawn: 13 models: one tree is O(n³)" in (tmp_path / "r.html").read_text()


def test_report_on_a_kb_without_dnas_says_what_needs_them(tmp_path, capsys):
    from kb.records import DeclaredEdge, ModelRecord

    path = tmp_path / "meta"
    with open_store(StoreConfig(kind="embedded", db=path)) as store:
        store.upsert_models([ModelRecord(id="a/base", released="2023-01-01", license="llama2"),
                             ModelRecord(id="b/ft", released="2023-03-01", license="mit")])
        store.upsert_declared_edges([DeclaredEdge("b/ft", "a/base")])
    out = tmp_path / "r.html"
    code, _, _ = run(capsys, "--db", str(path), "report", "-o", str(out))
    text = out.read_text()
    assert code == 0 and text.count("Not drawn: the KB holds no DNAs") == 2
    assert "root:a/base" in text and "more-permissive" in text
