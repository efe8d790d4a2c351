"""Bad input of every kind through the real CLI: one `Error:` line (or click's usage) and a non-zero
exit, never a traceback, nothing accepted that is wrong, and nothing stored changed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ingest.cli import main
from kb.records import DeclaredEdge, ModelRecord
from kb.stores import StoreConfig, open_store


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def kb(tmp_path):
    """A KB holding a -> b (declared), and a snapshot function of everything in it."""
    db = tmp_path / "kb"
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        store.upsert_models([ModelRecord(id=i, org="o") for i in ("m/a", "m/b", "m/c")])
        store.upsert_declared_edges([DeclaredEdge("m/b", "m/a"), DeclaredEdge("m/c", "m/b")])

    def snapshot() -> str:
        with open_store(StoreConfig(kind="embedded", db=db)) as store:
            return json.dumps([[m.as_row() for m in store.get_models()],
                               [vars(e) for e in store.declared_edges()]], sort_keys=True, default=str)

    return db, snapshot


def manifest(folder: Path, body: str, name: str = "m.yaml") -> Path:
    path = folder / name
    path.write_text(body)
    return path


def entry(model: Path, extra: str = "") -> str:
    return f"models:\n  - id: n/x\n    path: {model}\n{extra}"


BAD_MANIFESTS = [
    ("    released: 2024-13-45\n", "released='2024-13-45' is not a real date"),
    ("    released: 2024-02-30\n", "released='2024-02-30' is not a real date"),
    ("    released: '2024-01-01 is when it shipped'\n", "is not a real date"),
    ("    params: .inf\n", "params=inf is not a whole number"),
    ("    params: 1e400\n", "is not a whole number"),
    ("    params: 9223372036854775808\n", "is not a whole number from 0 to 2^63 - 1"),
    ("    org: a\n    org: b\n", "key 'org' given twice in one entry"),
    ("    parents: m/c\n", "declared parents would close a cycle"),  # with m/c -> m/b -> m/a stored: no cycle
]


@pytest.mark.parametrize("extra,needle", BAD_MANIFESTS)
def test_bad_manifests(extra, needle, kb, tiny_llama, tmp_path, capsys) -> None:
    db, snapshot = kb
    before = snapshot()
    if "cycle" in needle:  # m/a's parent is m/c: m/a -> m/c -> m/b -> m/a
        body = f"models:\n  - id: m/a\n    path: {tiny_llama}\n    parents: m/c\n"
    else:
        body = entry(tiny_llama, extra)
    code, _, err = run(capsys, "--db", str(db), "ingest", str(manifest(tmp_path, body)),
                       "--artifacts", str(tmp_path / "art"), "-q")
    assert code == 1 and needle in one_error_line(err)
    assert snapshot() == before
    assert not (tmp_path / "art").exists() or not any((tmp_path / "art").iterdir())


def test_manifest_files_that_are_not_manifests(kb, tmp_path, capsys) -> None:
    db, snapshot = kb
    before = snapshot()
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, needle in [(binary, "is not a UTF-8 text file"), (tmp_path, "(it is a folder)"),
                         (manifest(tmp_path, '{"models": [{"id": "a", "id": "b"}]}', "m.json"), "given twice"),
                         (manifest(tmp_path, "models:\n  - id: 123\n    path: x\n", "n.yaml"), "id 123 is a number"),
                         (manifest(tmp_path, "models:\n  - id: \"a\\nb\"\n    path: x\n", "c.yaml"), "control character")]:
        code, _, err = run(capsys, "--db", str(db), "ingest", str(path), "-q")
        assert code == 1 and needle in one_error_line(err), (path, err)
    assert snapshot() == before


def test_unwritable_artifacts_are_refused_before_any_extraction(kb, tiny_llama, tmp_path, capsys) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/dnakb-artifacts")  # not writable even for root
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(stat.S_IREAD | stat.S_IEXEC)
    db, snapshot = kb
    before = snapshot()
    code, _, err = run(capsys, "--db", str(db), "ingest", str(manifest(tmp_path, entry(tiny_llama))),
                       "--artifacts", str(target), "-q")
    assert code == 1 and "cannot write artifacts into" in one_error_line(err)
    assert snapshot() == before


def test_lineage_files_that_would_break_the_lineage(kb, tmp_path, capsys) -> None:
    db, snapshot = kb
    before = snapshot()
    cases = [
        ("cycle.csv", "child,parent\nx/a,x/b\nx/b,x/c\nx/c,x/a\n", "declared parents would close a cycle"),
        ("closing.csv", "child,parent\nm/a,m/c\n", "declared parents would close a cycle: m/a -> m/c -> m/b -> m/a"),
        ("tree.json", json.dumps({"models": [{"model_id": "x/root", "children": "x/child"}]}),
         "'children' must be a list of model ids"),
    ]
    for name, text, needle in cases:
        (tmp_path / name).write_text(text)
        code, _, err = run(capsys, "--db", str(db), "import-lineage", str(tmp_path / name), "-q")
        assert code == 1 and needle in one_error_line(err), (name, err)
        assert snapshot() == before, name


def test_query_parameters(kb, capsys) -> None:
    db, _ = kb
    for args, needle in [
        (["query", "descendants", "-p", "model=m/a", "-p", "colour=red"], "has no parameter 'colour'"),
        (["query", "undocumented", "-p", "min_support=nan"], "must be a finite number"),
        (["cypher", "MATCH (m:Model) RETURN size(m.id, 1) AS x"], "query failed:"),
    ]:
        code, _, err = run(capsys, "--db", str(db), *args)
        assert code == 1 and needle in one_error_line(err), (args, err)


def test_export_to_places_that_cannot_be_written(kb, tmp_path, capsys) -> None:
    db, _ = kb
    for out, needle in [(tmp_path, "it is a folder"), (Path("/dev/full"), "cannot write /dev/full"),
                        (Path("/proc/dnakb.svg"), "cannot write /proc/dnakb.svg"),
                        (tmp_path / "no" / "x.svg", "does not exist")]:
        code, _, err = run(capsys, "--db", str(db), "export", "subtree", "m/a", "--format", "svg", "--out", str(out))
        assert code == 1 and needle in one_error_line(err), (out, err)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:7474", "127.0.0.1:7687", "localhost"])
def test_a_neo4j_uri_that_is_not_bolt(uri, capsys) -> None:
    code, _, err = run(capsys, "--store", "neo4j", "--neo4j-uri", uri, "--neo4j-password", "x1234567", "status")
    assert code == 1 and "expected a Bolt URI" in one_error_line(err)


def test_a_gguf_without_the_suffix_runs_when_the_backend_is_named(tiny_llama_gguf, tmp_path, capsys) -> None:
    from ingest.backends import resolve_model

    renamed = tmp_path / "model-q8"
    renamed.write_bytes(tiny_llama_gguf["q8_0"].read_bytes())
    assert resolve_model(renamed, "llama-cpp") == ("llama-cpp", renamed)
    with pytest.raises(Exception, match="not a .gguf"):
        resolve_model(renamed)


def test_a_path_naming_no_such_home_is_a_listed_problem(tmp_path) -> None:
    from ingest.manifest import parse_manifest
    from kb.errors import InputError

    path = manifest(tmp_path, "models:\n  - {id: a, path: '~0'}\n  - {id: b, path: \"x\\0y\"}\n")
    with pytest.raises(InputError) as raised:
        parse_manifest(path)
    assert str(raised.value).count("path does not exist") == 2
