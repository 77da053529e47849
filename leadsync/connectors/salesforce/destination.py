"""The Salesforce destination: describe the Lead object, upsert leads in collections of 200."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from leadsync import log
from leadsync.connectors.base import (
    BeforeUpload,
    CrmChange,
    CrmIds,
    Destination,
    ObjectSchema,
    RecordResult,
    Rows,
    missing_result,
)
from leadsync.connectors.http import classified
from leadsync.connectors.salesforce import sobjects
from leadsync.connectors.salesforce.bulk import BulkApi
from leadsync.connectors.salesforce.changes import sales_changes
from leadsync.connectors.salesforce.config import SalesforceConfig
from leadsync.connectors.salesforce.errors import CONVERTED, classify
from leadsync.connectors.salesforce.people import (
    OrgPeople,
    duplicates_found,
    new_people,
    soql_text,
)
from leadsync.connectors.salesforce.schema import parse_describe
from leadsync.connectors.salesforce.tasks import Activities
from leadsync.retry import RetryPolicy

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

logger = log.get("leadsync.connectors.salesforce")
READ_ATTEMPTS = 5
# What sales does that leadsync reads back.


class SalesforceDestination(Destination):
    kind = "salesforce"
    Config = SalesforceConfig
    config: SalesforceConfig
    max_batch = 200
    email_field: str | None = "Email"

    _client: Salesforce | None = None
    _contact_writable: frozenset[str] | None = None
    _people: OrgPeople | None = None
    _owner_names: dict[str, str] = {}  # replaced whole by active_owners, never mutated

    @property
    def external_id_field(self) -> str:
        return self.config.external_id_field

    @property
    def client(self) -> Salesforce:
        if self._client is None:
            with classified(classify):
                # Imported at the first call: requests and simple-salesforce are not
                # needed by a sync that has nothing to write.
                from leadsync.connectors.salesforce.client import build_client

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
        return self.config.bulk_threshold or None  # 0 in the config: never

    @property
    def bulk_job_size(self) -> int:
        return self.config.bulk_job_records

    def upsert(self, records: Rows, crm_ids: CrmIds = None) -> list[RecordResult]:
        """Leads upserted by leadsync's key, in collections of 200. A lead whose CRM record
        is a Contact (it was converted, or attached to one) is an update of that Contact,
        with the fields a Contact has. A new lead whose email a Contact already has is
        attached to that Contact instead of becoming a duplicate Lead (attach_to_contacts).
        A lead converted since the last write answers CANNOT_UPDATE_CONVERTED_LEAD and is
        followed to its Contact."""
        self.refuse_oversized(records)
        return self._upsert(records, crm_ids, bulk=False)

    def bulk_upsert(
        self, records: Rows, crm_ids: CrmIds = None, *, before_upload: BeforeUpload = None
    ) -> list[RecordResult]:
        """The same as ``upsert``, for a backfill: the Leads in one Bulk API 2.0 job, the
        Contacts to attach to found by one bulk query. ``before_upload`` is called when a
        job exists and before its records are sent (see ``BulkApi.upsert``)."""
        return self._upsert(records, crm_ids, bulk=True, before_upload=before_upload)

    def _upsert(
        self, records: Rows, crm_ids: CrmIds, *, bulk: bool, before_upload: BeforeUpload = None
    ) -> list[RecordResult]:
        ids = list(crm_ids) if crm_ids is not None else [None] * len(records)
        results: list[RecordResult | None] = [None] * len(records)
        contacts = {i: str(cid) for i, cid in enumerate(ids) if cid and cid.startswith("003")}
        people = new_people(records, ids, self.email_field)
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
                    self.config.object,
                    ext,
                    picked,
                    assignment_rule=self._bulk_rule(),
                    before_upload=before_upload,
                )
            else:
                answer = sobjects.upsert(self.client, self.config.object, ext, picked)
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
            self._update_by_id(
                self.config.object, records, by_id, results, bulk=bulk, before_upload=before_upload
            )
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
        before_upload: Callable[[], None] | None = None,
    ) -> None:
        """Records written to the ``obj`` records ``targets`` names, by Id: 200 a request,
        or one Bulk API update job for a backfill."""
        order = sorted(targets)
        rows = [{"Id": targets[i], **records[i]} for i in order]
        if bulk:
            bulk_answer = self._bulk().update(
                obj, rows, assignment_rule=self._bulk_rule(), before_upload=before_upload
            )
            answer = [sobjects.at(r, targets[i]) for i, r in zip(order, bulk_answer, strict=True)]
        else:
            answer = sobjects.update_by_id(self.client, obj, rows)
        for i, result in zip(order, answer, strict=True):
            results[i] = result

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
        return self.activities.upsert_tasks(tasks, lead_ids)

    def mark_tasks(self, marks: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        return self.activities.mark_tasks(marks)

    def set_nurture(
        self, members: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        return self.activities.set_nurture(members, lead_ids)

    @property
    def activities(self) -> Activities:
        """Follow-up tasks and campaign members, written for this run."""
        return Activities(
            self.client, self.config, self.people, lambda soql: self._query(soql)["records"]
        )

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
        """What sales changed since the cursor: see ``changes.sales_changes``."""
        return sales_changes(
            self._query,
            cursor,
            lead_key=self.external_id_field,
            task_key=self.config.task_key_field,
            lead_fields=lead_fields,
            overlap_seconds=self.config.changes_overlap_seconds,
        )

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
        """Active users and queues: the owners Salesforce accepts on a Lead (their names
        in the same answers, for ``owner_names``)."""
        with classified(classify):
            users = self.client.query_all("SELECT Id, Name FROM User WHERE IsActive = true")
            queues = self.client.query_all("SELECT Id, Name FROM Group WHERE Type = 'Queue'")
        found = [*users["records"], *queues["records"]]
        self._owner_names = {r["Id"]: r["Name"] for r in found if r.get("Name")}
        return frozenset(r["Id"] for r in found)

    def owner_names(self) -> dict[str, str]:
        return dict(self._owner_names)
