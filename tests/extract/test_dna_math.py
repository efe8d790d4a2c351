"""Projection and distances: checked against the explicit big-matrix formula and known geometry."""

from __future__ import annotations

import numpy as np
import pytest

from kb.dna import (bootstrap_indices, combine, cosine_distance, distance, dna_from_embeddings, dnas_from_embeddings, euclidean,
                    pairwise_distances, project_probes, projection_block)
from kb.errors import InputError, ProtocolMismatchError
from kb.protocol import DnaProtocol


def proto(n=5, d=6, dim=16, seed=3) -> DnaProtocol:
    return DnaProtocol(probe_set="p", n_probes=n, max_new_tokens=8, embedder="e", embedder_dim=d, dim=dim, seed=seed)


def test_equals_the_explicit_concatenated_projection():
    p = proto()
    e = np.random.default_rng(0).normal(size=(5, 6))
    big = np.hstack([projection_block(p.seed, i, p.dim, p.embedder_dim) for i in range(5)])  # A = [A_1 .. A_t]
    expected = big @ e.reshape(-1) / np.sqrt(5)
    np.testing.assert_allclose(dna_from_embeddings(e, p), expected, rtol=1e-5, atol=1e-6)


def test_blocks_are_deterministic_distinct_and_scaled():
    a = projection_block(1, 0, 128, 384)
    assert np.array_equal(a, projection_block(1, 0, 128, 384))
    assert not np.allclose(a, projection_block(1, 1, 128, 384))
    assert not np.allclose(a, projection_block(2, 0, 128, 384))
    assert abs(a.var() - 1 / 128) < 0.05 / 128  # N(0, 1/L)


def test_resampled_probes_reuse_their_own_blocks():
    p = proto()
    e = np.random.default_rng(1).normal(size=(5, 6))
    idx = [4, 4, 0, 2]
    blocks = [projection_block(p.seed, i, p.dim, p.embedder_dim) @ e[i] for i in idx]
    np.testing.assert_allclose(dna_from_embeddings(e, p, idx), np.sum(blocks, axis=0) / 2.0, rtol=1e-5, atol=1e-6)
    per = project_probes(e, p)
    np.testing.assert_allclose(combine(per, idx), dna_from_embeddings(e, p, idx), rtol=1e-6)


def test_distance_scale_is_independent_of_probe_count():
    # E||DNA_a - DNA_b||^2 = mean squared per-probe difference, whatever the probe count.
    rng = np.random.default_rng(2)
    for n in (20, 200):
        p = proto(n=n, d=32, dim=128)
        a = rng.normal(size=(n, 32))
        b = a + rng.normal(size=(n, 32)) * 0.1
        ratio = euclidean(dna_from_embeddings(a, p), dna_from_embeddings(b, p)) ** 2 / np.mean(np.sum((a - b) ** 2, 1))
        assert 0.7 < ratio < 1.3


def test_many_models_at_once_equal_one_by_one():
    p = proto()
    stack = np.random.default_rng(3).normal(size=(4, 5, 6))
    idx = [1, 1, 3, 0]
    for indices in (None, idx):
        together = dnas_from_embeddings(stack, p, indices)
        for m in range(4):
            np.testing.assert_allclose(together[m], dna_from_embeddings(stack[m], p, indices), rtol=1e-5, atol=1e-6)


def test_bad_shapes_and_indices():
    p = proto()
    with pytest.raises(InputError, match="do not fit protocol"):
        dna_from_embeddings(np.zeros((4, 6)), p)
    with pytest.raises(InputError, match="out of range"):
        dna_from_embeddings(np.zeros((5, 6)), p, [0, 5])
    with pytest.raises(InputError, match="NaN"):
        dna_from_embeddings(np.full((5, 6), np.nan), p)


def test_zero_embeddings_give_zero_dna():
    assert not dna_from_embeddings(np.zeros((5, 6)), proto()).any()


def test_distances_and_matrix():
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([2.0, 0.0])
    assert euclidean(a, b) == pytest.approx(np.sqrt(2))
    assert cosine_distance(a, c) == pytest.approx(0.0)
    assert cosine_distance(a, b) == pytest.approx(1.0)
    m = pairwise_distances([a, b, c])
    np.testing.assert_allclose(m, [[0, np.sqrt(2), 1], [np.sqrt(2), 0, np.sqrt(5)], [1, np.sqrt(5), 0]], atol=1e-12)
    mc = pairwise_distances([a, b, c, np.zeros(2)], metric="cosine")
    assert mc[0, 2] == pytest.approx(0.0) and mc[0, 3] == 1.0 and mc[3, 3] == 0.0
    with pytest.raises(InputError, match="unknown metric"):
        distance(a, b, metric="manhattan")


def test_comparing_across_protocols_fails_clearly():
    p, q = proto(), proto(seed=4)
    x = np.ones(16)
    assert distance(x, x, protocols=(p, p.id)) == 0.0
    with pytest.raises(ProtocolMismatchError, match="not comparable"):
        distance(x, x, protocols=(p, q))
    with pytest.raises(ProtocolMismatchError, match="2 protocols"):
        pairwise_distances([x, x, x], protocols=[p.id, p.id, q.id])


def test_bootstrap_indices_reproducible():
    a = bootstrap_indices(10, 3, seed=5)
    assert a.shape == (3, 10) and a.max() < 10 and np.array_equal(a, bootstrap_indices(10, 3, seed=5))
