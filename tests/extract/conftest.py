"""Shared pieces of the extraction tests: a small protocol and a private copy of the tiny model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb.protocol import DnaProtocol

N_PROBES, MAX_NEW = 24, 16


@pytest.fixture(scope="session")
def small_protocol() -> DnaProtocol:
    from ingest.extract import default_protocol

    return default_protocol(N_PROBES, MAX_NEW)


@pytest.fixture(scope="session")
def probe_prompts() -> list[str]:
    from kb.probes import load_probes

    return load_probes().head(N_PROBES)


@pytest.fixture(scope="session")
def tiny_llama_128() -> dict[str, Path]:
    """A wider, longer-trained tiny Llama (hidden 128, 600 steps) and its f16 / q8_0 GGUFs.

    The suite's 64-wide model, trained 300 steps, has many near-ties between its top two tokens, so
    q8_0 rounding flips ~9% of greedy answers (DNA cosine ~0.96 vs transformers); at hidden 128 and
    600 steps q8_0 flips ~2% (cosine ~0.99) — closer to how quantization treats real models.
    Built once (~2 min on 2 quiet cores) and cached like the zoo fixtures.
    """
    from ingest.zoo.testing import cached_ggufs, cached_tiny
    from ingest.zoo.tiny import ArchSpec, TinySpec, TrainSpec

    spec = TinySpec(tokenizer="tok-a", arch=ArchSpec(arch="llama", hidden=128, intermediate=384),
                    train=TrainSpec(steps=600, seed=1), init_seed=1)
    hf = cached_tiny(spec, "tiny-llama-128")
    return {"hf": hf, **cached_ggufs(hf, ("f16", "q8_0"))}


@pytest.fixture()
def model_copy(tiny_llama: Path, tmp_path: Path) -> Path:
    """A copy of the tiny Llama that a test may edit."""
    target = tmp_path / "model"
    shutil.copytree(tiny_llama, target)
    return target
