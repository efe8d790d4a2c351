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


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
"""A chat template for the tiny tokenizer: BOS placed by the template, EOS (a special token) between turns."""


@pytest.fixture(scope="session")
def chat_llama(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny Llama with `CHAT_TEMPLATE` saved on its tokenizer (as transformers saves one), and its f32
    GGUF made by our converter: {"hf": folder, "gguf": file}. Built in well under a second."""
    import shutil

    from transformers import AutoTokenizer

    from ingest.convert import hf_to_gguf

    folder = tmp_path_factory.mktemp("chat-llama") / "model"
    shutil.copytree(tiny_llama, folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(folder))
    return {"hf": folder, "gguf": hf_to_gguf(folder, folder.parent / "model-f32.gguf", "f32")}
