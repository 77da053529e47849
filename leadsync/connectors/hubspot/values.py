"""What HubSpot makes of one record: its values as HubSpot's text, the checks HubSpot makes
before it takes a value, and a refusal read as that record's result."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from leadsync.connectors.base import FieldSpec, RecordResult
from leadsync.errors import RequestRejected
from leadsync.mapping.lead import iso_utc


def as_text(value: Any) -> str:
    """A value as HubSpot takes it: every property value is a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_utc(value, "milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def invalid(spec: FieldSpec | None, name: str, text: str) -> tuple[str, str] | None:
    """(HubSpot's error code, why) when HubSpot would refuse this value; None when fine."""
    if spec is None:
        return "PROPERTY_DOESNT_EXIST", f"HubSpot contacts have no property {name!r}"
    if not spec.updateable:
        return "READ_ONLY_VALUE", f"{name!r} is read-only in HubSpot"
    if not text:
        return None
    if spec.picklist and spec.type == "picklist" and text not in spec.picklist:
        shown = ", ".join(spec.picklist[:12]) + (", ..." if len(spec.picklist) > 12 else "")
        return "INVALID_OPTION", f"{text!r} is not one of {name}'s options: {shown}"
    if spec.type == "double":
        try:
            float(text)
        except ValueError:
            return "INVALID_INTEGER", f"{text!r} is not a number ({name})"
    if spec.type == "boolean" and text not in ("true", "false"):
        return "INVALID_BOOLEAN", f"{text!r} is not true or false ({name})"
    return None


def match_key(prop: str, value: Any) -> str:
    text = "" if value is None else str(value)
    return text.lower() if prop == "email" else text


def lifecycle_backwards(exc: RequestRejected) -> bool:
    body = str(exc.details.get("body") or "")
    return "lifecyclestage" in body and "INVALID_OPTION" in body


def refused(code: str, field: str, message: str) -> RecordResult:
    return RecordResult(ok=False, code=code, message=message, fields=(field,) if field else ())


def rejection(exc: RequestRejected) -> RecordResult:
    """One record's refusal, with HubSpot's own error code when it gave one per property."""
    body = str(exc.details.get("body") or exc.message)
    code = str(exc.details.get("code") or "REQUEST_REJECTED")
    fields: tuple[str, ...] = ()
    if body.startswith("Property values were not valid: "):
        try:
            detail = json.loads(body.split(": ", 1)[1])
            code = detail[0].get("error") or code
            fields = tuple(d.get("name") for d in detail if d.get("name"))
            body = "; ".join(f"{d.get('name')}: {d.get('message')}" for d in detail)
        except (ValueError, IndexError, AttributeError):
            pass
    return RecordResult(ok=False, code=code, message=body, fields=fields)
