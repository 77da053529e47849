"""What HubSpot keeps of a property value: text, with datetimes as ISO 8601 with
milliseconds and dates as ``YYYY-MM-DD``, and the error a value it refuses gets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )


def to_ms(value: str) -> int:
    """Epoch milliseconds of an ISO datetime, a date, or an epoch-milliseconds string."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if len(text) == 10:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def error_code(spec: Mapping[str, Any]) -> str:
    return {
        "enumeration": "INVALID_OPTION",
        "number": "INVALID_INTEGER",
        "date": "INVALID_DATE",
        "datetime": "INVALID_DATE",
        "bool": "INVALID_BOOLEAN",
    }.get(spec["type"], "INVALID_EMAIL" if spec["name"] == "email" else "INVALID_PROPERTY_VALUE")


def normalised(spec: Mapping[str, Any], text: str) -> str:
    """The value as HubSpot keeps it, or ValueError saying why HubSpot would refuse it."""
    if text == "":
        return ""
    kind = spec["type"]
    if spec["name"] == "email" and ("@" not in text or " " in text.strip()):
        raise ValueError("is not a valid email address")
    if kind == "enumeration":
        allowed = [o["value"] for o in spec["options"]]
        values = text.split(";") if spec["fieldType"] == "checkbox" else [text]
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"was not one of the allowed options: {allowed}")
        return text
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError("is not true or false")
        return text.lower()
    if kind == "date":
        try:
            ms = to_ms(text)
        except ValueError:
            raise ValueError(
                "is not a date (YYYY-MM-DD or epoch milliseconds at midnight UTC)"
            ) from None
        if ms % 86_400_000:
            raise ValueError("is not midnight UTC: a date property takes a date")
        return iso_ms(ms)[:10]
    if kind == "datetime":
        try:
            return iso_ms(to_ms(text))
        except (ValueError, OverflowError):
            raise ValueError("is not a datetime (ISO 8601 or epoch milliseconds)") from None
    return text


class HubSpotError(Exception):
    """An answer HubSpot gives instead of a result: status, category, message."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra
