"""`infer` and `dnakb infer` against a real embedded store."""

import json

import numpy as np
import pytest

from kb.errors import InputError, NotFoundError
from ingest.cli.eval import format_report
from kb.lineage.evaluate import evaluate
from kb.lineage.infer import infer
from kb.lineage.synthetic import synthetic_lineage
from kb.records import DeclaredEdge, ModelRecord


def _load(store, lineage, protocol="p1"):
    store.upsert_models([
        ModelRecord(id=e.id, dna=e.text.tolist(), protocol=protocol,
                    channels={k: v for k, v in e.vectors.items() if k != "text"}, signature=e.signature,
                    precision=e.precision, released=e.released)
        for e in lineage.evidence
    ])


def test_infer_writes_families_edges_and_replaces_them(store):
    lin = synthetic_lineage(40, mean_family=8, sketches=True, seed=11)
    _load(store, lin)
    c, p, r = lin.truth[0]
    store.upsert_declared_edges([DeclaredEdge(c, p, r)])
    result = infer(store, bootstrap=5)
    assert {f.id for f in store.families()} == {f.id for f in result.families}
    stored = store.inferred_edges()
    assert len(stored) == len(result.edges) > 30
    assert all(e.support is not None and 0 <= e.support <= 1 for e in stored)
    assert {e.relation for e in stored} <= {"finetune", "adapter", "quantized", "merge", "distill"}
    flags = {(e.child, e.parent): e.flag for e in stored}
    assert flags.get((c, p), "absent") in (None, "absent")
    assert "undocumented" in flags.values()
    assert len(store.memberships()) == 40
    assert all(f.newick and f.newick.endswith(";") for f in store.families())
    again = infer(store, bootstrap=0)  # a second run replaces, never adds
    assert len(store.inferred_edges()) == len(again.edges)
    assert all(e.support is None for e in store.inferred_edges())


def test_bad_inputs_give_clear_messages(store):
    with pytest.raises(InputError, match="holds no DNAs: ingest models first"):
        infer(store)
    store.upsert_models([ModelRecord(id="solo", dna=[0.0] * 128, protocol="p1")])
    single = infer(store, bootstrap=0)
    assert len(single.families) == 1 and not single.edges
    assert any("only one model" in m for m in single.messages)
    store.upsert_models([ModelRecord(id=f"same{i}", dna=[0.0] * 128, protocol="p1") for i in range(3)])
    same = infer(store, bootstrap=0)
    assert any("identical" in m for m in same.messages) and len(same.families) == 1
    store.upsert_models([ModelRecord(id=f"q{i}", dna=[float(i)] * 128, protocol="p2") for i in range(2)])
    picked = infer(store, bootstrap=0)
    assert picked.protocol == "p1"
    assert any("DNAs from 2 protocols: p1 (4 models), p2 (2 models); using p1" in m for m in picked.messages)
    assert infer(store, "p2", bootstrap=0).protocol == "p2"
    with pytest.raises(NotFoundError, match="no DNAs under protocol 'p9'; the KB has p1"):
        infer(store, "p9")


