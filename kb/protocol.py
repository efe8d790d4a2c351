"""The DNA protocol: everything that must agree for two DNAs to be comparable.

A protocol is a small frozen record; its id is a short hash of the canonical JSON of all its fields,
so any change (another probe set, token budget, embedder, seed, dimension, evidence channel) yields
another id. Every stored DNA carries its protocol id; comparing across ids raises
`ProtocolMismatchError`. The text DNA's settings are the protocol's own fields; every other evidence
channel (kb/channels/) adds a descriptor under its name in `channels`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from kb.errors import InputError, ProtocolMismatchError

PROTOCOL_ID_LEN = 16
"""Hex characters of sha256 kept in a protocol id (64 bits: collisions are not a practical concern)."""

PROTOCOL_META = "protocol"
"""Store meta key holding the KB's active protocol (its JSON record)."""

LEGACY_KEYS = {"loglik": "loglik_set", "weights": "sketch"}
"""JSON keys of the two channels that protocols carried before channels were plug-ins: they stay in
the canonical JSON (null when absent), so the ids of existing protocols, artifacts and KBs hold."""


def _channel_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    pairs = value.items() if isinstance(value, dict) else value
    try:
        out = tuple(sorted((str(name), descriptor) for name, descriptor in pairs))
    except (TypeError, ValueError):
        raise InputError(f"protocol field channels={value!r}: expected channel name -> descriptor") from None
    names = [name for name, _ in out]
    for name, descriptor in out:
        if name == "text" or not name:
            raise InputError(f"protocol channel {name!r}: the text DNA is described by the protocol's own fields")
        if not isinstance(descriptor, str) or not descriptor:
            raise InputError(f"protocol channel {name!r}: its descriptor must be a non-empty string")
    if len(set(names)) != len(names):
        raise InputError(f"protocol channels repeat: {names}")
    return out


@dataclass(frozen=True, kw_only=True)
class DnaProtocol:
    """How a DNA was made.

    probe_set: content hash of the probe file; n_probes: how many of its prompts (the first n);
    max_new_tokens / greedy / chat_template: generation; embedder / embedder_dim: the sentence
    embedder's id and output width; seed / dim: the Gaussian projection; channels: (name, descriptor)
    of every other evidence channel the protocol makes (a mapping is accepted and sorted).
    """

    probe_set: str
    n_probes: int
    max_new_tokens: int
    greedy: bool = True
    chat_template: bool = False
    embedder: str
    embedder_dim: int
    seed: int = 0
    dim: int = 128
    channels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _channel_pairs(self.channels))
        for name in ("n_probes", "max_new_tokens", "embedder_dim", "dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"protocol field {name}={value!r}: expected a positive integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"protocol field seed={self.seed!r}: expected a non-negative integer")
        for name in ("probe_set", "embedder"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InputError(f"protocol field {name}={value!r}: expected a non-empty string")
        for name in ("greedy", "chat_template"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"protocol field {name}={getattr(self, name)!r}: expected true/false")
        if not self.greedy:
            raise InputError("protocol field greedy=False: only greedy decoding is deterministic; use greedy=True")

    # -- channels -------------------------------------------------------------------------------
    def channel(self, name: str) -> str | None:
        """The descriptor of channel `name`, or None when this protocol does not make it."""
        return dict(self.channels).get(name)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Every channel this protocol makes: the text DNA and the described ones."""
        return ("text", *(name for name, _ in self.channels))

    def with_channels(self, descriptors: dict[str, str | None]) -> "DnaProtocol":
        """This protocol with the given channel descriptors set (None removes a channel)."""
        merged = dict(self.channels)
        for name, descriptor in descriptors.items():
            if descriptor is None:
                merged.pop(name, None)
            else:
                merged[name] = descriptor
        return replace(self, channels=tuple(merged.items()))

    # -- identity -------------------------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "channels"}
        described = dict(self.channels)
        for name, key in LEGACY_KEYS.items():
            data[key] = described.pop(name, None)
        if described:
            data["channels"] = described
        return data

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace: the bytes the id is computed from."""
        return json.dumps(self._fields(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @property
    def id(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:PROTOCOL_ID_LEN]

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields plus the derived `id` (ignored again by `from_dict`, but checked)."""
        return {**self._fields(), "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DnaProtocol":
        known = {f.name for f in fields(cls)}
        legacy = {key: name for name, key in LEGACY_KEYS.items()}
        unknown = sorted(set(data) - known - set(legacy) - {"id"})
        if unknown:
            raise InputError(f"unknown protocol field(s) {', '.join(unknown)}: expected {', '.join(sorted(known))}")
        values = {k: v for k, v in data.items() if k in known}
        described = dict(values.get("channels") or {}) if isinstance(values.get("channels") or {}, dict) else None
        if described is None:
            raise InputError("protocol field channels: expected an object of channel name -> descriptor")
        described.update({legacy[k]: v for k, v in data.items() if k in legacy and v is not None})
        values["channels"] = described
        try:
            protocol = cls(**values)
        except TypeError as error:  # a missing required field
            raise InputError(f"incomplete protocol: {error}") from None
        claimed = data.get("id")
        if claimed is not None and claimed != protocol.id:
            raise InputError(
                f"protocol id {claimed!r} does not match its fields (they hash to {protocol.id!r}); "
                "the record was edited: drop the id or restore the fields"
            )
        return protocol

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DnaProtocol":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"protocol is not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise InputError("protocol JSON must be an object")
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_json() + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "DnaProtocol":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"no protocol file at {path}: write one with DnaProtocol.save()")
        return cls.from_json(path.read_text())


def protocol_id(protocol: DnaProtocol | str) -> str:
    """The id of a protocol, or the string itself when it is already an id."""
    return protocol.id if isinstance(protocol, DnaProtocol) else str(protocol)


def require_same_protocol(a: DnaProtocol | str | None, b: DnaProtocol | str | None) -> str:
    """Return the shared protocol id, or raise `ProtocolMismatchError` naming both."""
    if a is None or b is None:
        raise ProtocolMismatchError(
            "a DNA without a protocol id cannot be compared: re-extract it or record its protocol"
        )
    a_id, b_id = protocol_id(a), protocol_id(b)
    if a_id != b_id:
        raise ProtocolMismatchError(
            f"DNAs from different protocols ({a_id} vs {b_id}) are not comparable: "
            "re-extract (or re-project) both under one protocol"
        )
    return a_id
