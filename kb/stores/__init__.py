"""Graph stores: pick one with `open_store(StoreConfig(...))`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import InputError
from kb.stores.base import GraphStore

STORE_KINDS = ("embedded", "neo4j")


def default_db_path() -> Path:
    """The embedded store's directory under the user's data directory (XDG on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dnakb" / "kb"


@dataclass(frozen=True)
class StoreConfig:
    """Where the KB lives. Fields left None come from the environment, then defaults."""

    kind: str = field(default_factory=lambda: os.environ.get("DNAKB_STORE", "embedded"))
    db: Path | None = None
    uri: str | None = None
    user: str | None = None
    password: str | None = None

    def resolved(self) -> StoreConfig:
        if self.kind not in STORE_KINDS:
            raise InputError(f"unknown store {self.kind!r}: use one of {', '.join(STORE_KINDS)}")
        env = os.environ
        return StoreConfig(
            kind=self.kind,
            db=Path(self.db or env.get("DNAKB_DB") or default_db_path()),
            uri=self.uri or env.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
            user=self.user or env.get("NEO4J_USER", "neo4j"),
            password=self.password or env.get("NEO4J_PASSWORD"),
        )


def open_store(config: StoreConfig | None = None) -> GraphStore:
    """Open (and on first use create) the configured store."""
    config = (config or StoreConfig()).resolved()
    if config.kind == "neo4j":
        from kb.stores.neo4j_store import Neo4jStore

        return Neo4jStore(config.uri, config.user, config.password)  # type: ignore[arg-type]
    from kb.stores.embedded import EmbeddedStore

    return EmbeddedStore(config.db)  # type: ignore[arg-type]


__all__ = ["GraphStore", "StoreConfig", "open_store", "STORE_KINDS", "default_db_path"]
