"""import-lineage: the real Hugging Face model trees, CSV edge/node lists, model_info records, bad input."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from ingest.cli import main
from ingest.lineage_import import import_lineage
from kb.errors import InputError
from kb.records import RELATIONS, ModelRecord

TREE_FILES = [
    "Llama-2-7b.json", "phi-2.json", "DeepSeek-V3.json", "Janus-Pro-7B.json", "bloom.json",
    "Mistral-Small-24B-Base-2501.untyped.json", "gpt-neox-20b.untyped.json",
    "Llama-4-Scout-17B-16E.untyped.json",
]
LIST_RELATION = {"children": "finetune", "adapters": "adapter", "quantized": "quantized", "merges": "merge"}
TAG = re.compile(r"base_model:(finetune|adapter|quantized|merge):([^\"',\]]+)")


def expected_counts(path: Path) -> tuple[set[str], dict[tuple[str, str], str | None]]:
    """Count models and edges straight from the file, without the importer's code.

    Models: every row's id plus every URL in any list plus every parent named in a
    `base_model:<relation>:<id>` tag (found by a regex over the metadata string). Edges: one per
    (child, parent) pair; the relation is the tag's if the child has one for that parent, else the
    list's in typed files, else None (untyped: any relation allowed).
    """
    rows = json.loads(path.read_text())["models"]
    untyped = path.name.endswith(".untyped.json")
    strip = lambda s: s.split("huggingface.co/")[-1].strip("/")  # noqa: E731
    models: set[str] = set()
    edges: dict[tuple[str, str], str | None] = {}
    for row in rows:
        parent = strip(row["model_id"])
        models.add(parent)
        for key, relation in LIST_RELATION.items():
            for url in row.get(key) or []:
                child = strip(url)
                models.add(child)
                edges.setdefault((child, parent), None if untyped else relation)
    for row in rows:
        child = strip(row["model_id"])
        for relation, parent in TAG.findall(row["metadata"]):
            models.add(parent)
            edges[(child, parent)] = relation
    return models, edges


@pytest.mark.parametrize("name", TREE_FILES)
def test_every_hf_tree_file_imports_completely(shared_data, store, name):
    path = shared_data / "hf-model-trees" / name
    models, edges = expected_counts(path)
    report = import_lineage([path], store)
    assert report.models == len(models)
    assert report.edges == len(edges)
    stats = store.stats()
    assert (stats.models, stats.declared_edges) == (len(models), len(edges))
    assert set(store.model_ids()) == models
    stored = {(e.child, e.parent): e.relation for e in store.declared_edges()}
    assert set(stored) == set(edges)
    for pair, relation in edges.items():
        assert stored[pair] == relation if relation else stored[pair] in RELATIONS


def test_the_whole_folder_at_once_and_idempotent(shared_data, store):
    folder = shared_data / "hf-model-trees"
    models: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for name in TREE_FILES:
        m, e = expected_counts(folder / name)
        models |= m
        edges |= set(e)
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(TREE_FILES), "a new file: add it above"
    import_lineage([folder], store)
    import_lineage([folder], store)  # a second import changes nothing
    stats = store.stats()
    assert (stats.models, stats.declared_edges) == (len(models), len(edges))


def test_llama2_has_173_descendants_including_leaves(shared_data, store):
    import_lineage([shared_data / "hf-model-trees" / "Llama-2-7b.json"], store)
    children = defaultdict(list)
    for edge in store.declared_edges():
        children[edge.parent].append(edge.child)
    seen, todo = set(), ["meta-llama/Llama-2-7b"]
    while todo:
        for child in children[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    assert len(seen) == 173
    leaf = "ccarrez/meditron-7b-Q4_K_M-GGUF"  # appears only in a parent's `quantized` list
    assert leaf in seen and not children[leaf]
    (root,) = store.get_models(["meta-llama/Llama-2-7b"])
    assert (root.released, root.license) == ("2023-07-09", "llama2")
    assert root.status == "metadata" and root.org == "meta-llama"


def test_csv_edges_and_nodes(tmp_path, store):
    (tmp_path / "nodes.csv").write_text(
        "id,name,released,org,params,tags\n"
        "org/base,Base,2023-01-02,org,7000000000,base;llama\n"
        "org/chat,,2023-05-01,org,,\n"
    )
    (tmp_path / "edges.csv").write_text(
        "child,parent,relation\norg/chat,org/base,finetune\norg/chat-q4,org/chat,quantized\n"
        "org/merged,org/chat,merge\norg/merged,other/model,merge\n"
    )
    report = import_lineage([tmp_path / "edges.csv", tmp_path / "nodes.csv"], store)
    assert (report.models, report.edges) == (5, 4)
    assert report.relations == {"finetune": 1, "merge": 2, "quantized": 1}
    (base,) = store.get_models(["org/base"])
    assert (base.name, base.released, base.params, base.tags) == ("Base", "2023-01-02", 7_000_000_000, ["base", "llama"])


def test_headerless_pairs_like_the_provenance_bench(tmp_path, store):
    (tmp_path / "pairs.txt").write_text("a/child,a/parent\nb/orphan,None\n")
    report = import_lineage(tmp_path / "pairs.txt", store)
    assert (report.models, report.edges) == (3, 1)
    assert "b/orphan" in store.model_ids()


def test_model_info_records_cardData_list_and_tags(tmp_path, store):
    records = [
        {"id": "x/merged", "created_at": "2024-02-03T10:00:00Z", "library_name": "transformers",
         "cardData": {"base_model": ["x/a", "x/b"]}, "config": {"architectures": ["MistralForCausalLM"]}},
        {"id": "x/tuned", "cardData": {"base_model": "x/a"}},
        {"modelId": "x/lora", "tags": ["base_model:x/a", "base_model:adapter:x/a", "license:mit"],
         "cardData": {"base_model": ["x/a", "x/ignored"]}},
    ]
    (tmp_path / "infos.json").write_text(json.dumps(records))
    (tmp_path / "one.json").write_text(json.dumps({"id": "x/q", "tags": ["base_model:quantized:x/tuned"]}))
    report = import_lineage([tmp_path / "infos.json", tmp_path / "one.json"], store)
    edges = {(e.child, e.parent): e.relation for e in store.declared_edges()}
    assert edges == {
        ("x/merged", "x/a"): "merge", ("x/merged", "x/b"): "merge", ("x/tuned", "x/a"): "finetune",
        ("x/lora", "x/a"): "adapter", ("x/q", "x/tuned"): "quantized",
    }
    (merged,) = store.get_models(["x/merged"])
    assert (merged.released, merged.library, merged.architecture) == ("2024-02-03", "transformers", "MistralForCausalLM")
    assert store.get_models(["x/lora"])[0].license == "mit"
    assert report.models == 6 and "x/ignored" not in store.model_ids()  # the Hub tags win over cardData


def test_untyped_children_as_a_python_list_string(tmp_path, store):
    tree = {"models": [
        {"model_id": "r/root", "depth": 0, "metadata": "N/A",
         "children": "['https://huggingface.co/r/kid', 'https://huggingface.co/r/gguf']"},
        {"model_id": "https://huggingface.co/r/gguf", "depth": 1,
         "metadata": json.dumps({"id": "r/gguf", "tags": ["base_model:quantized:r/root"]}), "children": []},
    ]}
    (tmp_path / "t.untyped.json").write_text(json.dumps(tree))
    import_lineage(tmp_path / "t.untyped.json", store)
    edges = {(e.child, e.parent): (e.relation, e.source) for e in store.declared_edges()}
    assert edges == {("r/kid", "r/root"): ("finetune", "hf-tree-untyped"), ("r/gguf", "r/root"): ("quantized", "hf-tree")}


def test_existing_model_keeps_its_dna_and_status(tmp_path, store):
    store.upsert_models([ModelRecord(id="o/base", dna=[0.5] * 128, protocol="p1", status="ok", fingerprint="f" * 64)])
    (tmp_path / "e.csv").write_text("child,parent\no/kid,o/base\n")
    report = import_lineage(tmp_path / "e.csv", store)
    assert report.new_models == 1
    (base,) = store.get_models(["o/base"])
    assert base.status == "ok" and base.dna is not None and len(base.dna) == 128
    assert store.get_models(["o/kid"])[0].status == "metadata"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("e.csv", "child,parent,relation\na,b,finetune\nc,d,cousin\n", "e.csv: 1 bad line(s): line 3: unknown relation 'cousin'"),
        ("e.csv", "child,parent,weight\na,b,1\n", "unknown edge column(s) weight"),
        ("n.csv", "id,released\na,yesterday\n", "line 2: unparseable date 'yesterday'"),
        ("n.csv", "id,colour\na,red\n", "unknown node column(s) colour"),
        ("e.csv", "child,parent\na,a\n", "line 2: 'a' is its own parent"),
        ("t.json", "{\"models\": [", "t.json: invalid JSON at line 1"),
        ("t.json", "{\"something\": 1}", "neither a model tree"),
        ("t.xml", "<a/>", "unknown file type '.xml'"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, store, name, text, message):
    (tmp_path / "good.csv").write_text("child,parent\ng/kid,g/base\n")
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        import_lineage([tmp_path / "good.csv", tmp_path / name], store)
    assert store.model_ids() == []


def test_cli_import_lineage(tmp_path, capsys):
    (tmp_path / "e.csv").write_text("child,parent,relation\na/kid,a/base,adapter\n")
    db = str(tmp_path / "kb")
    assert main(["--db", db, "import-lineage", str(tmp_path / "e.csv"), "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["models"], data["edges"], data["relations"]) == (2, 1, {"adapter": 1})
    assert main(["--db", db, "import-lineage", str(tmp_path / "missing.csv")]) == 1
    assert capsys.readouterr().err.strip().endswith(f"Error: no file or directory at {tmp_path / 'missing.csv'}")
