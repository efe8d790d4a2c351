"""The zoo manifest: true genealogy that is complete, consistent, and covers every relation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kb.errors import InputError
from ingest.zoo.build import RELATION, full_plan, small_plan
from ingest.zoo.manifest import RELATIONS, load_zoo_manifest


def _depth(parents: dict[str, tuple[str, ...]], name: str) -> int:
    return 0 if not parents[name] else 1 + max(_depth(parents, p) for p in parents[name])


def test_small_zoo_manifest_is_consistent(small_zoo):
    entries = load_zoo_manifest(small_zoo)
    by_id = {e.id: e for e in entries}
    assert 10 <= len(entries) <= 14
    assert {p.relation for e in entries for p in e.parents} == set(RELATIONS)
    for e in entries:
        assert e.file.exists(), e.file
        assert e.backend == ("llama-cpp" if e.path.endswith(".gguf") else "transformers")
        assert e.params and e.params > 1000 and e.architecture in ("LlamaForCausalLM", "Qwen2ForCausalLM")
        for p in e.parents:
            assert by_id[p.id].released < e.released  # a parent is released before its child
        if any(p.relation == "merge" for p in e.parents):
            assert len(e.parents) == 2
        if any(p.relation == "quantized" for p in e.parents):
            assert e.path.endswith(".gguf")
    assert len({e.architecture for e in entries if not e.parents}) == 2
    depth = max(_depth({e.id: e.parent_ids for e in entries}, e.id) for e in entries)
    assert depth >= 3


def test_full_plan_has_the_required_shape():
    plan = full_plan()
    parents = {s.name: s.parents for s in plan}
    bases = [s for s in plan if s.op == "base"]
    assert len(plan) >= 30
    assert len(bases) >= 3
    assert len({b.args["spec"].arch.arch for b in bases}) >= 2
    assert len({b.args["spec"].tokenizer for b in bases}) >= 2
    assert len({(b.args["spec"].init_seed, b.args["spec"].train.topics) for b in bases}) == len(bases)
    assert {RELATION[s.op] for s in plan if s.parents} == set(RELATIONS)
    assert {s.args.get("outtype") or s.args.get("qtype") for s in plan if s.op in ("gguf", "quantize")} >= {
        "f16", "q8_0", "q4_0"}
    assert max(_depth(parents, s.name) for s in plan) >= 3
    assert len({s.name for s in small_plan()}) == len(small_plan())


def test_manifest_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="no zoo manifest"):
        load_zoo_manifest(tmp_path / "nope.yaml")
    bad = tmp_path / "m.yaml"
    bad.write_text("models:\n  - {id: a, path: a, parents: [{id: b, relation: finetune}]}\n")
    with pytest.raises(InputError, match="names parent 'b', which is not in the manifest"):
        load_zoo_manifest(bad)
    bad.write_text("models:\n  - {id: a, path: a, parents: [{id: a, relation: cousin}]}\n")
    with pytest.raises(InputError, match="relation in finetune"):
        load_zoo_manifest(bad)


def test_cli_reuses_the_built_zoo_and_reports_json(small_zoo):
    code = "from ingest.cli import main; raise SystemExit(main(['zoo', 'build', '--small', '--json', '-q', %r]))"
    run = subprocess.run([sys.executable, "-c", code % str(small_zoo.parent)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["built"] == 0 and data["reused"] == data["models"] == len(load_zoo_manifest(small_zoo))


def test_cli_bad_folder_is_a_one_line_error(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    code = "from ingest.cli import main; raise SystemExit(main(['zoo', 'build', %r]))"
    run = subprocess.run([sys.executable, "-c", code % str(afile)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == f"Error: zoo folder {str(afile)!r} is a file; pass a folder"
