"""Fault injection for tests, one syntax for every point: DNAKB_FAULT=RULE[,RULE...] with

    RULE   = POINT[@KEY][#N][=ACTION]
    ACTION = raise (default: InjectedFault) | kill (SIGKILL) | segv (SIGSEGV)

`fault_point(POINT, key)` acts when a rule names the point (and, with @KEY, that key, e.g. a model
id), on the N-th time this process reaches it (every time without #N). Points:
`store.write` (a store batch between two of its statements), `ingest.after-plan` (metadata written,
nothing extracted), `ingest.after-extract` (a DNA came back, not yet stored), `ingest.after-write`
(a DNA stored), `worker` (a worker starts a model; key: the model id). Costs one environment lookup
when unset.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from kb.errors import InputError

FAULT_ENV = "DNAKB_FAULT"
ACTIONS = ("raise", "kill", "segv")


class InjectedFault(Exception):
    """Raised at an injection point named in DNAKB_FAULT."""


@dataclass(frozen=True)
class FaultRule:
    point: str
    key: str | None = None
    nth: int | None = None
    action: str = "raise"


def parse_rules(spec: str) -> list[FaultRule]:
    rules = []
    for text in filter(None, (part.strip() for part in spec.split(","))):
        rest, _, action = text.partition("=")
        rest, _, nth = rest.partition("#")
        point, _, key = rest.partition("@")
        if action and action not in ACTIONS or (nth and not nth.isdigit()) or not point:
            raise InputError(f"{FAULT_ENV} rule {text!r}: expected POINT[@KEY][#N][=raise|kill|segv]")
        rules.append(FaultRule(point, key or None, int(nth) if nth else None, action or "raise"))
    return rules


_REACHED: dict[FaultRule, int] = {}


def fault_point(point: str, key: str | None = None) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for rule in parse_rules(spec):
        if rule.point != point or (rule.key is not None and rule.key != key):
            continue
        _REACHED[rule] = _REACHED.get(rule, 0) + 1
        if rule.nth is not None and _REACHED[rule] != rule.nth:
            continue
        if rule.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif rule.action == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        raise InjectedFault(f"injected fault at {point}" + (f" ({key})" if key else ""))
