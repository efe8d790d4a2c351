"""Per-probe embeddings for `kb.lineage.infer`'s bootstrap, read from the artifact store.

kb must not import ingest, so inference asks a registered source: given the store and a protocol
id, return the protocol record and a loader from model id to the embeddings of its artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ingest.artifacts import ArtifactStore
from kb.lineage.infer import register_embeddings_source
from kb.protocol import DnaProtocol


def artifact_embeddings(store: Any, protocol_id: str, artifacts: str | Path | None = None):
    """(protocol record or None, loader) for the models of `store` under `protocol_id`."""
    cache = ArtifactStore(artifacts)
    fingerprints = {m.id: m.fingerprint for m in store.get_models() if m.protocol == protocol_id}
    protocol = None
    for fingerprint in fingerprints.values():
        if fingerprint and cache.is_complete(fingerprint, protocol_id):
            protocol = cache.artifact(fingerprint, protocol_id).read_dna().protocol
            break

    def load(model_id: str) -> np.ndarray | None:
        fingerprint = fingerprints.get(model_id)
        if not fingerprint or not cache.is_complete(fingerprint, protocol_id):
            return None
        return cache.load_array(fingerprint, protocol_id, "embeddings")

    return (protocol if isinstance(protocol, DnaProtocol) else None), load


def register(artifacts: str | Path | None = None) -> None:
    register_embeddings_source(lambda store, pid: artifact_embeddings(store, pid, artifacts))
