"""Evidence channels, strongest first: one module each, and this registry of them.

Adding a channel: write its module (a `Channel` subclass and `CHANNEL = ...`, see kb/channels/base.py)
with its tests, and add one line to `REGISTRY`. Stores, the protocol, extraction, inference,
bootstrap, the CLI's `--channels` / `--no-channel` and the ablation bench all read this registry.
Order matters: an edge prefers the evidence of the earliest channel that can decide it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kb.channels import loglik, text, weights
from kb.channels.base import Channel, ModelAccess, Produced
from kb.errors import InputError

if TYPE_CHECKING:
    from kb.protocol import DnaProtocol

REGISTRY: tuple[Channel, ...] = (
    weights.CHANNEL,
    loglik.CHANNEL,
    text.CHANNEL,
)

NAMES: tuple[str, ...] = tuple(c.name for c in REGISTRY)
BY_NAME: dict[str, Channel] = {c.name: c for c in REGISTRY}


def get(name: str) -> Channel:
    try:
        return BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown channel {name!r}: use one of {', '.join(NAMES)}") from None


def select(names: Iterable[str] | None = None, *, without: Iterable[str] = ()) -> tuple[str, ...]:
    """Channel names in registry order: `names` (all when None) minus `without`; the text channel
    cannot be left out (it is what makes a model a DNA)."""
    wanted = set(NAMES if names is None else names)
    dropped = set(without)
    for name in wanted | dropped:
        get(name)
    if "text" in dropped or "text" not in wanted:
        raise InputError("the text channel cannot be left out: it is the DNA every model has")
    return tuple(n for n in NAMES if n in wanted and n not in dropped)




def with_channels(protocol: "DnaProtocol", names: Iterable[str] | None = None, **options: object) -> "DnaProtocol":
    """`protocol` making the optional channels `names` (default: all of them), each described by its
    defaults, the protocol's seed and `options` (e.g. `n_texts=`, `k=`, `max_kib=`); other optional
    channels are removed."""
    wanted = {c.name for c in REGISTRY if c.optional} if names is None else set(names) - {"text"}
    descriptors = {c.name: (c.descriptor(protocol.seed, **options) if c.name in wanted else None)
                   for c in REGISTRY if c.optional}
    for name in wanted - set(descriptors):
        get(name)
    return protocol.with_channels(descriptors)


__all__ = ["BY_NAME", "Channel", "ModelAccess", "NAMES", "Produced", "REGISTRY", "get", "select", "with_channels"]
