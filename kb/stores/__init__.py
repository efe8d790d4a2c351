"""Graph stores: pick one with `open_store(StoreConfig(...))`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import InputError
from kb.stores.base import GraphStore

STORE_KINDS = ("embedded", "neo4j")
NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


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
        uri = self.uri or env.get("NEO4J_URI", "bolt://127.0.0.1:7687")
        if self.kind == "neo4j":
            scheme = uri.split("://", 1)[0] if "://" in uri else ""
            if scheme not in NEO4J_SCHEMES:
                raise InputError(f"Neo4j URI {uri!r}: expected a Bolt URI such as bolt://127.0.0.1:7687 "
                                 f"(schemes: {', '.join(NEO4J_SCHEMES)})")
        return StoreConfig(
            kind=self.kind,
            db=Path(self.db or env.get("DNAKB_DB") or default_db_path()),
            uri=uri,
            user=self.user or env.get("NEO4J_USER", "neo4j"),
            password=self.password or env.get("NEO4J_PASSWORD"),
        )


def open_store(config: StoreConfig | None = None, mode: str | None = None) -> GraphStore:
    """Open (and on first use create) the configured store.

    `mode` shares an embedded KB with other processes (see kb/stores/embedded.py): "read" for a
    command that only reads, "write" for one that changes the KB (one such writer at a time); None
    holds it exclusively (the library default). The Neo4j server shares by itself.
    """
    config = (config or StoreConfig()).resolved()
    if config.kind == "neo4j":
        from kb.stores.neo4j_store import Neo4jStore

        return Neo4jStore(config.uri, config.user, config.password)  # type: ignore[arg-type]
    from kb.stores.embedded import EmbeddedStore

    return EmbeddedStore(config.db, mode=mode)  # type: ignore[arg-type]


__all__ = ["GraphStore", "StoreConfig", "open_store", "STORE_KINDS", "default_db_path"]
