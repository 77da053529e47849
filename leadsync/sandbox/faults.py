"""Faults the emulator injects, so that tests and the demo can see leadsync survive them.

A spec is a comma-separated list of ``kind[:option=value[:option=value]]``::

    503:rate=0.2                    a fifth of the API requests answer 503
    timeout:every=5:delay=2         every fifth request is saved, then answered too late
    slow:every=1:delay=0.2          every request is answered after 0.2 s (and succeeds)
    lock_row:rate=0.05              a twentieth of records in a batch fail UNABLE_TO_LOCK_ROW
    500:requests=1;4                the 1st and 4th API requests answer 500
    429:requests=3;4;5;6            a burst of four rate-limit answers (HubSpot's 429;
                                    Salesforce's concurrent-request limit, a 403)
    429:every=50:retry_after=1      ... saying Retry-After: 1 (HubSpot usually does not)
    missing_result:every=3          every third batch answer lacks its last record's result
    session_expired:requests=3      the 3rd API request answers 401 INVALID_SESSION_ID
    drop:every=7                    every seventh request is saved, then its connection
                                    closed without an answer

Options: ``rate`` (a probability, drawn from a seeded generator), ``every`` (each
Nth matching request), ``requests`` (the numbers of the matching requests,
``;``-separated), ``endpoint`` (only requests to that endpoint name), ``delay``
(seconds, for timeout and slow), ``retry_after`` (seconds, for 429). Logins and the
``/__sandbox`` endpoints are never faulted.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

# Each emulator answers a kind in its vendor's words.
KINDS = (
    "503",
    "500",
    "429",
    "timeout",
    "slow",
    "lock_row",
    "session_expired",
    "request_limit",
    "missing_result",
    "drop",
)
# Kinds where the request is carried out and only its answer is spoiled.
AFTER_THE_WORK = ("timeout", "slow", "missing_result", "drop")


@dataclass
class Fault:
    kind: str
    rate: float = 0.0
    every: int = 0
    requests: frozenset[int] = frozenset()
    endpoint: str | None = None
    delay: float = 2.0
    retry_after: float | None = None  # a 429's Retry-After header, when it should send one
    seen: int = 0

    def fires(self, endpoint: str, rng: random.Random) -> bool:
        if self.endpoint and self.endpoint != endpoint:
            return False
        self.seen += 1
        if self.requests:
            return self.seen in self.requests
        if self.every:
            return self.seen % self.every == 0
        return rng.random() < self.rate


# How each option of a fault is read: rate=0.1, every=3, requests=1;4, endpoint=NAME,
# delay=0.6, retry_after=2.
OPTIONS: dict[str, Callable[[str], Any]] = {
    "rate": float,
    "every": int,
    "requests": lambda value: frozenset(int(v) for v in value.split(";") if v),
    "endpoint": str,
    "delay": float,
    "retry_after": float,
}


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    seed: int = 7
    lock: threading.Lock = field(default_factory=threading.Lock)
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str | None, seed: int = 7) -> FaultPlan:
        faults = []
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            kind, *opts = part.split(":")
            if kind not in KINDS:
                raise ValueError(f"unknown fault {kind!r} (known: {', '.join(KINDS)})")
            fault = Fault(kind=kind)
            for opt in opts:
                key, _, value = opt.partition("=")
                if key not in OPTIONS:
                    raise ValueError(f"unknown fault option {key!r} in {part!r}")
                setattr(fault, key, OPTIONS[key](value))
            if not (fault.rate or fault.every or fault.requests):
                raise ValueError(f"fault {part!r} needs rate=, every= or requests=")
            faults.append(fault)
        return cls(faults=faults, seed=seed)

    def request_fault(self, endpoint: str) -> Fault | None:
        """The fault that hits this whole request, if any (lock_row works per record)."""
        with self.lock:
            for fault in self.faults:
                if fault.kind != "lock_row" and fault.fires(endpoint, self.rng):
                    self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                    return fault
        return None

    def record_locked(self) -> bool:
        with self.lock:
            for fault in self.faults:
                if fault.kind == "lock_row" and fault.fires("record", self.rng):
                    self.injected["lock_row"] = self.injected.get("lock_row", 0) + 1
                    return True
        return False


def answered(fault: Fault | None, request: Any, response: Any, drop_last: Any) -> Any:
    """The answer to a request whose work is done, as the fault that hit it has it: the
    last record's result missing, the connection dropped, or the answer late."""
    if fault is None:
        return response
    if fault.kind == "missing_result":
        return drop_last(response)
    if fault.kind == "drop":
        drop_connection(request.environ)
    time.sleep(fault.delay)  # timeout, slow: the work is done and saved; the answer is late
    return response


def drop_connection(environ: dict[str, Any]) -> NoReturn:
    """Close the client's connection with no answer at all, as a proxy or a load balancer
    that gives up does. The socket is shut down, not closed, so the server's own clean-up
    still works; the error raised is one werkzeug treats as a client gone away."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("sandbox fault: connection dropped")
