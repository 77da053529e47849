"""Field values as the Salesforce emulator judges them, with the errors Salesforce gives
(REQUIRED_FIELD_MISSING, STRING_TOO_LONG, INVALID_EMAIL_ADDRESS, ...), and the fields
it derives from others."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RecordError(Exception):
    """One Salesforce error: code, message and the fields it is about."""

    def __init__(
        self,
        code: str,
        message: str,
        fields: list[str] | None = None,
        duplicate_result: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or []
        self.duplicate_result = duplicate_result

    def as_dict(self, key: str = "statusCode") -> dict[str, Any]:
        out: dict[str, Any] = {key: self.code, "message": self.message, "fields": self.fields}
        if self.duplicate_result is not None:
            out["duplicateResult"] = self.duplicate_result
        return out


# A Task's closed statuses: IsClosed follows Status, as Salesforce derives it.
CLOSED_TASK_STATUSES = frozenset({"Completed"})


def derive(obj: str, record: dict[str, Any]) -> None:
    """The fields Salesforce computes from others."""
    if obj == "Task":
        record["IsClosed"] = record.get("Status") in CLOSED_TASK_STATUSES


def check_value(f: dict[str, Any], value: Any) -> None:
    name, kind, label = f["name"], f["type"], f["label"]
    if value is None:
        if not f["nillable"] and f["type"] != "boolean":
            raise RecordError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
            )
        return
    if kind in ("string", "textarea", "email", "phone", "url", "picklist", "reference"):
        if not isinstance(value, str):
            raise bad_type(f, value)
        if f["length"] and len(value) > f["length"]:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {value[:80]} (max length={f['length']})",
                [name],
            )
        if kind == "email" and not _EMAIL.match(value):
            raise RecordError(
                "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [name]
            )
        if kind == "picklist" and f["restrictedPicklist"]:
            allowed = {p["value"] for p in f["picklistValues"] if p["active"]}
            if value not in allowed:
                raise RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {value}",
                    [name],
                )
    elif kind in ("double", "currency", "percent", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise bad_type(f, value) from None
        if kind == "int" and float(value) != int(float(value)):
            raise bad_type(f, value)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise bad_type(f, value)
    elif kind == "date":
        try:
            date.fromisoformat(str(value))
        except ValueError:
            raise bad_type(f, value) from None
    elif kind == "datetime":
        try:
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise bad_type(f, value) from None


def bad_type(f: dict[str, Any], value: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{f['label']}: value not of required type: {value}",
        [f["name"]],
    )
