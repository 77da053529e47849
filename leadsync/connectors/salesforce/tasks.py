"""Activities on the org's people: follow-up tasks (exactly once, by leadsync's key in an
External ID field on Task) and nurture (CampaignMembers, by their own key)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadsync.connectors.base import RecordResult, missing_result, task_of
from leadsync.connectors.salesforce import sobjects
from leadsync.connectors.salesforce.config import SalesforceConfig
from leadsync.connectors.salesforce.errors import CONVERTED
from leadsync.connectors.salesforce.people import OrgPeople, soql_text

if TYPE_CHECKING:
    from simple_salesforce import Salesforce


@dataclass
class Activities:
    client: Salesforce
    config: SalesforceConfig
    people: OrgPeople
    query: Callable[[str], list[dict[str, Any]]]

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
                # A Task's due date has no time; its reminder does: the rep is told when
                # the follow-up falls due, to the minute.
                **(
                    {"ReminderDateTime": task["due_at"], "IsReminderSet": True}
                    if task.get("due_at")
                    else {}
                ),
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
            self._upsert("Task", self.config.task_key_field, [records[i] for i in fresh])
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
            rows = self.query(f"SELECT Id, ConvertedContactId FROM Lead WHERE Id IN ({ids})")
            contact_of = {r["Id"]: r["ConvertedContactId"] for r in rows}
            again = [i for i in converted if contact_of.get(records[i]["WhoId"])]
            for i in again:
                records[i]["WhoId"] = contact_of[records[i]["WhoId"]]
            if again:
                retried = self._upsert(
                    "Task", self.config.task_key_field, [records[i] for i in again]
                )
                for i, result in zip(again, retried, strict=True):
                    results[i] = result
        return [r or missing_result("Salesforce") for r in results]

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
        results = self._upsert("CampaignMember", key, records)
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
            for i, result in zip(again, self._upsert("CampaignMember", key, update), strict=True):
                results[i] = result
        return results

    def mark_tasks(self, marks: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Follow-up tasks set aside (Status Deferred: open, not done), by their key."""
        key = self.config.task_key_field
        records = [
            {key: m["task"], "Subject": str(m["subject"])[:255], "Status": "Deferred"}
            for m in marks
        ]
        return self._upsert("Task", key, records)

    def _upsert(
        self, obj: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]:
        return sobjects.upsert(self.client, obj, external_id_field, records)
