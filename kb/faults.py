"""Fault injection for tests: `DNAKB_FAULT=<point>[,<point>...]` makes `maybe_fail(point)` raise.

Used to prove that a batch interrupted between two of its statements leaves nothing behind,
and by ingest's kill tests. Costs one environment lookup when unset.
"""

from __future__ import annotations

import os


class InjectedFault(RuntimeError):
    """Raised at an injection point named in DNAKB_FAULT."""


def maybe_fail(point: str) -> None:
    names = os.environ.get("DNAKB_FAULT")
    if names and point in names.split(","):
        raise InjectedFault(f"injected fault at {point}")
