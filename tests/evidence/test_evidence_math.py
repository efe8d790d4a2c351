"""Pure math of the channels: distance preservation, rank, permutation, centring, block choice."""

from __future__ import annotations

import numpy as np
import pytest

from kb.errors import InputError
from kb.channels.loglik import per_byte as loglik_per_byte, profile as loglik_vector
from kb.channels.weights import (
    block_distances, block_effective_rank, difference_rank_profile, is_low_rank_difference,
    select_blocks, sketch_distance, sketch_left, sketch_matrix,
)
from ingest.weight_layout import rope_permutation as llama_rope_permutation


def test_sketch_preserves_squared_norm_in_expectation() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((96, 80)).astype(np.float32)
    # E||B||^2 = mean(w^2) over independent sketch draws (here: different names)
    values = [float(np.sum(sketch_matrix(w, 0, f"m{i}") ** 2)) for i in range(200)]
    assert np.mean(values) == pytest.approx(float(np.mean(w ** 2)), rel=0.05)


def test_sketch_is_linear_and_rank_preserving() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 48)).astype(np.float32)
    delta = (rng.standard_normal((64, 3)) @ rng.standard_normal((3, 48))).astype(np.float32)
    diff = sketch_matrix(a + delta, 5, "w") - sketch_matrix(a, 5, "w")
    assert np.allclose(diff, sketch_matrix(delta, 5, "w"), atol=1e-4)
    assert block_effective_rank(diff) == 3
    assert block_effective_rank(np.zeros((16, 16))) == 0


def test_seeding_is_per_name_and_seed() -> None:
    assert np.array_equal(sketch_left(0, "a", 10), sketch_left(0, "a", 10))
    assert not np.allclose(sketch_left(0, "a", 10), sketch_left(0, "b", 10))
    assert not np.allclose(sketch_left(0, "a", 10), sketch_left(1, "a", 10))


def test_rope_permutation_matches_the_converter_layout() -> None:
    n_head, head_dim, cols = 4, 8, 5
    w = np.arange(n_head * head_dim * cols, dtype=np.float32).reshape(n_head * head_dim, cols)
    converted = w.reshape(n_head, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(w.shape)
    perm = llama_rope_permutation(w.shape[0], n_head)
    assert np.array_equal(converted, w[perm])
    with pytest.raises(InputError, match="does not split into 3 heads"):
        llama_rope_permutation(32, 3)


def test_loglik_vector_ignores_a_per_model_offset() -> None:
    x = np.random.default_rng(2).normal(-2.0, 0.3, size=300)
    assert np.allclose(loglik_vector(x, 0), loglik_vector(x - 0.7, 0), atol=1e-5)
    assert loglik_vector(x, 0).shape == (128,)
    # projected squared distance ~ centred squared distance (JL, 128 dims: within ~25%)
    y = x + np.random.default_rng(3).normal(0, 0.1, size=300)
    cx, cy = x - x.mean(), y - y.mean()
    ratio = np.sum((loglik_vector(x, 0) - loglik_vector(y, 0)) ** 2) / np.sum((cx - cy) ** 2)
    assert 0.75 < ratio < 1.25


def test_loglik_per_byte_checks_input() -> None:
    assert loglik_per_byte([(-10.0, 5), (-3.0, 3)]).tolist() == [-2.0, -1.0]
    with pytest.raises(InputError, match="has no bytes"):
        loglik_per_byte([(-1.0, 0)])
    with pytest.raises(InputError, match="text 1 is not finite"):
        loglik_per_byte([(-1.0, 2), (float("-inf"), 3)])


def test_select_blocks_keeps_globals_and_whole_layers() -> None:
    names = ["token_embd.weight"] + [f"blk.{i}.{m}.weight" for i in range(10) for m in "abc"] + ["output.weight"]
    chosen = select_blocks(names, 8)
    assert chosen[0] == "token_embd.weight" and chosen[-1] == "output.weight"
    assert [n for n in chosen if n.startswith("blk.")] == [f"blk.{i}.{m}.weight" for i in (0, 9) for m in "abc"]
    assert select_blocks(names, 100) == names


def test_sketch_distance_requires_same_size() -> None:
    with pytest.raises(InputError, match="not comparable"):
        sketch_distance(np.zeros(256), np.zeros(512))


def test_every_block_is_a_weight_matrix_the_output_head_included() -> None:
    """The sketch is blocks of weight matrices only, the last being the output head: a low-rank
    change to the head alone is an adapter-like difference there, and it moves the distance."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((4, 16, 16))
    b = a.copy()
    b[-1] += 0.5 * rng.standard_normal((16, 2)) @ rng.standard_normal((2, 16))  # rank 2, head only
    profile = difference_rank_profile(a.ravel(), b.ravel())
    assert np.isnan(profile[:-1]).all() and profile[-1] == 2
    assert is_low_rank_difference(profile)
    assert block_distances(np.stack([a.ravel(), b.ravel()]))[0, 1] > 0.05


def test_the_weight_channels_euclidean_stand_in_keeps_its_distances_between_kin():
    # children of one parent (norms within a few percent): Euclidean distance between the mapped rows
    # is the channel's own RMS-over-blocks relative distance, to the second order
    from kb.channels.weights import CHANNEL, SKETCH_K as SKETCH_BLOCK

    rng = np.random.default_rng(4)
    parent = rng.normal(0, 1, 6 * SKETCH_BLOCK * SKETCH_BLOCK)
    x = np.stack([parent] + [parent + rng.normal(0, 0.05, parent.size) for _ in range(4)])
    mapped = CHANNEL.euclidean(x)
    euclid = np.linalg.norm(mapped[:, None] - mapped[None], axis=2)
    assert np.allclose(euclid, block_distances(x), rtol=0.02, atol=1e-9)
    assert CHANNEL.euclidean(x[:, :-1]) is None  # not whole blocks: no stand-in
