"""The Salesforce destination: describe the Lead object, upsert leads in collections of 200."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from simple_salesforce import Salesforce

from leadsync import log
from leadsync.connectors.base import (
    CrmChange,
    Destination,
    ObjectSchema,
    RecordResult,
    missing_result,
    task_of,
)
from leadsync.connectors.http import classified
from leadsync.connectors.salesforce.bulk import BulkApi
from leadsync.connectors.salesforce.changes import changed_since, literal, stamp
from leadsync.connectors.salesforce.client import SalesforceConfig, build_client
from leadsync.connectors.salesforce.errors import RETRIABLE_RECORD_CODES, classify
from leadsync.connectors.salesforce.people import (
    OrgPeople,
    duplicates_found,
    matched,
    soql_text,
)
from leadsync.connectors.salesforce.schema import parse_describe
from leadsync.retry import RetryPolicy

logger = log.get("leadsync.connectors.salesforce")
CONVERTED = "CANNOT_UPDATE_CONVERTED_LEAD"
READ_ATTEMPTS = 5
# What sales does that leadsync reads back.
LEAD_FEEDBACK = ("Status", "OwnerId", "IsConverted", "ConvertedContactId")
TASK_FEEDBACK = ("Status", "IsClosed", "OwnerId")


class SalesforceDestination(Destination):
    kind = "salesforce"
    Config = SalesforceConfig
    config: SalesforceConfig
    max_batch = 200

    _client: Salesforce | None = None
    _contact_writable: frozenset[str] | None = None
    _people: OrgPeople | None = None

    @property
    def external_id_field(self) -> str:
        return self.config.external_id_field

    @property
    def batch_size(self) -> int:
        return min(self.config.batch_size, self.max_batch)

    @property
    def client(self) -> Salesforce:
        if self._client is None:
            with classified(classify):
                self._client = build_client(self.config, self.calls, self.quota, self.base_dir)
        return self._client

    def check(self) -> list[str]:
        try:
            self.client.limits()
            schema = self.describe()
        except Exception as exc:
            return [f"crm: {classify(exc)}"]
        ext = schema.fields.get(self.external_id_field)
        if ext is None or not ext.external_id:
            return [
                f"crm.external_id_field: {self.external_id_field!r} is not an External ID field "
                f"on {schema.name}: create it (Text, External ID, Unique) or name another"
            ]
        return []

    def describe(self) -> ObjectSchema:
        with classified(classify):
            body = getattr(self.client, self.config.object).describe()
        return parse_describe(body)

    @property
    def bulk_threshold(self) -> int | None:
        return self.config.bulk_threshold or None

    @property
    def bulk_job_size(self) -> int:
        return self.config.bulk_job_records

    def upsert(
        self,
        records: Sequence[Mapping[str, Any]],
        crm_ids: Sequence[str | None] | None = None,
    ) -> list[RecordResult]:
        """Leads upserted by leadsync's key, in collections of 200. A lead whose CRM record
        is a Contact (it was converted, or attached to one) is an update of that Contact,
        with the fields a Contact has. A new lead whose email a Contact already has is
        attached to that Contact instead of becoming a duplicate Lead (attach_to_contacts).
        A lead converted since the last write answers CANNOT_UPDATE_CONVERTED_LEAD and is
        followed to its Contact."""
        return self._upsert(records, crm_ids, bulk=False)

    def bulk_upsert(
        self,
        records: Sequence[Mapping[str, Any]],
        crm_ids: Sequence[str | None] | None = None,
    ) -> list[RecordResult]:
        """The same as ``upsert``, for a backfill: the Leads in one Bulk API 2.0 job, the
        Contacts to attach to found by one bulk query."""
        return self._upsert(records, crm_ids, bulk=True)

    def _upsert(
        self,
        records: Sequence[Mapping[str, Any]],
        crm_ids: Sequence[str | None] | None,
        *,
        bulk: bool,
    ) -> list[RecordResult]:
        ids = list(crm_ids) if crm_ids is not None else [None] * len(records)
        results: list[RecordResult | None] = [None] * len(records)
        contacts = {i: str(cid) for i, cid in enumerate(ids) if cid and cid.startswith("003")}
        people = _new_people(records, ids)
        attached_now: set[int] = set()
        if self.config.attach_to_contacts:
            attached = self.people.contacts_by_email(people, bulk=bulk)
            attached_now = set(attached)
            contacts |= {i: cid for i, (cid, _) in attached.items()}
            # A Contact leadsync did not make: sales' fields stay as they are there.
            records = [
                self.guard.apply(r, attached[i][1]) if i in attached else r
                for i, r in enumerate(records)
            ]
        # A Lead that has the person already (web-to-lead, or written by a state db that
        # was lost) is taken over, never twinned.
        adopted = self.people.leads_by_email(
            {i: e for i, e in people.items() if i not in contacts}, records, bulk=bulk
        )
        records = [adopted[i][1] if i in adopted else r for i, r in enumerate(records)]
        by_id = {i: lead_id for i, (lead_id, _) in adopted.items()}
        leads = [i for i in range(len(records)) if i not in contacts and i not in by_id]
        if leads:
            ext, picked = self.external_id_field, [records[i] for i in leads]
            if bulk:
                answer = self._bulk().upsert(
                    self.config.object, ext, picked, assignment_rule=self._bulk_rule()
                )
            else:
                answer = self._collections_upsert(self.config.object, ext, picked)
            for i, result in zip(leads, answer, strict=True):
                results[i] = result
            converted = [i for i in leads if results[i].code == CONVERTED]  # type: ignore[union-attr]
            if converted:
                contacts |= self._converted_contacts(records, converted)
            twins = duplicates_found(leads, results, attach=self.config.attach_to_contacts)
            by_id |= {i: rid for i, rid in twins.items() if rid.startswith("00Q")}
            contacts |= {i: rid for i, rid in twins.items() if rid.startswith("003")}
            attached_now |= {i for i, rid in twins.items() if rid.startswith("003")}
        if by_id:
            self._update_by_id(self.config.object, records, by_id, results, bulk=bulk)
        if contacts:
            self._update_contacts(records, contacts, results)
        return [
            replace(r, adopted=True)
            if r and r.ok and (i in by_id or i in attached_now)
            else r or missing_result("Salesforce")
            for i, r in enumerate(results)
        ]

    def _bulk(self) -> BulkApi:
        return BulkApi(
            self.client,
            self.config.bulk_poll_seconds,
            self.config.bulk_deadline_seconds,
            on_retry=self.calls.note_retry,
        )

    def _converted_contacts(
        self, records: Sequence[Mapping[str, Any]], indices: list[int]
    ) -> dict[int, str]:
        ext = self.external_id_field
        contact_of: dict[str, Any] = {}
        for start in range(0, len(indices), 100):
            part = indices[start : start + 100]
            keys = ", ".join(soql_text(str(records[i][ext])) for i in part)
            rows = self._query(
                f"SELECT Id, {ext}, ConvertedContactId FROM Lead WHERE {ext} IN ({keys})"
            )
            contact_of |= {r[ext]: r["ConvertedContactId"] for r in rows["records"]}
        return {
            i: str(contact_of[records[i][ext]]) for i in indices if contact_of.get(records[i][ext])
        }

    def _update_contacts(
        self,
        records: Sequence[Mapping[str, Any]],
        contacts: Mapping[int, str],
        results: list[RecordResult | None],
    ) -> None:
        """Each lead's fields that a Contact has, written to its Contact by Id."""
        writable = self._contact_fields()
        only = [{k: v for k, v in r.items() if k in writable} for r in records]
        self._update_by_id("Contact", only, contacts, results, bulk=False)

    def _update_by_id(
        self,
        obj: str,
        records: Sequence[Mapping[str, Any]],
        targets: Mapping[int, str],
        results: list[RecordResult | None],
        *,
        bulk: bool,
    ) -> None:
        """Records written to the ``obj`` records ``targets`` names, by Id: 200 a request,
        or one Bulk API update job for a backfill."""
        order = sorted(targets)
        rows = [{"Id": targets[i], **records[i]} for i in order]
        if bulk:
            answer = self._bulk().update(obj, rows, assignment_rule=self._bulk_rule())
            for i, result in zip(order, answer, strict=True):
                results[i] = _at(result, targets[i])
            return
        for start in range(0, len(order), self.max_batch):
            part = order[start : start + self.max_batch]
            updates = [
                {"attributes": {"type": obj}, **row} for row in rows[start : start + len(part)]
            ]
            with classified(classify):
                reply = self.client.restful(
                    "composite/sobjects",
                    method="PATCH",
                    json={"allOrNone": False, "records": updates},
                )
            for i, result in zip(part, _results(reply or [], len(updates)), strict=True):
                results[i] = _at(result, targets[i])

    def _contact_fields(self) -> frozenset[str]:
        """The Contact fields leadsync may update (asked once)."""
        if self._contact_writable is None:
            with classified(classify):
                contact = self.client.restful("sobjects/Contact/describe")
                schema = parse_describe(contact or {})
            self._contact_writable = frozenset(
                n for n, f in schema.fields.items() if f.updateable and n != "Id"
            )
        return self._contact_writable

    def upsert_tasks(
        self, tasks: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """Tasks upserted by their key in an External ID field on Task: exactly once. A lead
        whose record was taken over (``check_open``: the CRM had it before this state db)
        and already has an open follow-up task of leadsync's for the same stage under
        another key (a state db that was lost made it) gets no second one."""
        open_tasks = self.people.open_tasks(
            [who for task, who in zip(tasks, lead_ids, strict=True) if task.get("check_open")]
        )
        records = []
        for task, who in zip(tasks, lead_ids, strict=True):
            record = {
                self.config.task_key_field: task["key"],
                "Subject": task["subject"],
                "ActivityDate": task["due"],
                "Priority": "High" if task["priority"] == "high" else "Normal",
                "Status": "Not Started",
                "Description": task["description"],
                "WhoId": who,
            }
            if task.get("owner"):
                record["OwnerId"] = task["owner"]
            records.append(record)
        same = {
            i: open_tasks[(who, stage)][1]
            for i, (task, who) in enumerate(zip(tasks, lead_ids, strict=True))
            for stage in [task_of(task["key"])[1]]
            if (who, stage) in open_tasks and open_tasks[(who, stage)][0] != task["key"]
        }
        fresh = [i for i in range(len(records)) if i not in same]
        sent = (
            self._collections_upsert(
                "Task", self.config.task_key_field, [records[i] for i in fresh]
            )
            if fresh
            else []
        )
        results = [
            RecordResult(ok=True, crm_id=same[i], adopted=True) if i in same else None
            for i in range(len(records))
        ]
        for i, result in zip(fresh, sent, strict=True):
            results[i] = result
        converted = [i for i, r in enumerate(results) if r is not None and r.code == CONVERTED]
        if converted:
            # The lead was converted since: the task goes to its Contact.
            ids = ", ".join(soql_text(str(records[i]["WhoId"])) for i in converted)
            rows = self._query(f"SELECT Id, ConvertedContactId FROM Lead WHERE Id IN ({ids})")
            contact_of = {r["Id"]: r["ConvertedContactId"] for r in rows["records"]}
            again = [i for i in converted if contact_of.get(records[i]["WhoId"])]
            for i in again:
                records[i]["WhoId"] = contact_of[records[i]["WhoId"]]
            if again:
                retried = self._collections_upsert(
                    "Task", self.config.task_key_field, [records[i] for i in again]
                )
                for i, result in zip(again, retried, strict=True):
                    results[i] = result
        return [r or missing_result("Salesforce") for r in results]

    @property
    def people(self) -> OrgPeople:
        """Who the org already holds, looked up for this run."""
        if self._people is None:
            self._people = OrgPeople(
                query_all=self._query_all,
                bulk_query=lambda soql: self._bulk().query(soql),
                contact_fields=self._contact_fields,
                guard=self.guard,
                external_id_field=self.external_id_field,
                task_key_field=self.config.task_key_field,
            )
        return self._people

    def existing_owners(self, people: Mapping[str, str]) -> dict[str, str]:
        """Owners of Contacts with these emails, else of Leads leadsync did not make."""
        return self.people.owners(people)

    def snapshot(
        self, fields: Sequence[str], crm_ids: Sequence[str]
    ) -> Iterator[tuple[str | None, str, dict[str, Any]]]:
        """Leads with leadsync's key by one Bulk API query (a few requests per 50,000),
        then the Contacts among ``crm_ids`` by query, 200 ids a request. Values are text,
        as a bulk query answers ("" for empty)."""
        ext = self.external_id_field
        lead_fields = [f for f in fields if f not in ("Id", ext)]
        soql = f"SELECT {', '.join(['Id', ext, *lead_fields])} FROM Lead WHERE {ext} != null"
        for row in self._bulk().query(soql):
            yield row[ext] or None, row["Id"], {f: row.get(f, "") for f in lead_fields}
        contacts = sorted({i for i in crm_ids if i.startswith("003")})
        on_contact = [f for f in lead_fields if contacts and f in self._contact_fields()]
        for start in range(0, len(contacts), self.max_batch):
            ids = ", ".join(soql_text(i) for i in contacts[start : start + self.max_batch])
            rows = self._query(
                f"SELECT {', '.join(['Id', *on_contact])} FROM Contact WHERE Id IN ({ids})"
            )
            for row in rows["records"]:
                yield None, str(row["Id"]), {f: row.get(f) for f in on_contact}

    def task_keys(self) -> Iterator[tuple[str, str]]:
        """Every Task with leadsync's key, by one Bulk API query."""
        key = self.config.task_key_field
        for row in self._bulk().query(f"SELECT Id, {key} FROM Task WHERE {key} != null"):
            yield str(row[key]), str(row["Id"])

    def refresh_quota(self) -> None:
        """One look at /limits, when no answer has told the quota yet this run."""
        if not self.quota.known:
            with classified(classify):
                self.client.limits()

    def read_changes(
        self, cursor: Mapping[str, Any] | None, lead_fields: Sequence[str] = ()
    ) -> Iterator[tuple[list[CrmChange], dict[str, Any]]]:
        """Leads leadsync made (status, owner, conversion, and ``lead_fields``), then their
        tasks (status, closed), then Contacts' owners (the leads attached or converted to
        one), changed since the cursor, by SystemModstamp and Id. Contacts carry no key of
        leadsync's: every Contact changed is read, from the first read on, and the caller
        keeps those it wrote to."""
        position = dict(cursor or {})
        began = datetime.now(UTC)  # the org's clock, near enough: stamps are compared to it
        if "Contact" not in position:
            # Not the whole org's history: the Contacts that change from now on.
            position["Contact"] = {"since": literal(began)}
        reads = (
            ("Lead", "lead", self.external_id_field, [*LEAD_FEEDBACK, *lead_fields]),
            ("Task", "task", self.config.task_key_field, list(TASK_FEEDBACK)),
            ("Contact", "lead", None, ["OwnerId"]),
        )
        for obj, kind, key_field, fields in reads:
            pages = changed_since(
                self._query,
                obj,
                [*([key_field] if key_field else []), *dict.fromkeys(fields)],
                f"{key_field or 'Id'} != null",
                position.get(obj),
                read_at=began,
                overlap_seconds=self.config.changes_overlap_seconds,
            )
            for rows, obj_cursor in pages:
                position[obj] = obj_cursor
                changes = [
                    CrmChange(
                        kind=kind,
                        crm_id=str(row["Id"]),
                        key=row.get(key_field) if key_field else None,
                        fields={f: row.get(f) for f in fields}
                        | ({"completed": bool(row.get("IsClosed"))} if kind == "task" else {}),
                        at=stamp(str(row["SystemModstamp"])),
                    )
                    for row in rows
                ]
                yield changes, dict(position)

    def _query(self, soql: str, attempts: int = READ_ATTEMPTS) -> dict[str, Any]:
        """One page of a SOQL query (Salesforce answers 2,000 rows a page at most)."""
        return self._read(lambda: self.client.query(soql), attempts)

    def _query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every row of a SOQL query, following ``nextRecordsUrl`` page by page."""
        page = self._query(soql)
        rows = list(page["records"])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            more = partial(self.client.query_more, str(page["nextRecordsUrl"]), True)
            page = self._read(more)
            rows.extend(page["records"])
        return rows

    def _read(self, call: Callable[[], Any], attempts: int = READ_ATTEMPTS) -> dict[str, Any]:
        """A read changes nothing, so what may pass later is retried here, a few times,
        backing off."""

        def once() -> dict[str, Any]:
            with classified(classify):
                return dict(call())

        return RetryPolicy(attempts).call(once, on_retry=self.calls.note_retry)

    def _bulk_rule(self) -> str | None:
        """The assignment rule a bulk job runs: only the one the admin named."""
        rule = self.config.assignment_rule
        return rule if rule and rule.upper() != "FALSE" else None

    def campaign_exists(self, campaign_id: str) -> bool:
        """An active Campaign with this id."""
        rows = self._query(
            f"SELECT Id FROM Campaign WHERE Id = {soql_text(campaign_id)} AND IsActive = true"
        )
        return bool(rows["records"])

    def can_own_tasks(self, owner: str) -> bool:
        """A Task's Assigned To must be a User; 00G is the key prefix of Groups (queues)."""
        return not owner.startswith("00G")

    def active_owners(self) -> frozenset[str]:
        """Active users and queues: the owners Salesforce accepts on a Lead."""
        with classified(classify):
            users = self.client.query_all("SELECT Id FROM User WHERE IsActive = true")
            queues = self.client.query_all("SELECT Id FROM Group WHERE Type = 'Queue'")
        return frozenset(r["Id"] for r in [*users["records"], *queues["records"]])

    def set_nurture(
        self, members: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """CampaignMembers upserted by a key (campaign and lead) in an External ID field."""
        records = []
        for member, lead_id in zip(members, lead_ids, strict=True):
            record: dict[str, Any] = {
                self.config.member_key_field: member["member"],
                "Status": member["status"],
            }
            if member["action"] == "join":  # CampaignId and the person are set on create only
                # A lead attached or converted to a Contact joins as that Contact.
                who = "ContactId" if lead_id.startswith("003") else "LeadId"
                record.update({"CampaignId": member["campaign"], who: lead_id})
            records.append(record)
        key = self.config.member_key_field
        results = self._collections_upsert("CampaignMember", key, records)
        # A join whose answer was lost (a timeout, a dropped connection) made the member:
        # sent again, it is an update, and CampaignId and LeadId are set on create only.
        again = [
            i
            for i, r in enumerate(results)
            if r.code == "INVALID_FIELD_FOR_INSERT_UPDATE" and "CampaignId" in records[i]
        ]
        if again:
            update = [
                {
                    k: v
                    for k, v in records[i].items()
                    if k not in ("CampaignId", "LeadId", "ContactId")
                }
                for i in again
            ]
            for i, result in zip(
                again, self._collections_upsert("CampaignMember", key, update), strict=True
            ):
                results[i] = result
        return results

    def _collections_upsert(
        self, obj: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        if len(records) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} records per upsert, got {len(records)}")
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": obj}, **r} for r in records],
        }
        with classified(classify):
            answer = self.client.restful(
                f"composite/sobjects/{obj}/{external_id_field}", method="PATCH", json=body
            )
        return _results(answer or [], len(records))


def _results(answer: Sequence[Mapping[str, Any]], expected: int) -> list[RecordResult]:
    """One result per record sent; a record the answer says nothing of has failed."""
    results = []
    for i in range(expected):
        item = answer[i] if i < len(answer) else None
        if item is None:
            results.append(missing_result("Salesforce"))
        elif item.get("success"):
            results.append(
                RecordResult(ok=True, crm_id=item.get("id"), created=bool(item.get("created")))
            )
        else:
            err = (item.get("errors") or [{}])[0]
            code = err.get("statusCode") or err.get("errorCode") or "UNKNOWN"
            results.append(
                RecordResult(
                    ok=False,
                    code=code,
                    message=err.get("message", ""),
                    fields=tuple(err.get("fields") or ()),
                    retriable=code in RETRIABLE_RECORD_CODES,
                    duplicates=matched(err.get("duplicateResult")),
                )
            )
    return results


def _at(result: RecordResult, crm_id: str) -> RecordResult:
    """An update's result: written to ``crm_id``, not created."""
    return result if not result.ok else RecordResult(ok=True, crm_id=crm_id)


def _new_people(records: Sequence[Mapping[str, Any]], ids: Sequence[str | None]) -> dict[int, str]:
    """The records with no CRM record yet, by their email (lower case)."""
    return {
        i: str(r["Email"]).lower()
        for i, r in enumerate(records)
        if ids[i] is None and r.get("Email")
    }
