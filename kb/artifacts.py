"""Artifact store: what an extraction produced, keyed by (weights fingerprint, protocol id).

Layout under the root (default `~/.cache/dnakb/artifacts`, or $DNAKB_ARTIFACTS):

    <root>/<fingerprint>/<protocol id>/
        protocol.json      the protocol record
        responses.jsonl    one {"probe", "prompt", "response"} per line (human-readable)
        embeddings.npy     per-probe embeddings (t × d, float32)
        dna.npy            the DNA (dim, float32)
        meta.json          timings, counts, backend, model path
        DONE               written last: the DNA artifact is complete
        <name>.npy, <name>.json, ...   each other channel's files (kb/channels/), its json last

Every file is written to a temp name in the same directory and moved into place with os.replace, and the
DONE marker goes last (and is removed first on a forced redo), so a worker killed at any moment leaves
either a finished artifact or one that is ignored and redone — never a half one that is read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import InputError, NotFoundError
from kb.protocol import DnaProtocol

DONE = "DONE"
_KEY = re.compile(r"^[0-9a-f]{8,64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def default_root() -> Path:
    env = os.environ.get("DNAKB_ARTIFACTS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dnakb" / "artifacts"


def _atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_name(name: str) -> str:
    if not _NAME.match(name) or name == DONE:
        raise InputError(f"bad artifact file name {name!r}: letters, digits, '_', '-', '.' only")
    return name


def save_array(directory: str | os.PathLike[str], name: str, array: np.ndarray) -> Path:
    """Write `<directory>/<name>.npy` atomically (name without suffix, e.g. "loglik")."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    path = Path(directory) / f"{_check_name(name)}.npy"
    _atomic_bytes(path, buffer.getvalue())
    return path


def load_array(directory: str | os.PathLike[str], name: str) -> np.ndarray | None:
    """`<directory>/<name>.npy`, or None when it is not there."""
    path = Path(directory) / f"{_check_name(name)}.npy"
    if not path.is_file():
        return None
    return np.load(path, allow_pickle=False)


@dataclass
class Artifact:
    """A handle on one (fingerprint, protocol) directory."""

    directory: Path
    fingerprint: str
    protocol_id: str

    # -- generic files (evidence channels use these) --------------------------------------------
    def save_array(self, name: str, array: np.ndarray) -> Path:
        return save_array(self.directory, name, array)

    def load_array(self, name: str) -> np.ndarray | None:
        return load_array(self.directory, name)

    def has(self, filename: str) -> bool:
        return (self.directory / filename).is_file()

    def save_json(self, name: str, data: Any) -> Path:
        path = self.directory / f"{_check_name(name)}.json"
        _atomic_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())
        return path

    def load_json(self, name: str) -> Any | None:
        path = self.directory / f"{_check_name(name)}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    # -- the DNA artifact --------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return (self.directory / DONE).is_file()

    def invalidate(self) -> None:
        """Remove the DONE marker first (a forced redo): from here on the artifact counts as absent."""
        (self.directory / DONE).unlink(missing_ok=True)

    def write_dna(
        self, *, protocol: DnaProtocol, prompts: list[str], responses: list[str], embeddings: np.ndarray,
        dna: np.ndarray, meta: dict[str, Any],
    ) -> None:
        """Write every file of a DNA artifact, then the DONE marker."""
        if protocol.id != self.protocol_id:
            raise InputError(f"protocol {protocol.id} written into the artifact of protocol {self.protocol_id}")
        if not (len(prompts) == len(responses) == embeddings.shape[0] == protocol.n_probes):
            raise InputError(
                f"artifact counts disagree: {len(prompts)} prompts, {len(responses)} responses, "
                f"{embeddings.shape[0]} embeddings, protocol wants {protocol.n_probes}"
            )
        self.invalidate()
        self.directory.mkdir(parents=True, exist_ok=True)
        _atomic_bytes(self.directory / "protocol.json", (protocol.to_json() + "\n").encode())
        lines = (
            json.dumps({"probe": i, "prompt": p, "response": r}, ensure_ascii=False)
            for i, (p, r) in enumerate(zip(prompts, responses))
        )
        _atomic_bytes(self.directory / "responses.jsonl", ("\n".join(lines) + "\n").encode())
        self.save_array("embeddings", np.asarray(embeddings, dtype=np.float32))
        self.save_array("dna", np.asarray(dna, dtype=np.float32))
        self.save_json("meta", {**meta, "fingerprint": self.fingerprint, "protocol": self.protocol_id})
        _atomic_bytes(self.directory / DONE, b"ok\n")  # last: the artifact is now complete

    def read_responses(self) -> list[str]:
        rows = [json.loads(line) for line in (self.directory / "responses.jsonl").read_text().splitlines() if line]
        return [row["response"] for row in sorted(rows, key=lambda r: r["probe"])]

    def read_dna(self) -> "StoredDNA":
        if not self.complete:
            raise NotFoundError(
                f"no finished DNA artifact for {self.fingerprint[:12]}… under protocol {self.protocol_id}: extract it first"
            )
        embeddings, dna = self.load_array("embeddings"), self.load_array("dna")
        if embeddings is None or dna is None:
            raise NotFoundError(f"artifact {self.directory} is marked done but lacks its arrays: extract again with --force")
        return StoredDNA(
            protocol=DnaProtocol.load(self.directory / "protocol.json"), responses=self.read_responses(),
            embeddings=embeddings, dna=dna, meta=self.load_json("meta") or {},
        )


