"""structlog, configured once: a console renderer on a terminal, JSON lines otherwise.

Logs go to stderr so that `--json` output on stdout stays one clean object.
Two processors keep what must not leak out of log lines: the connectors'
secrets are masked wherever they appear (the masking processor is built with
them: ``configure(secrets=...)``, or ``mask`` once the connectors are wired),
and personal data (emails, phones) is dropped below debug level.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO, cast

import structlog

_PERSONAL_KEYS = frozenset({"email", "phone", "first_name", "last_name", "name"})


# Shorter values are not masked: masking "x" would mangle every word holding an x
# and so reveal, between the gaps, the very secrets it means to hide.
MIN_SECRET_LENGTH = 6


_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^/\s:@]*:)[^@\s/]*@")


def masked_urls(text: str) -> str:
    """``text`` with the password of any URL in it (a state db's, say) replaced by ***."""
    return _URL_PASSWORD.sub(r"\1***@", text) if "://" in text else text


class SecretMask:
    """A processor replacing each of its secrets, and any URL's password, by ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first: a secret that contains another is masked whole.
        self.secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def __call__(
        self, _: Any, __: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                for secret in self.secrets:
                    if secret in value:
                        value = value.replace(secret, "***")
                event[key] = masked_urls(value)
        return event


def drop_personal_data(
    _: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if method != "debug":
        for key in _PERSONAL_KEYS & event.keys():
            event[key] = "<redacted>"
    return event


def configure(
    level: str = "info", *, json: bool | None = None, secrets: Iterable[str] = ()
) -> None:
    as_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_personal_data,
            SecretMask(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _Stderr())),
        cache_logger_on_first_use=False,
    )


def mask(secrets: Iterable[str]) -> None:
    """Mask these secrets too, from now on: the masking processor is built anew with them
    and every secret it masked already (level and format stay as configured)."""
    processors = [
        SecretMask([*p.secrets, *secrets]) if isinstance(p, SecretMask) else p
        for p in structlog.get_config()["processors"]
    ]
    structlog.configure(processors=processors)


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured:
    a stream swapped since (a test's capture, a CLI runner's) is never written after it
    was closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get(name: str) -> Any:
    return structlog.get_logger(name)
