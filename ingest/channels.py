"""Evidence channels beside the text DNA, computed and cached per (weights fingerprint, protocol).

`extract_channels()` is what ingest calls right after `extract_dna()`: the log-likelihood profile
(ingest/loglik.py) and the weight sketch with the architecture signature (ingest/weights.py).
Each channel fails alone: a GGUF the reader cannot dequantise loses its weight sketch (the
signature is still read), a model without logits loses its log-likelihood profile; the reason is
in `ChannelResult.skipped` and the other channels are still produced.

Artifact files (each written atomically; present = finished, so a re-run reuses them):
    loglik.npy (dim floats), loglik_raw.npy (per-byte log-likelihood per reference text),
    loglik.json (seconds, backend), sketch.npy (k*k floats per block), sketch.json (signature,
    canonical tensor names and shapes, blocks, skipped tensors, precision, seconds; or the reason
    the sketch was skipped).
Both channels enter the protocol through `with_channels()` (DnaProtocol.loglik_set / .sketch).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import InputError
from kb.evidence_math import LOGLIK_DIM, SKETCH_K
from kb.protocol import DnaProtocol
from kb.records import ModelRecord
from ingest.artifacts import ArtifactStore
from ingest.loglik import loglik_descriptor, parse_loglik_descriptor, timed_profile
from ingest.reftexts import RefTextSet
from ingest.weights import DEFAULT_MAX_KIB, parse_sketch_descriptor, sketch_descriptor, weight_signature, weight_sketch

CHANNEL_NAMES = ("loglik", "sketch")


def with_channels(
    protocol: DnaProtocol, *, loglik: bool = True, sketch: bool = True, seed: int | None = None,
    loglik_dim: int = LOGLIK_DIM, n_texts: int | None = None, reftexts: RefTextSet | None = None,
    k: int = SKETCH_K, max_kib: int = DEFAULT_MAX_KIB,
) -> DnaProtocol:
    """`protocol` with the evidence-channel descriptors filled in (seed defaults to protocol.seed)."""
    seed = protocol.seed if seed is None else seed
    return dataclasses.replace(
        protocol,
        loglik_set=loglik_descriptor(reftexts, n=n_texts, seed=seed, dim=loglik_dim) if loglik else None,
        sketch=sketch_descriptor(seed, k, max_kib) if sketch else None,
    )


@dataclass
class ChannelResult:
    """What one model got on each channel; None plus a reason in `skipped` where it got nothing."""

    model_path: str
    fingerprint: str
    protocol: str
    loglik: np.ndarray | None = None
    loglik_raw: np.ndarray | None = None
    sketch: np.ndarray | None = None
    signature: str | None = None
    precision: str | None = None
    sketch_detail: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reused: dict[str, bool] = field(default_factory=dict)

    def apply(self, record: ModelRecord) -> ModelRecord:
        """Copy the channels onto a ModelRecord (the Model node's loglik/sketch/signature/precision)."""
        if self.loglik is not None:
            record.loglik = [float(x) for x in self.loglik]
        if self.sketch is not None:
            record.sketch = [float(x) for x in self.sketch]
        record.signature = self.signature or record.signature
        record.precision = self.precision or record.precision
        return record

    def summary(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path, "fingerprint": self.fingerprint, "protocol": self.protocol,
            "loglik_dim": None if self.loglik is None else int(self.loglik.size),
            "sketch_values": None if self.sketch is None else int(self.sketch.size),
            "signature": self.signature, "precision": self.precision, "skipped": self.skipped,
            "seconds": self.seconds, "reused": self.reused,
        }


def _resolve(model_path: Path, backend: str | None) -> tuple[str | None, Path, str | None]:
    """(backend name or None, weights path, reason the model cannot be run) for a model path."""
    from ingest.backends import resolve_model

    try:
        name, target = resolve_model(model_path, backend)
        return name, target, None
    except InputError as error:
        return None, model_path, str(error)


def extract_channels(
    model_path: str | os.PathLike[str], protocol: DnaProtocol,
    artifacts: ArtifactStore | str | os.PathLike[str] | None = None, *,
    fingerprint: str | None = None, backend: str | None = None, channels: tuple[str, ...] = CHANNEL_NAMES,
    force: bool = False, batch_size: int | None = None, n_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ChannelResult:
    """Log-likelihood profile and weight sketch of one model under `protocol` (see module docstring).

    Only channels that the protocol describes (`with_channels`) and `channels` names are computed.
    Cost: loglik = one forward pass per reference text; sketch = one streamed read of the weights.
    """
    unknown = sorted(set(channels) - set(CHANNEL_NAMES))
    if unknown:
        raise InputError(f"unknown channel(s) {', '.join(unknown)}: use {', '.join(CHANNEL_NAMES)}")
    say = progress or (lambda _m: None)
    model_path = Path(model_path)
    if not model_path.exists():
        raise InputError(f"no model at {model_path}: give a model folder or a .gguf file")
    store = artifacts if isinstance(artifacts, ArtifactStore) else ArtifactStore(artifacts)
    backend_name, target, unrunnable = _resolve(model_path, backend)
    if fingerprint is None:
        from ingest.fingerprint import fingerprint as weights_fingerprint

        fingerprint = weights_fingerprint(target if backend_name == "llama-cpp" else model_path)
    artifact = store.artifact(fingerprint, protocol.id)
    result = ChannelResult(str(model_path), fingerprint, protocol.id)

    if "loglik" in channels:
        if protocol.loglik_set is None:
            result.skipped["loglik"] = f"protocol {protocol.id} has no log-likelihood channel"
        else:
            _loglik(result, artifact, protocol, backend_name, target, unrunnable, force, batch_size, n_threads, say)
    if "sketch" in channels:
        if protocol.sketch is None:
            result.skipped["sketch"] = f"protocol {protocol.id} has no weight-sketch channel"
        else:
            _sketch(result, artifact, protocol, target, force, say)
    return result


def _loglik(result: ChannelResult, artifact: Any, protocol: DnaProtocol, backend_name: str | None,
            target: Path, unrunnable: str | None, force: bool, batch_size: int | None,
            n_threads: int | None, say: Callable[[str], None]) -> None:
    parse_loglik_descriptor(protocol.loglik_set)  # fail early on a malformed descriptor
    cached = None if force else artifact.load_array("loglik")
    if cached is not None:
        meta = artifact.load_json("loglik") or {}
        result.loglik, result.loglik_raw = cached, artifact.load_array("loglik_raw")
        result.seconds["loglik"] = float(meta.get("seconds", 0.0))
        result.reused["loglik"] = True
        return
    if unrunnable is not None:
        result.skipped["loglik"] = f"cannot run the model: {unrunnable}"
        say(f"loglik skipped: {result.skipped['loglik']}")
        return
    from ingest.backends import load_backend

    try:
        t0 = time.perf_counter()
        model = load_backend(target, backend_name, batch_size=batch_size, n_threads=n_threads)
        load_s = time.perf_counter() - t0
        try:
            profile, raw, seconds = timed_profile(model, protocol, say)
        finally:
            model.close()
    except (InputError, ImportError) as error:  # ImportError: an optional backend is not installed
        result.skipped["loglik"] = str(error)
        say(f"loglik skipped: {error}")
        return
    artifact.save_array("loglik_raw", raw.astype(np.float32))
    artifact.save_json("loglik", {"seconds": seconds + load_s, "score_seconds": seconds, "load_seconds": load_s,
                                  "backend": backend_name, "descriptor": protocol.loglik_set})
    artifact.save_array("loglik", profile)  # last: its presence marks the channel done
    result.loglik, result.loglik_raw = profile, raw
    result.seconds["loglik"] = seconds + load_s
    result.reused["loglik"] = False


def _sketch(result: ChannelResult, artifact: Any, protocol: DnaProtocol, target: Path, force: bool,
            say: Callable[[str], None]) -> None:
    spec = parse_sketch_descriptor(protocol.sketch or "")
    detail = None if force else artifact.load_json("sketch")
    if detail is not None and (detail.get("skipped_reason") or artifact.has("sketch.npy")):
        result.sketch = artifact.load_array("sketch")
        result.signature, result.precision = detail.get("signature"), detail.get("precision")
        result.sketch_detail = detail
        if detail.get("skipped_reason"):
            result.skipped["sketch"] = detail["skipped_reason"]
        result.seconds["sketch"] = float(detail.get("seconds", 0.0))
        result.reused["sketch"] = True
        return
    try:
        sketch = weight_sketch(target, spec["seed"], k=spec["k"], max_kib=spec["max_kib"])
    except InputError as error:
        result.skipped["sketch"] = str(error)
        say(f"weight sketch skipped: {error}")
        try:  # the signature needs only the headers
            result.signature, tensors = weight_signature(target)
        except InputError:
            return
        result.sketch_detail = {"signature": result.signature, "skipped_reason": str(error),
                                "tensors": [[n, list(s)] for n, s in tensors]}
        artifact.save_json("sketch", result.sketch_detail)
        return
    artifact.save_array("sketch", sketch.vector)
    result.sketch_detail = sketch.detail()
    artifact.save_json("sketch", result.sketch_detail)  # last: marks the channel done
    result.sketch, result.signature, result.precision = sketch.vector, sketch.signature, sketch.precision
    result.seconds["sketch"] = sketch.seconds
    result.reused["sketch"] = False
