"""Store writes are retried only when the store says it is unreachable for now."""

from __future__ import annotations

import pytest

from ingest.api import with_retry
from kb.errors import StoreError, StoreUnavailableError


def _failing(error: Exception, times: int):
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "written"

    return call, calls


def test_unavailable_is_retried_with_backoff(store) -> None:
    call, calls = _failing(StoreUnavailableError("server restarting"), times=2)
    notes: list[str] = []
    assert with_retry(store, call, say=notes.append, delays=(0.01, 0.01, 0.01)) == "written"
    assert len(calls) == 3 and len(notes) == 2 and "retry 1/3" in notes[0]


def test_other_store_errors_are_not_retried_on_any_store(store) -> None:
    call, calls = _failing(StoreError("constraint violated"), times=5)
    with pytest.raises(StoreError, match="constraint violated"):
        with_retry(store, call, delays=(0.01, 0.01, 0.01))
    assert len(calls) == 1


def test_giving_up_says_so_in_one_line(store) -> None:
    call, calls = _failing(StoreUnavailableError("connection refused"), times=10)
    with pytest.raises(StoreError, match=r"stayed unreachable through 2 retries \(connection refused\)"):
        with_retry(store, call, delays=(0.01, 0.01))
    assert len(calls) == 3
