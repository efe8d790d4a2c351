"""Manifest parsing and whole-manifest validation: every problem listed with its entry."""

from __future__ import annotations

import json
import re

import pytest

from ingest.manifest import ManifestEntry, ParentRef, entries_from, find_cycles, parse_manifest
from kb.errors import InputError


@pytest.fixture
def models(tmp_path):
    for name in ("base", "tuned", "merged"):
        (tmp_path / name).mkdir()
    (tmp_path / "q.gguf").write_bytes(b"GGUF")
    return tmp_path


def test_yaml_json_and_csv_spell_the_same_manifest(models):
    (models / "m.yaml").write_text(
        "models:\n"
        "  - {id: z/base, path: base, released: 2024-03-01, params: 254000, org: z, license: mit, tags: [base]}\n"
        "  - {id: z/tuned, path: base/../tuned, parents: z/base, architecture: LlamaForCausalLM}\n"
        "  - id: z/merged\n    path: merged\n    parents: [{id: z/base, relation: merge}, {id: z/tuned, relation: merge}]\n"
        "  - {id: z/q, path: q.gguf, parents: [{id: z/tuned, relation: quantized}]}\n"
    )
    rows = [
        {"id": "z/base", "path": "base", "released": "2024-03-01", "params": 254000, "org": "z", "license": "mit", "tags": ["base"]},
        {"id": "z/tuned", "path": "base/../tuned", "parents": "z/base", "architecture": "LlamaForCausalLM"},
        {"id": "z/merged", "path": "merged", "parents": [{"id": "z/base", "relation": "merge"}, {"id": "z/tuned", "relation": "merge"}]},
        {"id": "z/q", "path": "q.gguf", "parents": [{"id": "z/tuned", "relation": "quantized"}]},
    ]
    (models / "m.json").write_text(json.dumps({"models": rows}))
    (models / "m.csv").write_text(
        "id,path,parents,released,params,org,license,tags,architecture\n"
        "z/base,base,,2024-03-01,254000,z,mit,base,\n"
        "z/tuned,base/../tuned,z/base,,,,,,LlamaForCausalLM\n"
        "z/merged,merged,z/base:merge;z/tuned:merge,,,,,,\n"
        "z/q,q.gguf,z/tuned:quantized,,,,,,\n"
    )
    parsed = [parse_manifest(models / f"m.{ext}") for ext in ("yaml", "json", "csv")]
    assert parsed[0] == parsed[1] == parsed[2]
    base, tuned, merged, quant = parsed[0]
    assert (base.released, base.params, base.tags, base.backend) == ("2024-03-01", 254000, ["base"], "transformers")
    assert tuned.path == (models / "tuned").resolve() and tuned.parents == [ParentRef("z/base", "finetune")]
    assert [p.relation for p in merged.parents] == ["merge", "merge"]
    assert quant.backend == "llama-cpp"
    assert [(e.child, e.parent, e.relation) for e in quant.declared_edges()] == [("z/q", "z/tuned", "quantized")]
    assert base.record().org == "z"


def test_every_problem_is_listed_with_its_entry(models):
    (models / "bad.yaml").write_text(
        "models:\n"
        "  - {id: a, path: base, colour: red}\n"                        # unknown key
        "  - {id: a, path: tuned}\n"                                    # duplicate id
        "  - {id: b, path: nowhere}\n"                                  # missing path
        "  - {id: c, path: base, released: 'March 2024'}\n"             # bad date
        "  - {id: d, path: base, parents: [{id: a, relation: cousin}]}\n"  # unknown relation
        "  - {id: e, path: base, parents: f}\n"                         # cycle e -> f -> e
        "  - {id: f, path: base, parents: e}\n"
        "  - {path: base}\n"                                            # no id
        "  - {id: g, path: base, backend: vllm, params: lots}\n"
    )
    with pytest.raises(InputError) as caught:
        parse_manifest(models / "bad.yaml")
    message = str(caught.value)
    first, *lines = message.splitlines()
    assert first.endswith("9 problem(s) in 9 entries, nothing was ingested; fix them and re-run:")
    expected = [
        "entry 1 (a): unknown key 'colour'",
        "entry 2 (a): duplicate id (first at entry 1)",
        f"entry 3 (b): path does not exist: {models / 'nowhere'}",
        "entry 4 (c): released='March 2024' is not a real date (expected YYYY-MM-DD)",
        "entry 5 (d): parent a: unknown relation 'cousin'",
        "entry 8: missing 'id'",
        "entry 9 (g): unknown backend 'vllm'",
        "entry 9 (g): params='lots' is not a whole number from 0 to 2^63 - 1",
        "cycle in declared parents: e -> f -> e",
    ]
    for text in expected:
        assert any(text in line for line in lines), text
    assert len(lines) == 9  # each problem once, the two cycle members reported once


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.yaml", "models: [", "invalid YAML"),
        ("m.yaml", "entries: []", "unknown top-level key(s) entries"),
        ("m.json", "{\"models\": []}", "no entries"),
        ("m.toml", "", "unknown manifest type '.toml'"),
        ("m.csv", "", "empty CSV"),
        ("m.yaml", "models:\n  - {id: a, path: base, parents: a}\n", "entry 1 (a): lists itself as its parent"),
    ],
)
def test_bad_files(models, name, text, message):
    (models / name).write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        parse_manifest(models / name)


def test_missing_manifest(tmp_path):
    with pytest.raises(InputError, match="no manifest at"):
        parse_manifest(tmp_path / "none.yaml")


def test_entries_from_dicts_and_entries(models):
    entries = entries_from([{"id": "x", "path": str(models / "base")}])
    assert entries == [ManifestEntry(id="x", path=(models / "base").resolve(), backend="transformers")]
    assert entries_from(entries) == entries
    with pytest.raises(InputError, match="duplicate id"):
        entries_from(entries + entries)


def test_find_cycles_long_chain_and_outside_parents():
    chain = {f"m{i}": [f"m{i + 1}"] for i in range(5000)}
    assert find_cycles(chain) == []
    chain["m5000"] = ["m0"]
    (cycle,) = find_cycles(chain)
    assert cycle[0] == cycle[-1] and len(cycle) == 5002
    assert find_cycles({"a": ["outside"], "b": ["a", "outside"]}) == []
