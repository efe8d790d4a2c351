"""Extract a model's evidence: every channel its protocol makes, cached in the artifact store.

`extract` runs the channels of kb/channels/ over one model: each is first looked up in the artifact
store by (weights fingerprint, protocol id) and reused when done (`reused`), else produced through
one `ModelHandle` (the backend loads once for all channels) and saved. The text DNA is the model's
identity: if it fails, the extraction fails; any other channel fails alone (skipped, with the reason
kept in its artifact so a re-run does not retry). `extract_dna` is the text DNA alone.
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

from kb import channels as registry
from kb.artifacts import ArtifactStore
from kb.channels.base import Produced
from kb.errors import InputError
from kb.probes import ProbeSet, load_probes
from kb.protocol import DnaProtocol
from ingest.access import ModelHandle, ModelSource, resolve_source
from ingest.backends.api import ApiSpec
from ingest.embedder import Embedder, embedder_info

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
    seed: int = DEFAULT_SEED, dim: int = DEFAULT_DIM, chat_template: bool = False,
) -> DnaProtocol:
    """The protocol for the shipped probe file (first `n_probes`) and the default (or named) embedder;
    `chat_template`: probe each model through its own chat template (raw where it has none)."""
    probe_set = load_probes(probes)
    probe_set.head(n_probes)  # range check
    info = embedder_info(embedder)
    return DnaProtocol(probe_set=probe_set.id, n_probes=n_probes, max_new_tokens=max_new_tokens,
                       chat_template=chat_template, embedder=info.id, embedder_dim=info.dim, seed=seed, dim=dim)


@dataclass
class Extraction:
    """Every channel of one model: `produced` by channel name (a skipped one has `.skipped`)."""

    model_path: str
    fingerprint: str
    protocol: DnaProtocol
    backend: str
    produced: dict[str, Produced]
    timings: dict[str, float]
    artifact_dir: str
    usage: dict[str, Any] | None = None
    """Requests and tokens an API model cost in this run (None for a local model)."""

    @property
    def reused(self) -> bool:
        return all(p.reused for p in self.produced.values())

    def vectors(self) -> dict[str, np.ndarray]:
        """Channel name -> vector, for the channels that have one."""
        return {name: p.vector for name, p in self.produced.items() if p.vector is not None}

    def skipped(self) -> dict[str, str]:
        return {name: p.skipped for name, p in self.produced.items() if p.skipped}

    def record_fields(self) -> dict[str, Any]:
        """Model fields the channels established (signature, precision)."""
        out: dict[str, Any] = {}
        for p in self.produced.values():
            out.update({k: v for k, v in p.record.items() if v is not None})
        return out


ModelRef = str | os.PathLike[str] | ModelSource | ApiSpec
"""A model as `extract` takes it: a local path, a resolved source, or an API model."""


def extract(
    model_path: ModelRef, protocol: DnaProtocol, *, channels: tuple[str, ...] | None = None,
    backend: str | None = None, artifacts: ArtifactStore | str | os.PathLike[str] | None = None,
    force: bool = False, batch_size: int | None = None, n_threads: int | None = None,
    device: str | None = None, embedder: str | os.PathLike[str] | Embedder | None = None,
    probes: str | os.PathLike[str] | ProbeSet | None = None, progress: ProgressFn | None = None,
) -> Extraction:
    """Every channel of `protocol` (or the named `channels` among them) for the model at `model_path`
    (a local path, or an `ApiSpec` / `ModelSource` for a model behind an API).

    Cost: the text DNA generates `max_new_tokens` per probe (the dominant term); the log-likelihood
    profile is one forward pass per reference text; the weight sketch one streamed read of the file.
    An API model costs one request per probe (+1, the determinism check) and one per reference text;
    its answers are cached in the artifact folder, so a re-run after an interruption asks only for the rest.
    """
    say = progress or (lambda _msg: None)
    t_total = time.perf_counter()
    source = resolve_source(model_path, backend)
    wanted = [c for c in registry.REGISTRY if c.name in protocol.channel_names
              and (channels is None or c.name in channels)]
    for name in channels or ():
        if name not in protocol.channel_names:
            raise InputError(f"protocol {protocol.id} does not make channel {registry.get(name).name!r}")
    store = artifacts if isinstance(artifacts, ArtifactStore) else ArtifactStore(artifacts)
    start = time.perf_counter()
    fp = source.fingerprint()
    timings: dict[str, float] = {"fingerprint": time.perf_counter() - start}
    artifact = store.artifact(fp, protocol.id)
    probe_set = probes if isinstance(probes, ProbeSet) else load_probes(probes) if probes is not None else None
    model = ModelHandle(source, batch_size=batch_size, n_threads=n_threads, device=device, embedder=embedder,
                        cache_dir=artifact.directory, fresh=force)
    label = source.label
    produced: dict[str, Produced] = {}
    try:
        for chan in sorted(wanted, key=lambda c: c.optional):  # the text DNA first: it may fail the model
            found = None if force else chan.load(artifact)
            if found is not None:
                say(f"{chan.name}: reusing {artifact.directory}")
                produced[chan.name] = chan.refresh(artifact, found, model)
                continue
            say(f"{chan.name}: extracting")
            start = time.perf_counter()
            try:
                if chan.name == "text":
                    made = chan.produce(model, protocol, say, probes=probe_set)  # type: ignore[call-arg]
                else:
                    made = chan.produce(model, protocol, say)
            except InputError as error:
                if not chan.optional:
                    raise
                made = Produced(None, skipped=str(error))
                say(f"{chan.name} skipped: {error}")
            made.detail.setdefault("seconds", time.perf_counter() - start)
            if chan.name == "text":
                made.detail.update(_text_meta(model, protocol, label))
            timings[chan.name] = time.perf_counter() - start
            chan.save(artifact, protocol, made)
            produced[chan.name] = made
        usage = model.usage()
    finally:
        model.close()
    if model.load_seconds:
        timings["load"] = model.load_seconds
    timings["total"] = time.perf_counter() - t_total
    return Extraction(label, fp, protocol, source.backend, produced, timings, str(artifact.directory), usage)


def _text_meta(model: ModelHandle, protocol: DnaProtocol, model_path: Any) -> dict[str, Any]:
    """What a DNA artifact's meta.json records beside the counts: the run and the machine."""
    return {**model.describe(), "model_path": str(model_path), "n_probes": protocol.n_probes,
            "embedder": protocol.embedder, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}



