"""Extract a model's DNA: probes -> greedy responses -> sentence embeddings -> random projection.

The artifact store is consulted first, by (weights fingerprint, protocol id): a finished artifact is
returned without loading the model or the embedder (`reused=True`); `force=True` redoes it.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kb.dna import dna_from_embeddings
from kb.errors import InputError
from kb.protocol import DnaProtocol
from ingest.artifacts import ArtifactStore
from ingest.backends import load_backend, resolve_model
from ingest.backends.base import default_threads
from ingest.backends.hf import torch_threads
from ingest.embedder import Embedder, embedder_info
from ingest.fingerprint import fingerprint as weights_fingerprint
from ingest.probes import ProbeSet, load_probes

DEFAULT_MAX_NEW_TOKENS = 64
"""Token budget per response. 64 keeps a 600-probe tiny-model extraction in seconds; see the ablation in bench/."""
DEFAULT_SEED = 0
DEFAULT_DIM = 128

ProgressFn = Callable[[str], None]


class EmptyResponsesWarning(UserWarning):
    """Some responses were empty (the model emitted EOS at once); their embeddings are zero rows."""


@dataclass
class DNAResult:
    model_path: str
    fingerprint: str
    protocol: DnaProtocol
    dna: np.ndarray
    responses: list[str]
    embeddings: np.ndarray
    n_empty: int
    timings: dict[str, float]
    backend: str
    reused: bool
    meta: dict[str, Any] = field(default_factory=dict)
    artifact_dir: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-friendly view (the DNA as a list, no embeddings)."""
        return {
            "model_path": self.model_path, "fingerprint": self.fingerprint, "protocol": self.protocol.id,
            "backend": self.backend, "reused": self.reused, "n_probes": len(self.responses),
            "n_empty": self.n_empty, "timings": self.timings, "tokens_generated": self.meta.get("tokens_generated"),
            "artifact_dir": self.artifact_dir, "dna": [round(float(x), 6) for x in self.dna],
        }


def default_protocol(
    n_probes: int = 600, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, *,
    embedder: str | os.PathLike[str] | None = None, probes: str | os.PathLike[str] | None = None,
    seed: int = DEFAULT_SEED, dim: int = DEFAULT_DIM,
) -> DnaProtocol:
    """The protocol for the shipped probe file (first `n_probes`) and the default (or named) embedder."""
    probe_set = load_probes(probes)
    probe_set.head(n_probes)  # range check
    info = embedder_info(embedder)
    return DnaProtocol(probe_set=probe_set.id, n_probes=n_probes, max_new_tokens=max_new_tokens,
                       embedder=info.id, embedder_dim=info.dim, seed=seed, dim=dim)


def _probes_for(protocol: DnaProtocol, probes: str | os.PathLike[str] | ProbeSet | None) -> list[str]:
    probe_set = probes if isinstance(probes, ProbeSet) else load_probes(probes)
    if probe_set.id != protocol.probe_set:
        raise InputError(
            f"protocol {protocol.id} wants probe set {protocol.probe_set}, {probe_set.source} is {probe_set.id}: "
            "pass the matching probe file"
        )
    return probe_set.head(protocol.n_probes)


def _embedder_for(protocol: DnaProtocol, embedder: str | os.PathLike[str] | Embedder | None) -> Embedder:
    emb = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
    if emb.id != protocol.embedder or emb.dim != protocol.embedder_dim:
        raise InputError(
            f"protocol {protocol.id} wants embedder {protocol.embedder} ({protocol.embedder_dim} dims), "
            f"{emb.info.path} is {emb.id} ({emb.dim} dims): pass the matching --embedder"
        )
    return emb


def _from_artifact(model_path: Path, fp: str, protocol: DnaProtocol, store: ArtifactStore,
                   timings: dict[str, float]) -> DNAResult:
    """A finished artifact as a result; `timings` are this call's (the original run's are in meta)."""
    stored = store.artifact(fp, protocol.id).read_dna()
    meta = stored.meta
    return DNAResult(
        model_path=str(model_path), fingerprint=fp, protocol=stored.protocol, dna=stored.dna.astype(np.float32),
        responses=stored.responses, embeddings=stored.embeddings, n_empty=int(meta.get("n_empty", 0)),
        timings=timings, backend=str(meta.get("backend", "")), reused=True, meta=meta,
        artifact_dir=str(store.path_for(fp, protocol.id)),
    )


