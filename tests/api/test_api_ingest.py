"""API models through the whole run: llama-cpp-python's real OpenAI-compatible server against the local
llama.cpp backend on the same GGUF, a KB mixing API and local models (status, infer, parent/children),
a batch of misbehaving servers, the key never written anywhere, resuming from cached answers, --dry-run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ingest.api import estimate, ingest, make_protocol
from ingest.backends.api import ApiSpec
from ingest.extract import extract
from kb.stores import StoreConfig, open_store
from tests.api.conftest import LLAMA_EXTRA
from tests.ingest.models import LOGLIK_TEXTS, MAX_NEW_TOKENS, N_PROBES, cli_protocol, protocol, variant, write_manifest

SECRET = "sk-live-SECRET-0123456789abcdef"


def api_entry(model_id: str, base_url: str, model: str, **extra) -> dict:
    return {"id": model_id, "backend": "api", "base_url": base_url, "model": model, **extra}


def run_cli(*args: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run([sys.executable, "-c", "from ingest.cli import entrypoint; entrypoint()", *args],
                          capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=600)
    return done.returncode, done.stdout, done.stderr


def test_dna_through_the_server_agrees_with_local_llama_cpp(llama_server, tmp_path):
    """Same GGUF, same protocol: through llama.cpp's OpenAI-compatible server and through the local
    llama-cpp backend. Greedy answers should match; the DNA's cosine must be >= 0.99."""
    proto = make_protocol(60, 24, loglik_texts=60)
    local = extract(llama_server["gguf"], proto, channels=("text", "loglik"), artifacts=tmp_path, n_threads=1)
    spec = ApiSpec(base_url=llama_server["base_url"], model=llama_server["model"], extra_body=tuple(LLAMA_EXTRA.items()))
    api = extract(spec, proto, artifacts=tmp_path)
    a, b = local.produced["text"], api.produced["text"]
    cosine = float(a.vector @ b.vector / (np.linalg.norm(a.vector) * np.linalg.norm(b.vector)))
    same = sum(x == y for x, y in zip(a.detail["responses"], b.detail["responses"]))
    la, lb = local.produced["loglik"].vector, api.produced["loglik"].vector
    loglik_cos = float(la @ lb / (np.linalg.norm(la) * np.linalg.norm(lb)))
    print(f"\nAPI vs local llama-cpp, same GGUF: DNA cosine {cosine:.6f}, L2 {np.linalg.norm(a.vector - b.vector):.4f}, "
          f"identical responses {same}/60; log-likelihood profile cosine {loglik_cos:.4f}")
    assert cosine >= 0.99
    assert same >= 57
    assert loglik_cos >= 0.95  # the API gives no log-probability for the first token (see api.py)
    assert api.fingerprint == spec.fingerprint() != local.fingerprint
    assert api.skipped() == {"weights": "an API model's weights are unknown: no weight sketch"}
    meta = api.produced["text"].detail
    assert meta["backend"] == "api" and meta["determinism"]["repeat_identical"] is True
    assert meta["identity"] == {"kind": "api", "base_url": spec.base_url, "model": llama_server["model"], "extra_body": LLAMA_EXTRA}
    assert api.usage["requests"] == 60 + 1 + 60 and api.usage["completion_tokens"] > 0


