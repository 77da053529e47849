"""The limits a Marketo subscription sets on its API users, as the emulator keeps them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """Marketo's limits on one subscription: calls per rolling window, concurrent calls,
    calls a day (``off`` for none)."""

    calls: int = 100
    seconds: float = 20.0
    concurrent: int = 10
    daily: int = 50_000

    @classmethod
    def parse(cls, spec: str | None) -> Limits:
        """``100/20s,10,50000/day``: calls per window, concurrent calls, calls a day."""
        if spec in (None, ""):
            return cls()
        if spec == "off":
            return cls(calls=10**9, concurrent=10**9, daily=10**12)
        try:
            window, concurrent, daily = spec.split(",")
            calls, seconds = window.split("/")
            return cls(int(calls), float(seconds.rstrip("s")), int(concurrent), int(daily[:-4]))
        except ValueError:
            raise ValueError(
                f"limits {spec!r}: write CALLS/SECONDSs,CONCURRENT,CALLS/day"
            ) from None
