"""The one exception tree of leadsync.

Grouped by phase, marked by what the engine does next (``disposition``)::

    LeadsyncError
    ├── ConfigError                 fatal   the config file is wrong: fix it and run again
    ├── StateError                  fatal   the state database cannot be used
    │   ├── SchemaOutdated          fatal   run `leadsync db upgrade`
    │   └── RunLockBusy             fatal   another run holds the state db (a service job waits)
    ├── MappingError                skip    one source record is bad; it is quarantined
    ├── ConnectorError              fatal   talking to an outside system failed
    │   ├── RetriableError          retry   may succeed later (timeouts, 5xx, dropped connections)
    │   │   └── RateLimited         wait    the system asked us to slow down (Retry-After)
    │   ├── AuthenticationError     fatal   credentials refused: fix them, nothing is retried
    │   └── RequestRejected         fatal   the system refused the request as a whole (bad shape)
    └── SyncError                   fatal   the pipeline cannot go on

    Interrupted (a BaseException)           SIGTERM or SIGINT: stop, record the run as
                                            stopped; the outbox keeps what was planned

Per-record outcomes of a batch (one lead refused, the others written) are data,
not exceptions: see ``connectors.base.RecordResult``.

The engine branches on ``disposition``, never on a vendor's message text. Each
error carries ``message`` for the admin (what to change) and ``details`` for the
engineer (status, error code, request id, an excerpt of the body without secrets).
"""

from __future__ import annotations

from typing import Any, Literal

Disposition = Literal["retry", "wait", "skip", "fatal"]


class LeadsyncError(Exception):
    disposition: Disposition = "fatal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(LeadsyncError):
    """One or more problems in the config file, one line each."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class StateError(LeadsyncError):
    pass


class SchemaOutdated(StateError):
    pass


class RunLockBusy(StateError):
    """Another run holds the state db's run lock: `sync` stops, a service job waits."""


class MappingError(LeadsyncError):
    """A source record that cannot become a lead: names the record, the field, the reason."""

    disposition: Disposition = "skip"

    def __init__(self, field: str, reason: str, *, value: Any = None) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.field = field
        self.reason = reason
        self.value = value


class ConnectorError(LeadsyncError):
    pass


class RetriableError(ConnectorError):
    disposition: Disposition = "retry"


class RateLimited(RetriableError):
    disposition: Disposition = "wait"

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class AuthenticationError(ConnectorError):
    pass


class RequestRejected(ConnectorError):
    pass


class SyncError(LeadsyncError):
    pass


class Interrupted(BaseException):
    """A signal asked the process to stop (SIGTERM, SIGINT). A BaseException, so that no
    ``except Exception`` swallows it on the way up."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