def test_a_kb_mixing_api_and_local_models(llama_server, fake, small_zoo, seq2seq_zoo, tmp_path, artifacts):
    """The small zoo (local transformers and llama-cpp models), the encoder-decoder zoo, the zoo's
    llama-s GGUF again behind the server, and a fake API model: status shows each model's channels;
    infer works with the missing ones and places the served copy beside its local twin; parent and
    children name the deciding channel; the templates answer for every kind of model."""
    import yaml

    zoo = []
    for manifest in (small_zoo, seq2seq_zoo):
        for entry in yaml.safe_load(manifest.read_text())["models"]:
            entry["path"] = str(manifest.parent / entry["path"])
            zoo.append(entry)
    entries = zoo + [
        api_entry("api/llama-s-served", llama_server["base_url"], llama_server["model"], extra_body=LLAMA_EXTRA),
        api_entry("api/fake", fake.base_url, "ok"),
    ]
    manifest = write_manifest(tmp_path, entries)
    db = tmp_path / "kb"
    code, out, err = run_cli("--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path), "--artifacts",
                             str(artifacts), "--no-declared", "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    assert [m["status"] for m in report["models"]] == ["ok"] * len(entries)
    assert report["api_usage"]["requests"] == 2 * (N_PROBES + 1 + LOGLIK_TEXTS)
    code, out, err = run_cli("--db", str(db), "status", "--json")
    channels = {row["model"]: row["channels"] for row in json.loads(out)["model_channels"]}
    assert channels.pop("api/llama-s-served") == channels.pop("api/fake") == ["text", "loglik"]
    assert set(map(tuple, channels.values())) == {("text", "loglik", "weights")}
    code, out, err = run_cli("--db", str(db), "status")
    assert [line.split() for line in out.splitlines() if line.startswith("api/fake")] == [
        ["api/fake", "ok", "api", "text,", "loglik"]]
    code, out, err = run_cli("--db", str(db), "infer", "--bootstrap", "0", "--quiet", "--json")
    assert code == 0, err
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        edges = store.inferred_edges()
    assert edges and all(e.channel for e in edges)
    # the served copy sits by its local twin: zoo/llama-s-f16, or zoo/llama-s (weights identical to the f16)
    (twin_edge,) = [e for e in edges if e.child == "api/llama-s-served"]
    assert twin_edge.parent in (llama_server["zoo_id"], "zoo/llama-s")
    assert twin_edge.channel in ("text", "loglik")  # no weights for an API model: a functional channel decided
    assert not [e for e in edges if "api/fake" in (e.child, e.parent)]  # unrelated to every model
    code, out, err = run_cli("--db", str(db), "query", "parent", "--param", f"model={twin_edge.child}",
                             "--param", "edges=inferred", "--json")
    assert code == 0, err
    assert [(r["id"], r["channel"]) for r in json.loads(out)] == [(twin_edge.parent, twin_edge.channel)]
    code, out, err = run_cli("--db", str(db), "query", "children", "--param", f"model={twin_edge.parent}",
                             "--param", "edges=inferred", "--json")
    assert {r["id"]: r["channel"] for r in json.loads(out)}[twin_edge.child] == twin_edge.channel
    assert {e.parent for e in edges if e.child == "zoo/t5-s-sea"} == {"zoo/t5-s"}  # encoder-decoder beside them
    for template, model in (("family", "api/llama-s-served"), ("nearest", "api/fake"), ("siblings", "zoo/t5-s-sea"),
                            ("ancestors", "api/llama-s-served"), ("descendants", "zoo/bart-s")):
        code, out, err = run_cli("--db", str(db), "query", template, "--param", f"model={model}", "--json")
        assert code == 0 and json.loads(out), (template, err)
    print(f"\nmixed KB: {len(edges)} inferred edges; {twin_edge.child} -> {twin_edge.parent} by {twin_edge.channel}")


BAD = ["html", "nonjson", "truncated", "long", "empty", "unknown", "storm", "keyed"]
REASONS = {
    "html": "answered an HTML page", "nonjson": "answered non-JSON", "truncated": "cut its answer short",
    "long": "ignored max_tokens", "empty": "answers is empty", "unknown": "does not serve model 'unknown'",
    "storm": "HTTP 429", "keyed": "refused the key in FAKE_API_KEY (HTTP 401",
}


def test_a_batch_of_misbehaving_servers_fails_each_alone_and_never_writes_the_key(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", SECRET)  # a wrong key: the server echoes it in its error
    entries = [api_entry("good/ok", fake.base_url, "ok", api_key_env="FAKE_API_KEY")]
    entries += [api_entry(f"bad/{m}", fake.base_url, m, api_key_env="FAKE_API_KEY", retries=1) for m in BAD]
    entries.append(api_entry("bad/nokey", fake.base_url, "slow", api_key_env="UNSET_KEY_VAR"))
    manifest = write_manifest(tmp_path, entries)
    db, arts = tmp_path / "kb", tmp_path / "artifacts"
    code, out, err = run_cli("--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path), "--artifacts",
                             str(arts), "--workers", "2", "--json", "--quiet")
    assert code == 1
    assert err.strip().splitlines() == [f"Error: {len(BAD) + 1} of {len(entries)} model(s) failed (bad/html, bad/nonjson, "
                                        "bad/truncated, bad/long, bad/empty, ...); fix them and re-run: finished models are kept"]
    outcomes = {m["id"]: m for m in json.loads(out)["models"]}
    assert outcomes["good/ok"]["status"] == "ok"
    for model in BAD:
        assert outcomes[f"bad/{model}"]["status"] == "failed"
        assert REASONS[model] in outcomes[f"bad/{model}"]["reason"], outcomes[f"bad/{model}"]["reason"]
        assert "\n" not in outcomes[f"bad/{model}"]["reason"]
    assert "UNSET_KEY_VAR" in outcomes["bad/nokey"]["reason"] and "is not set" in outcomes["bad/nokey"]["reason"]
    with open_store(StoreConfig(kind="embedded", db=db)) as store:
        nodes = {m.id: m for m in store.get_models()}
    assert nodes["good/ok"].dna is not None
    assert all(nodes[i].dna is None and nodes[i].status == "failed" and nodes[i].error for i in nodes if i != "good/ok")
    done = sorted(p.parent.parent.name for p in arts.rglob("DONE"))  # nothing half-written: one finished DNA
    assert done == [ApiSpec(base_url=fake.base_url, model="ok", api_key_env="FAKE_API_KEY").fingerprint()]
    # the key: never in the output, the KB, the artifacts (the bad key was echoed by the server)
    assert SECRET not in out + err
    for path in list(db.rglob("*")) + list(arts.rglob("*")) + [manifest]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_an_interrupted_run_resumes_without_asking_again(fake, tmp_path, kb):
    fake.fail_after = 3  # the server is overloaded after 3 answers
    entries = [api_entry("f/flaky", fake.base_url, "flaky", concurrency=1, retries=1)]
    first = ingest(entries, kb, protocol=protocol(), artifacts=tmp_path / "art")
    assert first.outcomes[0].status == "failed" and "HTTP 503" in first.outcomes[0].reason
    assert fake.requests["flaky"] == 3 + 2  # 3 answers, then one try and one retry
    fake.fail_after = None
    fake.requests.clear()
    before = estimate(entries, kb, protocol=protocol(), artifacts=tmp_path / "art")
    (row,) = before.rows
    assert (row.action, row.cached, row.requests) == ("extract", 3, N_PROBES - 3 + 1 + LOGLIK_TEXTS)
    second = ingest(entries, kb, protocol=protocol(), artifacts=tmp_path / "art")
    assert second.outcomes[0].status == "ok"
    assert fake.requests["flaky"] == row.requests  # the estimate was exact, and the 3 answers were not asked again
    assert second.outcomes[0].usage["cached"] == 3


def test_dry_run_writes_nothing_and_estimates_per_model(fake, tiny_llama, tmp_path):
    entries = [api_entry("d/ok", fake.base_url, "ok"), {"id": "d/local", "path": str(tiny_llama)}]
    manifest = write_manifest(tmp_path, entries)
    db, arts = tmp_path / "kb", tmp_path / "artifacts"
    code, out, err = run_cli("--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path), "--artifacts",
                             str(arts), "--dry-run", "--json", "--quiet")
    assert code == 0, err
    plan = json.loads(out)
    rows = {r["model"]: r for r in plan["models"]}
    assert rows["d/ok"]["requests"] == N_PROBES + 1 + LOGLIK_TEXTS and rows["d/ok"]["backend"] == "api"
    assert rows["d/local"]["requests"] == 0 and rows["d/local"]["probes"] == N_PROBES
    assert rows["d/local"]["gen_tokens"] == N_PROBES * MAX_NEW_TOKENS and rows["d/local"]["seconds"] > 0
    assert rows["d/ok"]["seconds"] is None and rows["d/ok"]["gen_tokens"] == 0  # the server's time and tokens
    assert plan["totals"]["gen_tokens"] == N_PROBES * MAX_NEW_TOKENS
    assert fake.requests["ok"] == 0
    assert not arts.exists() or not any(arts.rglob("*"))
    if db.exists():
        with open_store(StoreConfig(kind="embedded", db=db)) as store:
            assert store.stats().models == 0
    code, out, err = run_cli("--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path), "--artifacts",
                             str(arts), "--dry-run")
    assert code == 0 and "d/ok" in out and "dry run, nothing written" in out and "answer tokens" in out
    assert "tokens to generate locally" in out and " s with 1 worker(s) on this machine" in out
    code, out, err = run_cli("--db", str(db), "ingest", str(manifest), *cli_protocol(tmp_path), "--artifacts",
                             str(arts), "--quiet")
    asked = N_PROBES + 1 + LOGLIK_TEXTS
    assert code == 0, err
    assert f"API: {asked} requests (0 retries), 0 answers from the cache" in out and fake.requests["ok"] == asked


def test_manifest_validates_api_entries_with_the_rest(tmp_path):
    from ingest.manifest import parse_manifest
    from kb.errors import InputError

    entries = [
        {"id": "a", "backend": "api", "model": "m"},
        {"id": "b", "backend": "api", "base_url": "http://user:pw@h/v1", "model": "m"},
        {"id": "c", "backend": "api", "base_url": "http://h/v1", "model": "m", "api_key_env": "sk-abcdef123456"},
        {"id": "d", "backend": "api", "base_url": "http://h/v1", "model": "m", "path": "x"},
        {"id": "e", "path": "nowhere", "base_url": "http://h/v1"},
        {"id": "f", "backend": "api", "base_url": "http://h/v1", "model": "m", "concurrency": 0, "retries": 99},
        {"id": "ok", "base_url": "http://h/v1", "model": "m", "api_key_env": "MY_KEY", "extra_body": {"top_k": 1}},
    ]
    with pytest.raises(InputError) as caught:
        parse_manifest(write_manifest(tmp_path, entries))
    text = str(caught.value)
    assert "7 problem(s) in 7 entries, nothing was ingested" in text
    for needle in ("entry 1 (a): missing 'base_url'", "entry 2 (b): base_url 'http://h/v1' carries credentials",
                   "entry 3 (c): api_key_env must NAME the environment variable", "entry 4 (d): an api entry has no 'path'",
                   "entry 5 (e): base_url belong to backend api", "entry 6 (f): concurrency=0", "entry 6 (f): retries=99"):
        assert needle in text, text
    assert "pw" not in text and "sk-abcdef123456" not in text
    (ok,) = parse_manifest(write_manifest(tmp_path, entries[-1:]))
    assert ok.backend == "api" and ok.path is None and ok.api.extra_body == (("top_k", 1),)
