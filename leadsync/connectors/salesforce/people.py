"""Who the org already holds, found in few requests: the Contacts and Leads with a new
lead's email (to attach to, or take over, rather than twin), the owners of people
leadsync is routing, and the open follow-up tasks of leadsync's on records it took over.

By SOQL, 200 emails or ids a query; for a backfill (or past OWNERS_BY_QUERY people in a
run) by one Bulk API query per object, kept for the rest of the run. A batch sent again
after a 5xx is not looked up again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from leadsync import log
from leadsync.connectors.base import FieldGuard, RecordResult, task_of

logger = log.get("leadsync.connectors.salesforce")
BATCH = 200  # emails or ids in one SOQL IN list: well inside Salesforce's URI limit
# People a run asks owners (or open tasks) for by query before it reads them all by Bulk API.
OWNERS_BY_QUERY = 2000


class OrgPeople:
    """Look-ups of one Salesforce org for one run of a destination."""

    def __init__(
        self,
        *,
        query_all: Callable[[str], list[dict[str, Any]]],
        bulk_query: Callable[[str], Iterator[dict[str, str]]],
        contact_fields: Callable[[], frozenset[str]],
        guard: FieldGuard,
        external_id_field: str,
        task_key_field: str,
    ) -> None:
        self.query_all = query_all
        self.bulk_query = bulk_query
        self.contact_fields = contact_fields
        self.guard = guard
        self.external_id_field = external_id_field
        self.task_key_field = task_key_field
        # The last batches' look-ups by email, so that a retried batch asks once.
        self._looked_up: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
        self._owners: tuple[dict[str, str], dict[str, list[tuple[str, str]]]] | None = None
        self._owners_asked = 0
        self._all_open: dict[tuple[str, str], tuple[str, str]] | None = None
        self._tasks_asked = 0

    def contacts_by_email(
        self, people: Mapping[int, str], *, bulk: bool
    ) -> dict[int, tuple[str, dict[str, Any]]]:
        """New leads (no CRM record yet) whose email a Contact already has: that Contact,
        and its fill-if-empty fields. A batch asks for its emails in one query (200 at
        most); a bulk job reads every Contact's email by a bulk query, a few requests
        however many."""
        if not people:
            return {}
        fill = [f for f in sorted(self.guard.fill_if_empty) if f in self.contact_fields()]
        rows = self._by_email("Contact", ["Id", "Email", *fill], people, "", bulk=bulk)
        by_email: dict[str, tuple[str, dict[str, Any]]] = {}
        for row in rows:
            by_email.setdefault(
                str(row["Email"]).lower(), (str(row["Id"]), {f: row.get(f) for f in fill})
            )
        return {i: by_email[e] for i, e in people.items() if e in by_email}

    def leads_by_email(
        self, people: Mapping[int, str], records: Sequence[Mapping[str, Any]], *, bulk: bool
    ) -> dict[int, tuple[str, dict[str, Any]]]:
        """New leads whose email an unconverted Lead in the org already has, and that Lead
        does not carry this lead's key: (its Id, the record to write to it). The Lead
        takes this lead's key. One another leadsync state db wrote (it has a key) is ours
        and written whole; one made by hand or web-to-lead keeps the fields sales owns.
        Where several Leads share the email, the oldest is taken, as a rep would merge
        into it."""
        if not people:
            return {}
        ext = self.external_id_field
        fill = sorted(self.guard.fill_if_empty)
        select = ["Id", "Email", ext, "CreatedDate", *fill]
        rows = self._by_email(
            "Lead", select, people, " AND IsConverted = false", bulk=bulk, order="CreatedDate, Id"
        )
        by_email: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            by_email.setdefault(str(row["Email"]).lower(), []).append(row)
        out: dict[int, tuple[str, dict[str, Any]]] = {}
        for i, email in people.items():
            found = by_email.get(email, [])
            key = records[i].get(ext)
            if not found or any(row.get(ext) == key for row in found):
                continue  # no one yet, or the Lead is this lead's already: upsert by key
            keyed = [row for row in found if row.get(ext)]
            row = (keyed or found)[0]
            record = dict(records[i])
            if not row.get(ext):
                record = self.guard.apply(record, {f: row.get(f) for f in fill})
                record[ext] = key
            out[i] = (str(row["Id"]), record)
        if out:
            logger.info("salesforce.leads.adopted", count=len(out))
        return out

    def _by_email(
        self,
        obj: str,
        select: Sequence[str],
        people: Mapping[int, str],
        where: str,
        *,
        bulk: bool,
        order: str = "",
    ) -> Iterable[Mapping[str, Any]]:
        """``obj`` records with these emails: by SOQL, 200 emails a query, or for a bulk
        job by one Bulk API query over every record with an email. The answer for the
        batch is kept: a batch sent again after a 5xx or a timeout is not looked up again
        (what the first try wrote carries the key, so the same answer still holds)."""
        asked = (obj, tuple(select), tuple(sorted(set(people.values()))), where, bulk)
        if asked not in self._looked_up:
            found = self._look_up(
                obj, ", ".join(dict.fromkeys(select)), asked[2], where, bulk, order
            )
            self._looked_up = {**dict(list(self._looked_up.items())[-3:]), asked: found}
        return self._looked_up[asked]

    def _look_up(
        self, obj: str, fields: str, emails: Sequence[str], where: str, bulk: bool, order: str
    ) -> list[Mapping[str, Any]]:
        ordered = f" ORDER BY {order}" if order else ""
        if bulk:
            rows = list(self.bulk_query(f"SELECT {fields} FROM {obj} WHERE Email != null{where}"))
            rows.sort(key=lambda r: tuple(str(r.get(f.strip(), "")) for f in order.split(",")))
            return [{k: (v if v != "" else None) for k, v in r.items()} for r in rows]
        found: list[Mapping[str, Any]] = []
        for start in range(0, len(emails), BATCH):
            part = ", ".join(soql_text(e) for e in emails[start : start + BATCH])
            found.extend(
                self.query_all(
                    f"SELECT {fields} FROM {obj} WHERE Email IN ({part}){where}{ordered}"
                )
            )
        return found

    def open_tasks(self, lead_ids: Sequence[str]) -> dict[tuple[str, str], tuple[str, str]]:
        """(CRM lead id, stage) -> (task key, task id) of an open task of leadsync's there:
        by query, 200 leads a request; past OWNERS_BY_QUERY leads in a run (a state db
        rebuilt under a big backfill), every open task by one Bulk API query, kept."""
        key = self.task_key_field
        ids = sorted(set(lead_ids))  # none asked, none sent
        self._tasks_asked += len(ids)
        if self._all_open is None and self._tasks_asked > OWNERS_BY_QUERY:
            self._all_open = {}
            soql = f"SELECT Id, WhoId, {key} FROM Task WHERE {key} != null AND IsClosed = false"
            for row in self.bulk_query(soql):
                stage = task_of(row[key])[1]
                self._all_open.setdefault((row["WhoId"], stage), (row[key], row["Id"]))
        if self._all_open is not None:
            wanted = set(ids)
            return {k: v for k, v in self._all_open.items() if k[0] in wanted}
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for start in range(0, len(ids), BATCH):
            part = ", ".join(soql_text(i) for i in ids[start : start + BATCH])
            for row in self.query_all(
                f"SELECT Id, WhoId, {key} FROM Task WHERE WhoId IN ({part}) "
                f"AND {key} != null AND IsClosed = false"
            ):
                stage = task_of(str(row[key]))[1]
                found.setdefault((str(row["WhoId"]), stage), (str(row[key]), str(row["Id"])))
        return found

    def owners(self, people: Mapping[str, str]) -> dict[str, str]:
        """Owners of Contacts with these emails, else of Leads leadsync did not make: by
        queries of 200 emails, two requests per 200 people; once a run has asked about
        more than OWNERS_BY_QUERY people (a backfill), by one Bulk API query of each
        object's owners, kept for the rest of the run."""
        self._owners_asked += len(people)
        if self._owners is None and self._owners_asked > OWNERS_BY_QUERY:
            self._owners = self._all_owners()
        rows_c: list[Mapping[str, Any]] = []
        rows_l: list[Mapping[str, Any]] = []
        if self._owners is not None:
            contacts, leads = self._owners
            rows_c = [{"Email": e, "OwnerId": contacts[e]} for e in people if e in contacts]
            rows_l = [
                {"Email": e, "OwnerId": owner, self.external_id_field: key}
                for e in people
                for key, owner in leads.get(e, ())
            ]
            return self._owners_of(people, rows_c, rows_l)
        ext = self.external_id_field
        emails = sorted(people)
        for start in range(0, len(emails), BATCH):
            part = ", ".join(soql_text(e) for e in emails[start : start + BATCH])
            rows_c += self.query_all(
                f"SELECT Id, OwnerId, Email FROM Contact WHERE Email IN ({part})"
            )
            rows_l += self.query_all(
                f"SELECT Id, OwnerId, Email, {ext} FROM Lead WHERE Email IN ({part})"
            )
        return self._owners_of(people, rows_c, rows_l)

    def _owners_of(
        self,
        people: Mapping[str, str],
        contacts: Iterable[Mapping[str, Any]],
        leads: Iterable[Mapping[str, Any]],
    ) -> dict[str, str]:
        ext = self.external_id_field
        found: dict[str, str] = {}
        for record in leads:
            email = str(record.get("Email") or "").lower()
            if email in people and record.get(ext) != people[email]:  # not our own lead
                found.setdefault(email, str(record["OwnerId"]))
        for record in contacts:  # a contact's owner comes first
            found[str(record.get("Email") or "").lower()] = str(record["OwnerId"])
        return found

    def _all_owners(self) -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]]:
        """Every Contact's and Lead's owner by email, by one Bulk API query each."""
        ext = self.external_id_field
        contacts: dict[str, str] = {}
        for row in self.bulk_query("SELECT Email, OwnerId FROM Contact WHERE Email != null"):
            contacts.setdefault(row["Email"].lower(), row["OwnerId"])
        leads: dict[str, list[tuple[str, str]]] = {}
        rows = self.bulk_query(
            f"SELECT Email, OwnerId, {ext}, CreatedDate FROM Lead WHERE Email != null"
        )
        for row in sorted(rows, key=lambda r: r["CreatedDate"]):  # the oldest Lead first
            leads.setdefault(row["Email"].lower(), []).append((row[ext], row["OwnerId"]))
        return contacts, leads


