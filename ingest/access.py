"""A model on disk as the channel producers see it (`kb.channels.base.ModelAccess`).

The backend loads on first use and serves generation and scoring for every channel of one extraction
(one load, not one per channel); the embedder loads on first embed; the weights are read straight
from the files (ingest/weights.py), without loading a backend.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.channels.base import Say, WeightReader
from kb.errors import InputError
from ingest.backends import load_backend, resolve_model
from ingest.backends.base import Backend, default_threads
from ingest.embedder import Embedder


class LocalModel:
    """One model file or folder; `close()` frees whatever was loaded."""

    def __init__(self, path: str | os.PathLike[str], backend: str | None = None, *,
                 batch_size: int | None = None, n_threads: int | None = None, device: str | None = None,
                 embedder: str | os.PathLike[str] | Embedder | None = None) -> None:
        self.path = Path(path)
        self.backend_name, self.target = resolve_model(path, backend)
        self.batch_size, self.n_threads, self.device = batch_size, n_threads, device
        self._embedder_spec = embedder
        self._backend: Backend | None = None
        self._embedder: Embedder | None = None
        self.load_seconds = 0.0

    def _loaded(self) -> Backend:
        if self._backend is None:
            start = time.perf_counter()
            self._backend = load_backend(self.target, self.backend_name, batch_size=self.batch_size,
                                         n_threads=self.n_threads, device=self.device)
            self.load_seconds = time.perf_counter() - start
        return self._backend

    def generate(self, prompts: Sequence[str], max_new_tokens: int, *, chat: bool, progress: Say) -> list[str]:
        if chat:
            raise InputError("chat templates are not supported by the local backends yet: use chat_template=false")
        return self._loaded().generate(prompts, max_new_tokens, progress=progress)

    def score(self, texts: Sequence[str]) -> list[tuple[float, int]]:
        return self._loaded().score(texts)

    def embed(self, texts: Sequence[str], embedder: str, dim: int) -> tuple[np.ndarray, int]:
        from ingest.backends.hf import torch_threads

        if self._embedder is None:
            spec = self._embedder_spec
            self._embedder = spec if isinstance(spec, Embedder) else Embedder(spec)
        if self._embedder.id != embedder or self._embedder.dim != dim:
            raise InputError(
                f"the protocol wants embedder {embedder} ({dim} dims), {self._embedder.info.path} is "
                f"{self._embedder.id} ({self._embedder.dim} dims): pass the matching --embedder"
            )
        with torch_threads(self.n_threads or default_threads()):
            return self._embedder.embed(texts)

    def weights(self) -> WeightReader:
        from ingest.weights import open_weights

        return open_weights(self.target)

    def describe(self) -> dict[str, Any]:
        if self._backend is None:
            return {"backend": self.backend_name, "model_path": str(self.path)}
        return {**self._backend.describe(), "tokens_generated": int(self._backend.tokens_generated),
                "load_seconds": self.load_seconds}

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
