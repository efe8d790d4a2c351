"""`ingest()` / `dnakb ingest` on real tiny models: idempotence, duplicates, failures, crashes, placement."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from ingest.api import ingest
from ingest.cli import main
from ingest.evaluation import stored_as
from kb.errors import InputError, ProtocolMismatchError
from kb.records import Family, Membership, ModelRecord
from tests.ingest.models import cli_protocol, protocol, write_manifest


@pytest.fixture
def zoo(ingest_zoo):
    return ingest_zoo


def manifest(zoo, *names, **extra):
    parents = {"tuned": "t/base", "tuned2": "t/tuned"}
    entries = [{"id": f"t/{n}", "path": str(zoo / n), "released": "2024-01-0%d" % (i + 1),
                **({"parents": [{"id": parents[n], "relation": "finetune"}]} if n in parents else {})}
               for i, n in enumerate(names)]
    return write_manifest(extra.get("folder", zoo), entries)


def check_consistent(store):
    """No half-written node: ok <=> DNA + fingerprint + protocol; pending/failed have no fresh DNA."""
    for model in store.get_models():
        if model.status == "ok":
            assert model.dna is not None and len(model.dna) == 128 and model.fingerprint and model.protocol
            assert not model.error
        elif model.status == "failed":
            assert model.error


def test_ingest_then_rerun_does_no_work(zoo, store, tmp_path, artifacts):
    path = manifest(zoo, "base", "tuned", "twin", folder=tmp_path)
    report = ingest(path, store, protocol=protocol(), artifacts=artifacts)
    assert [(o.id, o.status) for o in report.outcomes] == [("t/base", "ok"), ("t/tuned", "ok"), ("t/twin", "duplicate")]
    assert report.exit_code == 0
    stats = store.stats()
    assert (stats.models, stats.models_with_dna, stats.declared_edges, stats.duplicate_edges) == (3, 2, 1, 1)
    check_consistent(store)
    (twin,) = store.get_models(["t/twin"])
    assert twin.status == "duplicate" and twin.dna is None
    assert store.cypher("MATCH (a:Model)-[:DUPLICATE_OF]->(b:Model) RETURN a.id AS a, b.id AS b") == [{"a": "t/twin", "b": "t/base"}]
    assert stored_as(store, ["t/base", "t/tuned", "t/twin"]) == {"t/twin": "t/base"}  # evaluation scores it so
    before = {m.id: m.as_row() for m in store.get_models()}

    again = ingest(path, store, protocol=None, artifacts=artifacts)  # the KB's protocol is reused
    assert [o.status for o in again.outcomes] == ["skipped", "skipped", "duplicate"]
    assert again.protocol == report.protocol
    assert {m.id: m.as_row() for m in store.get_models()} == before
    assert store.stats() == stats

    with pytest.raises(ProtocolMismatchError, match="this KB's DNAs use protocol"):
        from ingest.api import make_protocol

        ingest(path, store, protocol=make_protocol(7, 6), artifacts=artifacts)


def test_failure_is_recorded_then_retried_and_a_crash_spares_the_others(zoo, store, tmp_path, monkeypatch, artifacts):
    broken = tmp_path / "broken"
    shutil.copytree(zoo / "base", broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file at all")
    entries = [
        {"id": "t/base", "path": str(zoo / "base")},
        {"id": "t/broken", "path": str(broken), "parents": "t/base"},
        {"id": "t/tuned", "path": str(zoo / "tuned"), "parents": "t/base"},
        {"id": "t/tuned2", "path": str(zoo / "tuned2"), "parents": "t/tuned"},
    ]
    monkeypatch.setenv("DNAKB_FAULT", "worker@t/tuned=segv")  # that worker dies with SIGSEGV
    report = ingest(write_manifest(tmp_path, entries), store, workers=2, protocol=protocol(), artifacts=artifacts)
    status = {o.id: o for o in report.outcomes}
    assert [status[i].status for i in ("t/base", "t/broken", "t/tuned", "t/tuned2")] == ["ok", "failed", "failed", "ok"]
    assert "worker crashed (signal SIGSEGV)" in status["t/tuned"].reason
    assert status["t/broken"].reason
    assert report.exit_code == 1
    nodes = {m.id: m for m in store.get_models()}
    assert nodes["t/tuned"].status == "failed" and "SIGSEGV" in nodes["t/tuned"].error
    assert nodes["t/broken"].status == "failed" and nodes["t/broken"].error == status["t/broken"].reason
    check_consistent(store)

    monkeypatch.delenv("DNAKB_FAULT")
    shutil.rmtree(broken)
    shutil.copytree(zoo / "tuned3", broken)
    again = ingest(write_manifest(tmp_path, entries), store, protocol=protocol(), artifacts=artifacts)
    assert [o.status for o in again.outcomes] == ["skipped", "ok", "ok", "skipped"]
    nodes = {m.id: m for m in store.get_models()}
    assert nodes["t/tuned"].status == "ok" and not nodes["t/tuned"].error
    check_consistent(store)


def test_cli_no_declared_conflict_and_placement(zoo, tmp_path, capsys, artifacts):
    db = str(tmp_path / "kb")
    art = ["--artifacts", str(artifacts)]
    path = manifest(zoo, "base", "tuned", folder=tmp_path)
    code = main(["--db", db, "ingest", str(path), *cli_protocol(tmp_path), *art, "--no-declared", "--json", "--quiet"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and (data["ok"], data["failed"]) == (2, 0)

    from kb.stores import StoreConfig, open_store

    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as store:
        assert store.declared_edges() == []
        # a KB with inferred lineage: one family of both models (as `dnakb infer` would write)
        store.replace_inferred([Family("fam-0", 2, root="t/base")],
                               [Membership("t/base", "fam-0", 1.0), Membership("t/tuned", "fam-0", 0.9)], [])
        # the same id with other weights is refused, the node untouched
        store.upsert_models([ModelRecord(id="t/other", fingerprint="0" * 64, status="metadata")])
    entries = [{"id": "t/tuned2", "path": str(zoo / "tuned2"), "released": "2024-02-01"},
               {"id": "t/other", "path": str(zoo / "tuned2")}]
    code = main(["--db", db, "ingest", str(write_manifest(tmp_path, entries)), *art])
    out, err = capsys.readouterr()
    assert code == 1
    assert re.search(r"t/tuned2 +ok", out) and re.search(r"t/other +failed +\S+ +id is stored with other weights", out)
    assert "[2/2] t/tuned2: ok" in err
    assert err.strip().endswith("Error: 1 of 2 model(s) failed (t/other); fix them and re-run: finished models are kept")
    with open_store(StoreConfig(kind="embedded", db=tmp_path / "kb")) as store:
        (edge,) = [e for e in store.inferred_edges() if e.child == "t/tuned2"]
        assert edge.provisional and edge.parent in ("t/base", "t/tuned") and edge.method == "nearest-dna"
        assert Membership("t/tuned2", "fam-0", 1.0 if edge.parent == "t/base" else 0.9) in store.memberships()
        assert store.get_models(["t/other"])[0].fingerprint == "0" * 64


def test_bad_manifest_is_refused_before_any_work(zoo, tmp_path, capsys):
    path = write_manifest(tmp_path, [{"id": "a", "path": str(zoo / "base"), "colour": "red"},
                                     {"id": "b", "path": str(tmp_path / "missing")}])
    db = tmp_path / "kb"
    assert main(["--db", str(db), "ingest", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {path}: 2 problem(s) in 2 entries, nothing was ingested")
    assert "entry 1 (a): unknown key 'colour'" in err and "entry 2 (b): path does not exist" in err
    with pytest.raises(InputError, match="need at least 1"):
        ingest([{"id": "a", "path": str(zoo / "base")}], None, workers=0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown device 'gpu0'"):
        ingest([{"id": "a", "path": str(zoo / "base")}], None, devices="gpu0")  # type: ignore[arg-type]
