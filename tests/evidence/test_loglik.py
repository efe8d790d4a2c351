"""Log-likelihood profiles: backends agree on the same weights; different weights differ."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from kb.channels import loglik, with_channels
from kb.channels.loglik import per_byte, profile, score_in_chunks
from kb.errors import InputError
from kb.progress import quiet
from kb.protocol import DnaProtocol
from ingest.backends import load_backend
from ingest.backends.base import Backend

BASE = DnaProtocol(probe_set="p" * 16, n_probes=10, max_new_tokens=8, embedder="e", embedder_dim=8)
PROTOCOL = with_channels(BASE, ["loglik"], n_texts=300)


def texts_for(protocol: DnaProtocol) -> list[str]:
    return loglik.texts_for(loglik.CHANNEL.parse(protocol.channel("loglik")))


def scored(backend: Backend, texts: list[str]) -> np.ndarray:
    return per_byte(score_in_chunks(backend, texts, quiet))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def hf_raw(tiny_llama: Path) -> np.ndarray:
    with load_backend(tiny_llama, n_threads=1) as backend:
        return scored(backend, texts_for(PROTOCOL))


def _noisy_copy(tiny_llama: Path, folder: Path, scale: float) -> Path:
    """The model with every weight matrix perturbed (same tokenizer)."""
    import shutil

    from .conftest import perturb

    noisy = perturb(tiny_llama, folder, scale, seed=1)
    for f in tiny_llama.iterdir():
        if f.name.startswith("tokenizer") or f.name == "special_tokens_map.json":
            shutil.copy(f, noisy / f.name)
    return noisy


def test_same_weights_both_backends(tiny_llama: Path, tiny_llama_gguf: dict[str, Path], hf_raw: np.ndarray,
                                    tmp_path: Path) -> None:
    """f16 GGUF through llama.cpp lands on the HF profile: cosine >= 0.99 (measured 1.00000), and its
    distance is far below that of a copy with 5% weight noise (measured 0.003 vs 0.45)."""
    texts = texts_for(PROTOCOL)
    with load_backend(tiny_llama_gguf["f16"], n_threads=1) as backend:
        gguf_profile = profile(scored(backend, texts), 0)
    hf_profile = profile(hf_raw, 0)
    assert cosine(hf_profile, gguf_profile) >= 0.99
    with load_backend(_noisy_copy(tiny_llama, tmp_path / "noisy", 0.05), n_threads=1) as backend:
        noisy_profile = profile(scored(backend, texts), 0)
    assert noisy_profile.shape == (128,)
    d_same = float(np.linalg.norm(hf_profile - gguf_profile))
    d_noisy = float(np.linalg.norm(hf_profile - noisy_profile))
    assert d_same < 0.1 * d_noisy, (d_same, d_noisy)


class _ApiOnly(Backend):
    """A model behind an API: text out, no logits."""

    name = "api"

    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress=None, *, chat: bool = False) -> list[str]:
        return ["ok" for _ in prompts]

    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        raise NotImplementedError


def test_no_logits_is_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"exposes no logits \(API-only\?\): log-likelihood channel skipped"):
        loglik.CHANNEL.produce(_ApiOnly(tmp_path), PROTOCOL, quiet)


def test_protocol_checks() -> None:
    other = PROTOCOL.with_channels({"loglik": "0" * 16 + ":n=300:seed=0:dim=128"})
    with pytest.raises(InputError, match="wants reference set 0000000000000000"):
        texts_for(other)
    with pytest.raises(InputError, match="expected like"):
        texts_for(PROTOCOL.with_channels({"loglik": "abc:n=x"}))
