"""Lineage signal of what extraction produces, on the small zoo (known genealogy).

What the paper's text DNA alone can and cannot do here (DESIGN.md, "Evidence channels"): a GGUF copy
lands next to its source; a full fine-tune on a new topic drifts with the topic, so only some fine-tunes
stay nearer their parent than every unrelated base (measured at 100 probes x 32 tokens: 3 of 4; at 48 x 16:
2 of 4; full zoo at 600 x 64: 4 of 12). The log-likelihood profile, extracted alongside under the same
protocol and comparable across architectures and tokenizers, keeps every fine-tune (full or LoRA) nearer
its parent (small zoo 5 of 5; full zoo 14 of 15, bench/RESULTS.md).
"""

from __future__ import annotations

import pytest

from ingest.extract import default_protocol, extract, extract_dna
from kb.channels import with_channels
from ingest.zoo.manifest import load_zoo_manifest
from kb.dna import euclidean


@pytest.fixture(scope="module")
def zoo(small_zoo, tmp_path_factory):
    entries = {e.id: e for e in load_zoo_manifest(small_zoo)}
    wanted = [i for i, e in entries.items()
              if e.backend != "llama-cpp" or any(t in e.tags for t in ("f16", "q8_0"))]
    protocol = default_protocol(100, 32)
    arts = tmp_path_factory.mktemp("zoo-arts")
    dnas = {i: extract_dna(entries[i].file, protocol, artifacts=arts, n_threads=1).dna for i in wanted}
    return entries, dnas


def _ancestors(entries, model_id):
    seen, todo = set(), [model_id]
    while todo:
        for p in entries[todo.pop()].parents:
            if p.id not in seen:
                seen.add(p.id)
                todo.append(p.id)
    return seen


def test_gguf_copies_land_next_to_their_source(zoo):
    entries, dnas = zoo
    copies = [i for i in dnas if entries[i].backend == "llama-cpp"]
    hf_models = [i for i in dnas if entries[i].backend != "llama-cpp"]
    assert len(copies) >= 2
    for copy in copies:
        source = entries[copy].parents[0].id
        nearest = min(hf_models, key=lambda j: euclidean(dnas[copy], dnas[j]))
        assert nearest == source, (copy, nearest, source)


def test_finetunes_nearer_parent_than_unrelated_bases(zoo):
    entries, dnas = zoo
    bases = [i for i, e in entries.items() if not e.parents]
    finetunes = [i for i in dnas if any(p.relation == "finetune" for p in entries[i].parents)]
    assert len(finetunes) >= 3 and len(bases) >= 2
    wins = []
    for child in finetunes:
        parent = next(p.id for p in entries[child].parents if p.relation == "finetune")
        unrelated = [b for b in bases if b not in _ancestors(entries, child)]
        assert unrelated
        to_parent = euclidean(dnas[child], dnas[parent])
        to_unrelated = min(euclidean(dnas[child], dnas[b]) for b in unrelated)
        print(f"{child}: parent {to_parent:.3f}, nearest unrelated base {to_unrelated:.3f}")
        wins.append(to_parent < to_unrelated)
    assert sum(wins) >= (len(wins) + 1) // 2 and any(wins)


def test_finetunes_nearer_parent_than_unrelated_bases_by_loglik(small_zoo, tmp_path):
    entries = {e.id: e for e in load_zoo_manifest(small_zoo)}
    bases = [i for i, e in entries.items() if not e.parents]
    finetunes = [i for i, e in entries.items() if any(p.relation in ("finetune", "adapter") for p in e.parents)]
    assert len(finetunes) >= 4 and len(bases) >= 2
    parents = {c: next(p.id for p in entries[c].parents if p.relation in ("finetune", "adapter")) for c in finetunes}
    protocol = with_channels(default_protocol(100, 32), ["loglik"])
    profiles = {
        i: extract(entries[i].file, protocol, channels=("loglik",), artifacts=tmp_path, n_threads=2).vectors()["loglik"]
        for i in {*bases, *finetunes, *parents.values()}
    }
    for child, parent in parents.items():
        to_parent = euclidean(profiles[child], profiles[parent])
        unrelated = {b: euclidean(profiles[child], profiles[b]) for b in bases if b not in _ancestors(entries, child)}
        assert unrelated
        print(f"{child}: parent {to_parent:.2f}, unrelated bases", {b: round(d, 2) for b, d in unrelated.items()})
        assert to_parent < min(unrelated.values()), (child, to_parent, unrelated)