def test_cli_infer_prints_a_summary_and_json(tmp_path, capsys):
    from ingest.cli import main
    from kb.stores import StoreConfig, open_store

    db = tmp_path / "kb"
    with open_store(StoreConfig(kind="embedded", db=db)) as s:
        _load(s, synthetic_lineage(20, mean_family=6, sketches=True, seed=12))
    assert main(["--db", str(db), "infer", "--bootstrap", "3", "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["models"] == 20 and data["edges"] >= 15 and data["bootstrap"] == 3
    assert main(["--db", str(db), "infer", "--bootstrap", "0", "--no-dates", "--no-channel", "weights", "-q"]) == 0
    out = capsys.readouterr().out
    assert "inferred parent edges" in out and "family:" in out
    assert main(["--db", str(db), "infer", "--protocol", "nope", "-q"]) == 1
    assert "Error: no DNAs under protocol 'nope'" in capsys.readouterr().err


def test_evaluate_on_a_store(store):
    lin = synthetic_lineage(40, mean_family=8, sketches=True, seed=13)
    _load(store, lin)
    report = evaluate(store, lin.truth, bootstrap=3)
    assert report.parents.accuracy >= 0.85 and report.ari >= 0.9
    assert set(report.variants) == {"as inferred", "no dates", "no weights", "no dates, no weights"}
    text = format_report(report)
    assert "parent accuracy" in text and "Support calibration" in text
    assert set(report.kb_tree_nrf) == {"evidence", "text"} and all(0 <= v < 1 for v in report.kb_tree_nrf.values())
    assert "normalised RF (one tree over the KB)" in text
    assert json.dumps(report.as_dict(), default=str)


def test_evaluate_scores_the_stored_results_without_reinferring(store):
    lin = synthetic_lineage(30, mean_family=8, sketches=True, seed=14)
    _load(store, lin)
    with pytest.raises(InputError, match="no inferred results"):
        evaluate(store, lin.truth, run_infer=False, variants=False)
    infer(store, bootstrap=0, use_declared=False)
    report = evaluate(store, lin.truth, run_infer=False, variants=False)
    assert report.parents.n == len({c for c, _, _ in lin.truth}) and report.parents.accuracy > 0.8


def test_bootstrap_over_probes_from_the_kbs_own_protocol_record_and_artifacts(store, tmp_path):
    """`infer` bootstraps over probes with the protocol record the KB holds and, by default, the
    artifact store its ingest recorded; without either it says so."""
    from kb.artifacts import ARTIFACTS_META, ArtifactStore
    from kb.dna import dna_from_embeddings
    from kb.protocol import PROTOCOL_META, DnaProtocol

    protocol = DnaProtocol(probe_set="ab" * 8, n_probes=20, max_new_tokens=8, embedder="e", embedder_dim=16)
    rng = np.random.default_rng(0)
    emb = {}
    for f in range(2):
        base = rng.normal(size=(20, 16))
        emb[f"f{f}/base"] = base
        for k in range(3):
            emb[f"f{f}/ft{k}"] = base + 0.3 * rng.normal(size=base.shape)
    fingerprints = {m: f"{i:02d}" * 8 for i, m in enumerate(emb)}
    store.upsert_models([ModelRecord(id=m, dna=dna_from_embeddings(e, protocol).tolist(), protocol=protocol.id,
                                     fingerprint=fingerprints[m]) for m, e in emb.items()])
    loader = lambda model, pid, name: emb.get(model) if name == "embeddings" else None  # noqa: E731
    without = infer(store, bootstrap=5, arrays=loader)
    assert any(f"holds no record of protocol {protocol.id}" in m for m in without.messages)
    assert all(e.support is None for e in without.edges)
    store.set_meta(PROTOCOL_META, protocol.to_json())
    result = infer(store, bootstrap=20, arrays=loader)
    assert result.bootstrap == 20 and all(e.support is not None for e in result.edges)
    assert not any("skipped" in m for m in result.messages)

    arts = ArtifactStore(tmp_path / "arts")
    for model, e in emb.items():
        arts.artifact(fingerprints[model], protocol.id).write_dna(
            protocol=protocol, prompts=["p"] * 20, responses=["r"] * 20, embeddings=e.astype(np.float32),
            dna=dna_from_embeddings(e, protocol), meta={})
    store.set_meta(ARTIFACTS_META, str(arts.root))
    again = infer(store, bootstrap=20)  # no loader given: the KB's artifact store
    assert [e.support for e in again.edges] == [e.support for e in result.edges]



def _duplicated_f16(store, kept: str | None, duplicate: str, quantized: str) -> dict[str, str]:
    """A checkpoint, an f16 file of it (released `kept`), a byte-identical second f16 file stored as
    its duplicate (released `duplicate`), and a q8_0 quantized from the f16 weights (`quantized`):
    child -> inferred parent."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=16 * 256)
    f16 = base + 1e-4 * rng.normal(size=base.size)
    text = rng.normal(size=16)

    def record(mid, weights, precision, backend, released, **facts):
        return ModelRecord(id=mid, dna=text + 0.01 * rng.normal(size=16), protocol="p1", channels={"weights": weights},
                           signature="s", precision=precision, backend=backend, released=released, **facts)

    store.upsert_models([
        record("d/base", base, "f32", "transformers", None),
        record("d/base-f16", f16, "f16", "llama-cpp", kept, made_by="convert"),
        record("d/base-q8_0", f16 + 3e-3 * rng.normal(size=base.size), "q8_0", "llama-cpp", quantized,
               made_by="quantize"),
        ModelRecord(id="d/base-f16-again", released=duplicate, status="duplicate"),
    ])
    store.mark_duplicate("d/base-f16-again", "d/base-f16")
    return {e.child: e.parent for e in infer(store, bootstrap=0).edges}


def test_a_file_quantized_from_a_duplicate_is_as_old_as_the_duplicate(store):
    """Two byte-identical f16 files of one checkpoint: the KB keeps the later-dated one and records the
    earlier as its duplicate. A q8_0 the quantize tool made from the earlier one, dated between the
    two, comes from those weights, which were out by the duplicate's date: it takes the kept f16, not
    the checkpoint (held-out 14003, at support 1.0)."""
    assert _duplicated_f16(store, "2023-06-22", "2023-06-01", "2023-06-10")["d/base-q8_0"] == "d/base-f16"


def test_an_undated_models_duplicate_bounds_its_date_without_setting_it(store):
    """The kept f16 is undated, its duplicate dated after the q8_0: the weights existed by the
    duplicate's date, maybe long before, so the q8_0 still takes the f16 (held-out 12000)."""
    assert _duplicated_f16(store, None, "2023-06-22", "2023-06-10")["d/base-q8_0"] == "d/base-f16"