@dataclass
class StoredDNA:
    protocol: DnaProtocol
    responses: list[str]
    embeddings: np.ndarray
    dna: np.ndarray
    meta: dict[str, Any]


class ArtifactStore:
    """Artifacts under one root directory, keyed by (fingerprint, protocol id)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    def check_writable(self) -> None:
        """Refuse now, not after the first extraction, a root this process cannot write into."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".writable.", delete=True)
            probe.close()
        except OSError as error:
            raise InputError(f"cannot write artifacts into {self.root}: {error.strerror or error}; "
                             "give another --artifacts folder") from None

    def path_for(self, fingerprint: str, protocol_id: str) -> Path:
        """The directory of one artifact (not created here)."""
        for label, key in (("fingerprint", fingerprint), ("protocol id", protocol_id)):
            if not isinstance(key, str) or not _KEY.match(key):
                raise InputError(f"bad {label} {key!r}: expected 8-64 lowercase hex characters")
        return self.root / fingerprint / protocol_id

    def artifact(self, fingerprint: str, protocol_id: str) -> Artifact:
        return Artifact(self.path_for(fingerprint, protocol_id), fingerprint, protocol_id)

    def is_complete(self, fingerprint: str, protocol_id: str) -> bool:
        return self.artifact(fingerprint, protocol_id).complete

    def save_array(self, fingerprint: str, protocol_id: str, name: str, array: np.ndarray) -> Path:
        return save_array(self.path_for(fingerprint, protocol_id), name, array)

    def load_array(self, fingerprint: str, protocol_id: str, name: str) -> np.ndarray | None:
        return load_array(self.path_for(fingerprint, protocol_id), name)

    def entries(self) -> Iterator[Artifact]:
        """Every finished DNA artifact under the root."""
        if not self.root.is_dir():
            return
        for fp_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and _KEY.match(p.name)):
            for proto_dir in sorted(p for p in fp_dir.iterdir() if p.is_dir() and _KEY.match(p.name)):
                artifact = Artifact(proto_dir, fp_dir.name, proto_dir.name)
                if artifact.complete:
                    yield artifact

    def remove(self, fingerprint: str, protocol_id: str) -> None:
        artifact = self.artifact(fingerprint, protocol_id)
        artifact.invalidate()
        shutil.rmtree(artifact.directory, ignore_errors=True)


ARTIFACTS_META = "artifacts"
"""Store meta key holding the artifact root the KB's ingest wrote to (so `infer` finds it later)."""


def artifact_store_for(store: Any, root: str | os.PathLike[str] | None = None) -> ArtifactStore:
    """The artifact store of a KB: `root` when given, else the one its ingest recorded, else the default."""
    return ArtifactStore(root if root is not None else store.get_meta(ARTIFACTS_META))


class ArtifactArrays:
    """Arrays of a KB's models' finished artifacts (per-probe embeddings, per-text log-likelihoods), read
    from an artifact store: an `ArraysLoader` for `kb.lineage.infer` (model id, protocol id, array
    name -> the array, or None)."""

    def __init__(self, store: Any, root: str | os.PathLike[str] | None = None) -> None:
        self.store = store
        self.cache = artifact_store_for(store, root)
        self._fingerprints: dict[str, dict[str, str]] = {}
        self._done: dict[tuple[str, str], str | None] = {}  # (model, protocol) -> its finished fingerprint

    def __call__(self, model_id: str, protocol_id: str, name: str) -> np.ndarray | None:
        key = (model_id, protocol_id)
        if key not in self._done:  # one store read per protocol, one completeness check per model
            if protocol_id not in self._fingerprints:
                self._fingerprints[protocol_id] = self.store.fingerprints(protocol_id)
            fingerprint = self._fingerprints[protocol_id].get(model_id)
            self._done[key] = fingerprint if fingerprint and self.cache.is_complete(fingerprint, protocol_id) else None
        fingerprint = self._done[key]
        return None if fingerprint is None else self.cache.load_array(fingerprint, protocol_id, name)
