"""`dnakb query` and `dnakb cypher` through the real command line (embedded store on disk)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ingest.cli import main
from kb.stores import StoreConfig, open_store
from tests.queries import graph
from tests.queries.graph import QUOTE, TICK, UNICODE


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "kb"
    with open_store(StoreConfig(kind="embedded", db=path)) as store:
        graph.load(store)
    return path


def run(db, capsys, *args):
    code = main(["--store", "embedded", "--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_query_list_names_every_template(db, capsys):
    code, out, _ = run(db, capsys, "query", "--list")
    assert code == 0
    for name in ("descendants", "ancestors", "mrca", "nearest", "family-summary", "undocumented"):
        assert name in out
    assert "model=<model> [max_depth=10] [edges=both]" in out


def test_query_table_json_csv(db, capsys):
    code, out, _ = run(db, capsys, "query", "ancestors", "--param", "model=org/deep", "--param", "edges=declared")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "depth", "is_root"]
    assert [line.split()[0] for line in lines[2:]] == ["ori/it's", "org/ft1-ft", "org/ft1", "org/base-a"]
    code, out, _ = run(db, capsys, "query", "mrca", "-p", f"a={TICK}", "-p", f"b={UNICODE}", "--json")
    assert code == 0 and json.loads(out) == [{"id": "org/base-b", "name": "base-b", "from_a": 2, "from_b": 1}]
    code, out, _ = run(db, capsys, "query", "children", "-p", f"model={QUOTE}", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["id"], r["edge"]) for r in rows] == [("org/deep", "declared"), ("org/deep", "inferred")]


def test_query_errors_are_one_line(db, capsys):
    for args, message in [
        (["query", "descendents", "-p", "model=org/ft1"], "Error: no query template 'descendents'; did you mean descendants, descendant-count"),
        (["query", "descendants"], "Error: template 'descendants' needs parameter 'model': pass --param model=<model>"),
        (["query", "descendants", "-p", "model=org/ft1", "-p", "k=3"], "Error: template 'descendants' has no parameter 'k' (its parameters: model, max_depth, edges)"),
        (["query", "parent", "-p", "model=org/ft2"], "Error: no model 'org/ft2' in the store; did you mean 'org/ft1'"),
        (["cypher", "MATCH (m:Model) SET m.name = 'x'"], "Error: query contains the write clause SET; pass --write to allow it"),
        (["cypher", "MATCH (m:Model RETURN m"], "Error: query failed: Parser exception"),
    ]:
        code, out, err = run(db, capsys, *args)
        assert code == 1, args
        assert err.startswith(message), (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cypher_read_params_and_write(db, capsys):
    code, out, _ = run(db, capsys, "cypher", "MATCH (m:Model {id: $id}) RETURN m.name AS name, $n + 1 AS n",
                       "-p", f"id={TICK}", "-p", "n=41", "--json")
    assert code == 0 and json.loads(out) == [{"name": "model", "n": 42}]
    code, _, _ = run(db, capsys, "cypher", "MATCH (m:Model {id: $id}) SET m.org = 'renamed'", "-p", f"id={TICK}", "--write")
    assert code == 0
    code, out, _ = run(db, capsys, "cypher", "MATCH (m:Model {id: $id}) RETURN m.org AS org", "-p", f"id={TICK}", "--json")
    assert json.loads(out) == [{"org": "renamed"}]
