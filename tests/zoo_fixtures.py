"""Session fixtures with real tiny models, cached on disk across sessions (~/.cache/dnakb).

First use builds (tiny_llama ~30 s on one core; small_zoo ~2-3 min); later sessions reuse the
cache, keyed by a hash of the building code and its parameters. `DNAKB_CACHE` moves the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_llama() -> Path:
    """HF folder (config.json, model.safetensors, tokenizer) of a trained tiny Llama."""
    from ingest.zoo.testing import cached_tiny

    return cached_tiny()


@pytest.fixture(scope="session")
def tiny_llama_gguf(tiny_llama: Path) -> dict[str, Path]:
    """GGUF files of `tiny_llama`: {"f16": path, "q8_0": path, "q4_0": path}."""
    from ingest.zoo.testing import cached_ggufs

    return cached_ggufs(tiny_llama, ("f16", "q8_0"), ("q4_0",))


@pytest.fixture(scope="session")
def small_zoo() -> Path:
    """manifest.yaml of the small zoo (~12 models covering every relation), built once."""
    from ingest.zoo.build import cached_small_zoo

    return cached_small_zoo()


@pytest.fixture(scope="session")
def seq2seq_zoo() -> Path:
    """manifest.yaml of the encoder-decoder zoo (a T5-style and a BART-style base, two fine-tunes each)."""
    from ingest.zoo.seq2seq import cached_seq2seq_zoo

    return cached_seq2seq_zoo()
