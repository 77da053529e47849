"""The canonical lead: the fields every source maps onto and every CRM map reads from.

A lead's profile is a flat dict of JSON-native values (what the state db keeps
and what the planner diffs): strings, numbers, booleans, dates as
``YYYY-MM-DD`` and datetimes as ISO 8601 in UTC with ``Z``. The admin adds
custom attributes with their type in ``[lead.custom_fields]``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

STANDARD_FIELDS: dict[str, str] = {
    "email": "email",
    "first_name": "str",
    "last_name": "str",
    "company": "str",
    "title": "str",
    "phone": "str",
    "mobile_phone": "str",
    "website": "str",
    "industry": "str",
    "employees": "int",
    "annual_revenue": "float",
    "street": "str",
    "city": "str",
    "state": "str",
    "postal_code": "str",
    "country": "str",
    "lead_source": "str",
    "campaign": "str",
    "description": "str",
    "email_opt_out": "bool",
    "do_not_call": "bool",
    "marketing_consent": "bool",
    "source_created_at": "datetime",
    "source_updated_at": "datetime",
}

# A pragmatic address check: one @, a dot in the domain, no spaces. Full RFC 5322
# accepts addresses no CRM or mail system does; this is what Salesforce rejects too.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def normalise_email(value: str) -> str:
    return value.strip().lower()


def is_valid_email(value: str) -> bool:
    return bool(_EMAIL.match(value)) and len(value) <= 254 and ".." not in value


def coerce(value: Any, kind: str) -> Any:
    """Turn a transformed value into the JSON-native form of its canonical type.

    Raises ValueError with a reason an admin can read.
    """
    if value is None:
        return None
    if kind == "str":
        return str(value)
    if kind == "email":
        text = normalise_email(str(value))
        if not is_valid_email(text):
            raise ValueError(f"not a valid email address: {value!r}")
        return text
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected a yes/no value, got {value!r} (add the `boolean` transform)")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not math.isfinite(number) or not number.is_integer():
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(number)
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            # NaN and infinity are no amount a CRM can hold (nor JSON carry).
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        raise ValueError(f"expected a date, got {value!r} (add the `parse_date` transform)")
    if kind == "datetime":
        if isinstance(value, datetime):
            return iso_utc(value)
        if isinstance(value, date):
            # A date-only value stays a date: it is not midnight in some time zone.
            raise ValueError(f"expected a date and time, got the date {value.isoformat()}")
        raise ValueError(f"expected a date and time, got {value!r} (add `parse_date`)")
    raise ValueError(f"unknown field type {kind!r}")


def as_text(value: Any) -> str:
    """A value as the CRMs write it in text (a CSV cell, a comparison): "" for none,
    true/false for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def iso_utc(value: datetime, precision: str = "auto") -> str:
    """The one way leadsync writes a datetime as text: UTC, ISO 8601, ending in ``Z``
    (a naive value is taken as UTC). ``precision``: "seconds" (what people read, and
    what SOQL takes), "milliseconds" (what HubSpot writes), or "auto" (as it is)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    timespec = {"auto": "auto", "seconds": "seconds", "milliseconds": "milliseconds"}[precision]
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