def duplicates_found(
    sent: Sequence[int], results: list[RecordResult | None], *, attach: bool
) -> dict[int, str]:
    """Leads the org's duplicate rule blocked (DUPLICATES_DETECTED): the record it
    matched, to be written to instead (a Lead first; a Contact when leads may be
    attached to Contacts). A lead with no such match stays refused, the matches named."""
    out: dict[int, str] = {}
    for i in sent:
        result = results[i]
        if result is None or result.code != "DUPLICATES_DETECTED":
            continue
        leads = [d for d in result.duplicates if d.startswith("00Q")]
        contacts = [d for d in result.duplicates if d.startswith("003")]
        if leads or (contacts and attach):
            out[i] = (leads or contacts)[0]
            results[i] = None
            continue
        results[i] = RecordResult(
            ok=False,
            code=result.code,
            message=f"{result.message} The org's duplicate rule matched "
            f"{', '.join(result.duplicates) or 'a record it did not name'}"
            + ("; attach_to_contacts = false keeps leadsync off Contacts" if contacts else ""),
            fields=result.fields,
        )
    if out:
        logger.info("salesforce.duplicate_rule.matched", count=len(out))
    return out


def matched(duplicate_result: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The record ids a duplicate rule's answer names (``duplicateResult.matchResults``)."""
    if not duplicate_result:
        return ()
    return tuple(
        str(match["record"]["Id"])
        for result in duplicate_result.get("matchResults") or ()
        for match in result.get("matchRecords") or ()
        if (match.get("record") or {}).get("Id")
    )


def soql_text(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def new_people(
    records: Sequence[Mapping[str, Any]], ids: Sequence[str | None], email_field: str | None
) -> dict[int, str]:
    """The records with no CRM record yet, by their email."""
    if email_field is None:
        return {}
    return {
        i: str(r[email_field])
        for i, r in enumerate(records)
        if ids[i] is None and r.get(email_field)
    }