def extract_dna(
    model_path: str | os.PathLike[str], protocol: DnaProtocol | None = None, *,
    backend: str | None = None, artifacts: ArtifactStore | str | os.PathLike[str] | None = None,
    force: bool = False, batch_size: int | None = None, n_threads: int | None = None,
    progress: ProgressFn | None = None, embedder: str | os.PathLike[str] | Embedder | None = None,
    probes: str | os.PathLike[str] | ProbeSet | None = None, device: str | None = None,
) -> DNAResult:
    """DNA of the model at `model_path` (HF folder or GGUF file) under `protocol` (default: `default_protocol()`).

    Cost: one greedy generation of `max_new_tokens` per probe (the dominant term), one embedding per
    response, O(t·L·d) for the projection. Artifacts are reused unless `force`.
    """
    say = progress or (lambda _msg: None)
    t_total = time.perf_counter()
    backend_name, target = resolve_model(model_path, backend)
    if protocol is None:
        protocol = default_protocol(embedder=embedder if not isinstance(embedder, Embedder) else embedder.info.path)
    if protocol.chat_template:
        raise InputError("chat_template=True is not supported yet: extract with chat_template=False")
    store = artifacts if isinstance(artifacts, ArtifactStore) else ArtifactStore(artifacts)

    t0 = time.perf_counter()
    fp = weights_fingerprint(target if backend_name == "llama-cpp" else Path(model_path))
    t_fp = time.perf_counter() - t0
    artifact = store.artifact(fp, protocol.id)
    if artifact.complete and not force:
        say(f"reusing artifact {artifact.directory}")
        result = _from_artifact(Path(model_path), fp, protocol, store, {"fingerprint": t_fp})
        result.timings["total"] = time.perf_counter() - t_total
        return result

    prompts = _probes_for(protocol, probes)
    emb = _embedder_for(protocol, embedder)
    timings: dict[str, float] = {"fingerprint": t_fp}

    say(f"loading {target} ({backend_name})")
    t0 = time.perf_counter()
    model = load_backend(target, backend_name, batch_size=batch_size, n_threads=n_threads, device=device)
    timings["load"] = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        responses = model.generate(prompts, protocol.max_new_tokens, progress=say)
        timings["generate"] = time.perf_counter() - t0
        described = model.describe()
        tokens_generated = int(getattr(model, "tokens_generated", 0))
    finally:
        model.close()

    t0 = time.perf_counter()
    with torch_threads(n_threads or default_threads()):
        embeddings, n_empty = emb.embed(responses)
    timings["embed"] = time.perf_counter() - t0
    if n_empty:
        message = f"{n_empty} of {len(responses)} responses of {model_path} are empty (the model emitted EOS at once); they count as zero embeddings"
        warnings.warn(message, EmptyResponsesWarning, stacklevel=2)

    t0 = time.perf_counter()
    dna = dna_from_embeddings(embeddings, protocol)
    timings["project"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_total

    meta = {
        **described, "model_path": str(model_path), "n_probes": len(prompts), "n_empty": n_empty,
        "tokens_generated": tokens_generated, "timings": timings, "embedder": emb.id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    artifact.write_dna(protocol=protocol, prompts=prompts, responses=responses, embeddings=embeddings,
                       dna=dna, meta=meta)
    say(f"DNA written to {artifact.directory} ({timings['total']:.1f} s)")
    return DNAResult(
        model_path=str(model_path), fingerprint=fp, protocol=protocol, dna=dna, responses=responses,
        embeddings=embeddings, n_empty=n_empty, timings=timings, backend=backend_name, reused=False, meta=meta,
        artifact_dir=str(artifact.directory),
    )
