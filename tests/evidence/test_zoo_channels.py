"""Weight sketches on the small zoo: distances track true weight distances; GGUF copies sit on
their source."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from ingest.manifest import parse_manifest
from ingest.weights import weight_sketch
from kb.channels.weights import sketch_distance
from kb.lineage.evidence import ModelEvidence, pair_distances

pytestmark = pytest.mark.slow


def _matrices(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    tensors = load_file(str(folder / "model.safetensors"))
    if "lm_head.weight" not in tensors:  # tied head: the sketch counts the embeddings twice
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"]
    return {n: w.astype(np.float64) for n, w in tensors.items() if w.ndim >= 2}


def _true(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, float]:
    """(RMS distance, normalised distance) with every matrix weighted by 1/size, as the sketch is."""
    diff = sum(np.mean((a[n] - b[n]) ** 2) for n in a)
    na, nb = sum(np.mean(a[n] ** 2) for n in a), sum(np.mean(b[n] ** 2) for n in b)
    return float(np.sqrt(diff / len(a))), float(np.sqrt(diff) / (na * nb) ** 0.25)


@pytest.fixture(scope="module")
def zoo(small_zoo: Path) -> dict:
    entries = parse_manifest(small_zoo)
    sketches = {e.id: weight_sketch(e.path) for e in entries}
    return {"entries": entries, "sketches": sketches}


def test_sketch_distance_tracks_weight_distance_on_the_zoo(zoo: dict) -> None:
    """Over all pairs of same-signature HF models: Spearman >= 0.95 between the sketch's RMS distance
    (`sketch_distance`) and the true RMS weight distance (every matrix normalised by its size, as the
    sketch is). Measured: small zoo 0.97, full zoo 0.965 (per-group 0.94-1.0 over seeds 0-2).
    kb.lineage.evidence's scale-free distance divides by sketch norms, whose estimate carries
    +-10-15% noise per model, so it ranks less well (small zoo 0.92, full zoo 0.96): checked >= 0.9."""
    from scipy.stats import spearmanr

    hf = [e for e in zoo["entries"] if e.path.is_dir()]
    groups: dict[str, list] = {}
    for e in hf:
        groups.setdefault(zoo["sketches"][e.id].signature, []).append(e)
    true_rms, est_rms, true_norm, est_norm = [], [], [], []
    for members in groups.values():
        weights = {e.id: _matrices(e.path) for e in members}
        for a, b in itertools.combinations(members, 2):
            sa, sb = zoo["sketches"][a.id], zoo["sketches"][b.id]
            rms, norm = _true(weights[a.id], weights[b.id])
            true_rms.append(rms)
            est_rms.append(sketch_distance(sa.vector, sb.vector))
            true_norm.append(norm)
            ev = [ModelEvidence(id=x.id, vectors={"weights": s.vector}, signature=s.signature) for x, s in ((a, sa), (b, sb))]
            est_norm.append(pair_distances(*ev)["weights"])
    assert len(true_rms) >= 10, f"only {len(true_rms)} same-signature pairs"
    assert spearmanr(true_rms, est_rms).statistic >= 0.95
    assert spearmanr(true_norm, est_norm).statistic >= 0.9


def test_gguf_copies_sit_on_their_source(zoo: dict) -> None:
    by_id = {e.id: e for e in zoo["entries"]}
    checked = 0
    for e in zoo["entries"]:
        if e.path.suffix != ".gguf":
            continue
        source = e
        while source.path.suffix == ".gguf":  # walk up quantize -> gguf -> HF
            source = by_id[source.parents[0].id]
        s, src = zoo["sketches"][e.id], zoo["sketches"][source.id]
        assert s.signature == src.signature, e.id
        d = pair_distances(ModelEvidence(id="a", vectors={"weights": s.vector}, signature=s.signature),
                           ModelEvidence(id="b", vectors={"weights": src.vector}, signature=src.signature))["weights"]
        nearest_other = min(
            pair_distances(ModelEvidence(id="a", vectors={"weights": s.vector}, signature=s.signature),
                           ModelEvidence(id="c", vectors={"weights": o.vector}, signature=o.signature))["weights"]
            for oid, o in zoo["sketches"].items()
            if o.signature == s.signature and oid not in (e.id, source.id) and by_id[oid].path.is_dir()
        )
        # f16: ~1e-4 of the nearest other model; q8_0: ~1e-2; q4_0 on these narrow (64-wide) models: ~0.3
        limit = {"f16": 0.01, "q8_0": 0.05}.get(s.precision, 0.5)
        assert d < limit * nearest_other, (e.id, s.precision, d, nearest_other)
        checked += 1
    assert checked >= 2
