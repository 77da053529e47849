"""The emulator's SOQL: SELECT fields FROM Object [WHERE term [AND term ...]]
[ORDER BY field [, field]] [LIMIT n]; a term is ``field op value`` (= != < <= > >=, with
'text', true, false, null, a number or a datetime) or ``field IN ('a', 'b')``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from leadsync.sandbox.salesforce.schema import OBJECTS
from leadsync.sandbox.salesforce.store import Store

_SOQL = re.compile(
    r"^SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>[\w\s,]+?))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?$",
    re.IGNORECASE,
)
_TERM = re.compile(
    r"^(?P<field>\w+)\s*(?:(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>'[^']*'|[\w:.+-]+)"
    r"|IN\s*\((?P<values>[^)]*)\))$",
    re.IGNORECASE,
)


class SoqlError(Exception):
    """A query Salesforce would refuse: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def select(store: Store, soql: str) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The object, fields and matching records of a query; SoqlError when refused."""
    match = _SOQL.match(soql)
    if match is None or match.group("obj") not in OBJECTS:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token in query: {soql[:80]}")
    obj = match.group("obj")
    fields = [f.strip() for f in match.group("fields").split(",")]
    order = [f.strip() for f in (match.group("order") or "").split(",") if f.strip()]
    known = store.fields(obj)
    unknown = [f for f in [*fields, *order] if f not in known]
    if unknown:
        raise SoqlError("INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{obj}'")
    tests = []
    for term in filter(
        None, re.split(r"\s+AND\s+", match.group("where") or "", flags=re.IGNORECASE)
    ):
        cond = _TERM.match(term.strip())
        if cond is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected condition: {term[:80]}")
        tests.append(_condition(cond))
    with store.lock:
        rows = [r for r in store.records[obj].values() if all(t(r) for t in tests)]
    if order:
        rows.sort(key=lambda r: tuple(_soql_key(r.get(f)) for f in order))
    if match.group("limit"):
        rows = rows[: int(match.group("limit"))]
    return obj, fields, rows


def _soql_value(raw: str) -> Any:
    if raw.startswith("'"):
        return raw[1:-1]
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    try:
        return float(raw)
    except ValueError:
        return _soql_key(raw)  # a datetime literal


def _soql_key(value: Any) -> Any:
    """A value as SOQL compares it: datetimes as instants, the rest as they are."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        text = value.replace("Z", "+00:00")
        if text[-5] in "+-" and text[-3] != ":":  # +0000 -> +00:00
            text = f"{text[:-2]}:{text[-2:]}"
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return value
    return value


def _fold(value: Any) -> Any:
    """SOQL compares text without regard to case (an email in any case matches)."""
    return value.lower() if isinstance(value, str) else value


def _condition(cond: re.Match[str]) -> Callable[[Mapping[str, Any]], bool]:
    name = cond.group("field")
    if cond.group("values") is not None:
        values = {_fold(v.strip().strip("'")) for v in cond.group("values").split(",")}
        return lambda r: _fold(r.get(name)) in values
    op, want = cond.group("op"), _soql_value(cond.group("value"))
    if op in ("=", "!="):
        folded = _fold(want)
        return lambda r: (_fold(_soql_key(r.get(name))) == folded) == (op == "=")

    def compare(r: Mapping[str, Any]) -> bool:
        have = _soql_key(r.get(name))
        if have is None or want is None:
            return False
        return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[op]

    return compare
