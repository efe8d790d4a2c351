"""How long work reports progress: plain callables that take a message, and counted steps.

Library functions take `progress: Callable[[str], None] | None` and report notes by calling it; a
counted step goes through `step(progress, label, done, total)`, which a progress object that knows
how (the CLI's: a live bar with rate and ETA on a terminal) shows as a bar, and any other callable
gets as the line "label: done/total". Quiet runs pass a callable that does nothing, so they follow
the same code path.
"""

from __future__ import annotations

from collections.abc import Callable

Say = Callable[[str], None]


def quiet(_message: str) -> None:
    """A progress callable that reports nothing."""


def step(say: Say | None, label: str, done: int, total: int, detail: str = "") -> None:
    """Report that `done` of `total` units of `label` are finished."""
    if say is None:
        return
    count = getattr(say, "count", None)
    if count is not None:
        count(label, done, total, detail)
    else:
        say(f"{label}: {done}/{total}" + (f" {detail}" if detail else ""))
