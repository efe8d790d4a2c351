"""What a model is, how to reach it, and the model as the channel producers see it (`ModelAccess`).

`resolve_source` is the one place that answers "what is this model and how do I reach it": local
weights (an HF folder or a GGUF file, with the backend that loads them) or a model behind an
OpenAI-compatible API (`ApiSpec`). Its `fingerprint()` is the artifact key: the sha256 of the weights
for a local model; for an API model, whose weights are unknown, the sha256 of what names it (base_url,
model id, extra request fields), recorded as such.

`ModelHandle` serves one extraction: the backend loads (or the API client opens) on first use and
serves generation and scoring for every channel (one load, not one per channel); the embedder loads
on first embed; the weights are read straight from the files (ingest/weights.py) without loading a
backend, and an API model has none (that channel is skipped with the reason).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.channels.base import Say, WeightReader
from kb.errors import InputError
from ingest.backends import load_backend, resolve_model
from ingest.backends.api import ApiSpec
from ingest.backends.base import Backend, default_threads
from ingest.embedder import Embedder


@dataclass(frozen=True)
class ModelSource:
    """A model resolved: its backend, and either the local file/folder (`path` as given, `target` what the
    backend loads) or the API it sits behind (`api`)."""

    backend: str
    path: Path | None = None
    target: Path | None = None
    api: ApiSpec | None = None

    @property
    def is_api(self) -> bool:
        return self.api is not None

    @property
    def label(self) -> str:
        return self.api.label if self.api is not None else str(self.path)

    def fingerprint(self) -> str:
        """The artifact key: sha256 of the weights (local), or of the API identity (see ApiSpec.identity)."""
        if self.api is not None:
            return self.api.fingerprint()
        from ingest.fingerprint import fingerprint

        assert self.path is not None and self.target is not None
        return fingerprint(self.target if self.backend == "llama-cpp" else self.path)

    def identity(self) -> dict[str, Any]:
        """What the fingerprint is a hash of, for the artifact's meta."""
        if self.api is not None:
            return self.api.identity()
        return {"kind": "weights", "path": str(self.path)}

    def open(self, **options: Any) -> Backend:
        if self.api is not None:
            from ingest.backends.api import ApiBackend

            return ApiBackend(self.api, cache_dir=options.get("cache_dir"), fresh=bool(options.get("fresh")))
        return load_backend(self.target, self.backend, batch_size=options.get("batch_size"),
                            n_threads=options.get("n_threads"), device=options.get("device"))


def resolve_source(model: str | os.PathLike[str] | ModelSource | ApiSpec, backend: str | None = None) -> ModelSource:
    """A ModelSource for a path (backend from the path, or `backend`), an ApiSpec, or a ModelSource as is."""
    if isinstance(model, ModelSource):
        return model
    if isinstance(model, ApiSpec):
        return ModelSource("api", api=model)
    if backend == "api":
        raise InputError(f"{model}: the api backend needs base_url and model, not a path")
    name, target = resolve_model(model, backend)
    return ModelSource(name, path=Path(model), target=target)


class ModelHandle:
    """One model during one extraction; `close()` frees whatever was loaded."""

    def __init__(self, model: str | os.PathLike[str] | ModelSource | ApiSpec, backend: str | None = None, *,
                 batch_size: int | None = None, n_threads: int | None = None, device: str | None = None,
                 embedder: str | os.PathLike[str] | Embedder | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, fresh: bool = False) -> None:
        self.source = resolve_source(model, backend)
        self.backend_name = self.source.backend
        self.path = self.source.path
        self.target = self.source.target
        self.batch_size, self.n_threads, self.device = batch_size, n_threads, device
        self.cache_dir, self.fresh = cache_dir, fresh
        self._embedder_spec = embedder
        self._backend: Backend | None = None
        self._embedder: Embedder | None = None
        self.load_seconds = 0.0

    def _loaded(self) -> Backend:
        if self._backend is None:
            start = time.perf_counter()
            self._backend = self.source.open(batch_size=self.batch_size, n_threads=self.n_threads, device=self.device,
                                             cache_dir=self.cache_dir, fresh=self.fresh)
            self.load_seconds = time.perf_counter() - start
        return self._backend

    def generate(self, prompts: Sequence[str], max_new_tokens: int, *, chat: bool, progress: Say) -> list[str]:
        """Greedy responses; `chat`: through the model's own chat template (raw where it has none)."""
        return self._loaded().generate(prompts, max_new_tokens, progress=progress, chat=chat)

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
        if self.source.is_api:
            raise InputError("an API model's weights are unknown: no weight sketch")
        from ingest.weights import open_weights

        assert self.target is not None
        return open_weights(self.target)

    def usage(self) -> dict[str, Any] | None:
        """Requests and tokens an API model cost in this extraction (None for a local model)."""
        usage = getattr(self._backend, "usage", None)
        return usage() if callable(usage) else None

    def describe(self) -> dict[str, Any]:
        if self._backend is None:
            return {"backend": self.backend_name, "model_path": str(self.path) if self.path else None,
                    "identity": self.source.identity()}
        return {**self._backend.describe(), "tokens_generated": int(self._backend.tokens_generated),
                "load_seconds": self.load_seconds, "identity": self.source.identity()}

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


LocalModel = ModelHandle
"""The name this class had while every model was local."""
