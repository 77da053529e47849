"""sObject Collections requests: up to 200 records a request, each with its own result
(``allOrNone`` false), upserted by an External ID field or updated by Id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from leadsync.connectors.base import RecordResult, missing_result
from leadsync.connectors.http import chunks, classified
from leadsync.connectors.salesforce.errors import RETRIABLE_RECORD_CODES, classify
from leadsync.connectors.salesforce.people import matched

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

MAX_RECORDS = 200  # Salesforce's limit for one collections request


def upsert(
    client: Salesforce, obj: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
) -> list[RecordResult]:
    """One request upserting ``records`` (at most 200) by ``external_id_field``."""
    if len(records) > MAX_RECORDS:
        raise ValueError(f"at most {MAX_RECORDS} records per upsert, got {len(records)}")
    body = {"allOrNone": False, "records": [{"attributes": {"type": obj}, **r} for r in records]}
    with classified(classify):
        answer = client.restful(
            f"composite/sobjects/{obj}/{external_id_field}", method="PATCH", json=body
        )
    return results(answer or [], len(records))


def update_by_id(
    client: Salesforce, obj: str, rows: Sequence[Mapping[str, Any]]
) -> list[RecordResult]:
    """``rows`` (each with its ``Id``) written to their records, 200 a request."""
    out: list[RecordResult] = []
    for part in chunks(rows, MAX_RECORDS):
        updates = [{"attributes": {"type": obj}, **row} for row in part]
        with classified(classify):
            reply = client.restful(
                "composite/sobjects",
                method="PATCH",
                json={"allOrNone": False, "records": updates},
            )
        out += [
            at(r, str(row["Id"]))
            for r, row in zip(results(reply or [], len(part)), part, strict=True)
        ]
    return out


def results(answer: Sequence[Mapping[str, Any]], expected: int) -> list[RecordResult]:
    """One result per record sent; a record the answer says nothing of has failed."""
    out = []
    for i in range(expected):
        item = answer[i] if i < len(answer) else None
        if item is None:
            out.append(missing_result("Salesforce"))
        elif item.get("success"):
            out.append(
                RecordResult(ok=True, crm_id=item.get("id"), created=bool(item.get("created")))
            )
        else:
            err = (item.get("errors") or [{}])[0]
            code = err.get("statusCode") or err.get("errorCode") or "UNKNOWN"
            out.append(
                RecordResult(
                    ok=False,
                    code=code,
                    message=err.get("message", ""),
                    fields=tuple(err.get("fields") or ()),
                    retriable=code in RETRIABLE_RECORD_CODES,
                    duplicates=matched(err.get("duplicateResult")),
                )
            )
    return out


def at(result: RecordResult, crm_id: str) -> RecordResult:
    """An update's result: written to ``crm_id``, not created."""
    return result if not result.ok else RecordResult(ok=True, crm_id=crm_id)