def extract_dna(
    model_path: ModelRef, protocol: DnaProtocol | None = None, *,
    backend: str | None = None, artifacts: ArtifactStore | str | os.PathLike[str] | None = None,
    force: bool = False, batch_size: int | None = None, n_threads: int | None = None,
    progress: ProgressFn | None = None, embedder: str | os.PathLike[str] | Embedder | None = None,
    probes: str | os.PathLike[str] | ProbeSet | None = None, device: str | None = None,
) -> DNAResult:
    """The text DNA of the model at `model_path` (HF folder or GGUF file) under `protocol` (default:
    `default_protocol()`), reused from the artifact store unless `force`."""
    if protocol is None:
        protocol = default_protocol(embedder=embedder if not isinstance(embedder, Embedder) else embedder.info.path)
    done = extract(model_path, protocol, channels=("text",), backend=backend, artifacts=artifacts, force=force,
                   batch_size=batch_size, n_threads=n_threads, device=device, embedder=embedder, probes=probes,
                   progress=progress)
    text = done.produced["text"]
    meta = dict(text.detail)
    responses = meta.pop("responses")
    meta.pop("prompts", None)
    n_empty = int(meta.get("n_empty", 0))
    if n_empty and not text.reused:
        warnings.warn(f"{n_empty} of {len(responses)} responses of {model_path} are empty (the model emitted EOS "
                      "at once); they count as zero embeddings", EmptyResponsesWarning, stacklevel=2)
    timings = {"fingerprint": done.timings["fingerprint"], "total": done.timings["total"]}
    if not text.reused:
        timings.update({"load": done.timings.get("load", 0.0), **meta.get("timings", {})})
    return DNAResult(
        model_path=done.model_path, fingerprint=done.fingerprint, protocol=protocol, dna=text.vector,
        responses=responses, embeddings=text.arrays["embeddings"], n_empty=n_empty, timings=timings,
        backend=str(meta.get("backend") or done.backend), reused=text.reused, meta=meta,
        artifact_dir=done.artifact_dir,
    )
