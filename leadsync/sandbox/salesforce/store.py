"""The emulated org's records, and the checks Salesforce makes before it saves one.

Errors use Salesforce's codes and message forms: REQUIRED_FIELD_MISSING,
STRING_TOO_LONG, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, INVALID_EMAIL_ADDRESS,
INVALID_FIELD_FOR_INSERT_UPDATE, INVALID_TYPE_ON_FIELD_IN_RECORD,
FIELD_CUSTOM_VALIDATION_EXCEPTION, DUPLICATE_VALUE and DUPLICATES_DETECTED.

An org is seldom empty: ``seed_org`` fills it as a real one is (Leads from
web-to-lead and by hand, Contacts, some Leads another leadsync wrote), and the
org's automation can be switched on as an admin would: an active lead
assignment rule, and the standard duplicate rule on email.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.sandbox.salesforce.schema import DEMO_CAMPAIGN, DEMO_QUEUES, DEMO_USERS, OBJECTS
from leadsync.sandbox.salesforce.values import RecordError, check_value, derive

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce id, with the real case-checksum suffix."""
    body = ""
    while n:
        n, r = divmod(n, 62)
        body = _B62[r] + body
    fifteen = f"{prefix}5g{body.rjust(10, '0')}"
    suffix = ""
    for chunk in (fifteen[0:5], fifteen[5:10], fifteen[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return fifteen + suffix


@dataclass(frozen=True)
class AssignmentRule:
    """The org's active lead assignment rule: every Lead created or updated through the
    REST API goes to ``owner``, unless the request says `Sforce-Auto-Assign: FALSE`."""

    id: str = "01Q5g000000LeadRUL"
    owner: str = "00G5g00000000InbAA"  # the demo org's Inbound Queue


DUPLICATE_MESSAGE = "Use one of these records?"


@dataclass(frozen=True)
class ValidationRule:
    """An org validation rule: refuse a record whose ``field`` equals ``value``."""

    object: str
    field: str
    value: Any
    message: str


@dataclass
class Store:
    data_file: Path | None = None
    validation_rules: list[ValidationRule] = field(default_factory=list)
    # The org's automation, off unless a test or `sandbox serve` turns it on.
    assignment_rule: AssignmentRule | None = None
    duplicate_rule: bool = False
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    counter: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        for name in OBJECTS:
            self.records.setdefault(name, {})
        self.records["Campaign"].setdefault(DEMO_CAMPAIGN["Id"], dict(DEMO_CAMPAIGN))
        for user in DEMO_USERS:
            self.records["User"].setdefault(user["Id"], dict(user))
        for queue in DEMO_QUEUES:
            self.records["Group"].setdefault(queue["Id"], dict(queue))
        if self.data_file and self.data_file.exists():
            saved = json.loads(self.data_file.read_text(encoding="utf-8"))
            self.counter = saved.get("counter", 0)
            for name, rows in saved.get("records", {}).items():
                self.records[name] = {r["Id"]: r for r in rows}
        self._indexes: dict[tuple[str, str], dict[Any, str]] = {}

    def fields(self, obj: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in OBJECTS[obj]["fields"]}

    def find_by(self, obj: str, ext_field: str, value: Any) -> dict[str, Any] | None:
        index = self._index(obj, ext_field)
        rid = index.get(value)
        return self.records[obj].get(rid) if rid else None

    def _index(self, obj: str, ext_field: str) -> dict[Any, str]:
        key = (obj, ext_field)
        if key not in self._indexes:
            self._indexes[key] = {
                r[ext_field]: rid for rid, r in self.records[obj].items() if r.get(ext_field)
            }
        return self._indexes[key]

    def upsert(
        self, obj: str, ext_field: str, values: dict[str, Any], auto_assign: str | None = None
    ) -> tuple[str, bool]:
        """Create or update one record by external id; RecordError if Salesforce would refuse
        it. ``auto_assign`` is the request's Sforce-Auto-Assign header (None: not sent)."""
        with self.lock:
            ext_value = values.get(ext_field)
            if ext_value in (None, ""):
                raise RecordError("MISSING_ARGUMENT", f"{ext_field} not specified", [ext_field])
            existing = self.find_by(obj, ext_field, ext_value)
            if existing is not None and existing.get("IsConverted"):
                raise RecordError(
                    "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []
                )
            self.check(obj, values, creating=existing is None)
            if existing is None:
                self._refuse_duplicate(obj, values)
            values = self._assigned(obj, values, auto_assign)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            if existing is not None:
                existing.update(values)
                derive(obj, existing)
                existing["LastModifiedDate"] = existing["SystemModstamp"] = now
                return existing["Id"], False
            self.counter += 1
            rid = sf_id(OBJECTS[obj]["keyPrefix"], self.counter)
            record = self._defaults(obj) | values
            record.update(Id=rid, CreatedDate=now, LastModifiedDate=now, SystemModstamp=now)
            derive(obj, record)
            self.records[obj][rid] = record
            for (o, f), index in self._indexes.items():
                if o == obj and record.get(f):
                    index[record[f]] = rid
            return rid, True

    def update(self, obj: str, values: dict[str, Any], auto_assign: str | None = None) -> str:
        """Update one record by its Id (sObject Collections update); RecordError if refused."""
        with self.lock:
            rid = values.get("Id")
            record = self.records[obj].get(str(rid))
            if record is None:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted", ["Id"])
            if record.get("IsConverted"):
                raise RecordError(
                    "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []
                )
            changes = {k: v for k, v in values.items() if k != "Id"}
            self.check(obj, changes, creating=False)
            record.update(self._assigned(obj, changes, auto_assign))
            derive(obj, record)
            for (o, f), index in self._indexes.items():
                if o == obj and record.get(f):
                    index[record[f]] = str(rid)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            record["LastModifiedDate"] = record["SystemModstamp"] = now
            return str(rid)

    def _assigned(
        self, obj: str, values: dict[str, Any], auto_assign: str | None
    ) -> dict[str, Any]:
        """The org's assignment rule at work: without `Sforce-Auto-Assign: FALSE`, the
        active rule (or the one the header names) sets the Lead's owner, whatever was sent."""
        rule = self.assignment_rule
        if obj != "Lead" or rule is None or (auto_assign or "").upper() == "FALSE":
            return values
        if auto_assign not in (None, "", "TRUE", "true", rule.id):
            return values  # another rule's id: not this org's rule
        return {**values, "OwnerId": rule.owner}

    def _refuse_duplicate(self, obj: str, values: dict[str, Any]) -> None:
        """The standard lead duplicate rule: a new Lead whose email a Lead or Contact has is
        blocked, with the matches in a duplicateResult as Salesforce answers."""
        email = str(values.get("Email") or "").lower()
        if not (self.duplicate_rule and obj == "Lead" and email):
            return
        matches: dict[str, list[str]] = {}
        for kind in ("Lead", "Contact"):
            matches[kind] = [
                rid
                for rid, r in self.records[kind].items()
                if str(r.get("Email") or "").lower() == email and not r.get("IsConverted")
            ]
        if not any(matches.values()):
            return
        raise RecordError(
            "DUPLICATES_DETECTED",
            DUPLICATE_MESSAGE,
            [],
            duplicate_result={
                "allowSave": False,
                "duplicateRule": "Standard_Rule_for_Leads_with_Duplicate_Contacts",
                "duplicateRuleEntityType": "Lead",
                "errorMessage": DUPLICATE_MESSAGE,
                "matchResults": [
                    {
                        "entityType": kind,
                        "errors": [],
                        "matchEngine": "ExactMatchEngine",
                        "matchRecords": [
                            {
                                "additionalInformation": [],
                                "fieldDiffs": [],
                                "matchConfidence": 100.0,
                                "record": {
                                    "attributes": {
                                        "type": kind,
                                        "url": f"/services/data/v59.0/sobjects/{kind}/{rid}",
                                    },
                                    "Id": rid,
                                },
                            }
                            for rid in ids
                        ],
                        "rule": f"Standard_{kind}_Match_Rule_v1_1",
                        "size": len(ids),
                        "success": True,
                    }
                    for kind, ids in matches.items()
                    if ids
                ],
            },
        )

    def roll_back(
        self, obj: str, before: dict[str, dict[str, Any]], results: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """allOrNone: one record failed, so none is saved; the others answer
        ALL_OR_NONE_OPERATION_ROLLED_BACK, as Salesforce's do (still a 200)."""
        with self.lock:
            self.records[obj] = before
            self._indexes.clear()
        rolled = RecordError(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records "
            "were valid and the request was using AllOrNone header",
        )
        return [
            r if not r["success"] else {"success": False, "errors": [rolled.as_dict()]}
            for r in results
        ]

    def convert(self, lead_id: str) -> str:
        """Convert a Lead as a rep would: a Contact made from it, the Lead closed and locked.
        Returns the Contact's Id."""
        with self.lock:
            lead = self.records["Lead"][lead_id]
            self.counter += 1
            contact_id = sf_id(OBJECTS["Contact"]["keyPrefix"], self.counter)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            self.records["Contact"][contact_id] = {
                "Id": contact_id,
                "FirstName": lead.get("FirstName"),
                "LastName": lead.get("LastName"),
                "Email": lead.get("Email"),
                "Title": lead.get("Title"),
                "OwnerId": lead.get("OwnerId"),
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
            }
            lead.update(
                IsConverted=True,
                ConvertedContactId=contact_id,
                Status="Closed - Converted",
                LastModifiedDate=now,
                SystemModstamp=now,
            )
            self._indexes.clear()
            return contact_id

    def touch(self, obj: str, rid: str, values: Mapping[str, Any]) -> None:
        """Change a record as a person in Salesforce would (tests, demos): no validation;
        the modification stamps move as Salesforce's do."""
        with self.lock:
            record = self.records[obj][rid]
            record.update(values)
            derive(obj, record)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            record["LastModifiedDate"] = record["SystemModstamp"] = now
            self._indexes.clear()

    def _defaults(self, obj: str) -> dict[str, Any]:
        out: dict[str, Any] = {"OwnerId": sf_id("005", 1)}
        for f in OBJECTS[obj]["fields"]:
            if f["type"] == "boolean" and f["name"] not in out:
                out[f["name"]] = False
            elif f["defaultedOnCreate"] and f["picklistValues"]:
                out[f["name"]] = f["picklistValues"][0]["value"]
        return out

    def check(self, obj: str, values: dict[str, Any], *, creating: bool) -> None:
        fields = self.fields(obj)
        locked = [
            n
            for n in values
            if not (fields[n]["createable"] if creating else fields[n]["updateable"])
        ]
        if locked:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {'create' if creating else 'update'} fields: {', '.join(locked)}. "
                "Please check the security settings of this field and verify that it is "
                "read/write for your profile or permission set.",
                locked,
            )
        for name, value in values.items():
            check_value(fields[name], value)
            self._check_reference(fields[name], value)
        if creating:
            missing = [
                n
                for n, f in fields.items()
                if f["createable"]
                and not f["nillable"]
                and not f["defaultedOnCreate"]
                and f["type"] != "boolean"
                and values.get(n) in (None, "")
            ]
            if missing:
                raise RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        for rule in self.validation_rules:
            if rule.object == obj and values.get(rule.field) == rule.value:
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [])

    def _check_reference(self, field: dict[str, Any], value: Any) -> None:
        targets = field.get("referenceTo") or []
        if not targets or value in (None, ""):
            return
        target = next(
            (self.records[t][value] for t in targets if value in self.records.get(t, {})), None
        )
        if target is not None and target.get("IsConverted"):
            raise RecordError(
                "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [field["name"]]
            )
        if target is None:
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY",
                f"{field['label']}: id value of incorrect type: {value}",
                [field["name"]],
            )
        if target.get("IsActive") is False:  # an owner who left the company
            raise RecordError(
                "INACTIVE_OWNER_OR_USER", "operation performed with inactive user", [field["name"]]
            )

    def save(self) -> None:
        if not self.data_file:
            return
        with self.lock:
            payload = {
                "counter": self.counter,
                "records": {name: list(rows.values()) for name, rows in self.records.items()},
            }
            tmp = self.data_file.with_suffix(self.data_file.suffix + ".tmp")
            tmp.write_text(json.dumps(payload), encoding="utf-8")
            os.replace(tmp, self.data_file)
