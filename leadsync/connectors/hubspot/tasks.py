"""Follow-up tasks in HubSpot: created with their contact association in the same
request, once each.

A task carries leadsync's key in a unique property, so HubSpot itself refuses a second
task with the same key (409) and the tasks an earlier attempt made are read back and
only the rest created. A contact taken over (``check_open``) that already has an open
task of leadsync's for the same lead and stage under another key (a state db that was
lost made it) gets no second one: one task search per 100 contacts, by association.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
)

from leadsync.connectors.base import RecordResult, missing_result, task_of
from leadsync.connectors.hubspot.changes import TaskSearch
from leadsync.connectors.hubspot.client import READ_ATTEMPTS, HubSpotApi
from leadsync.connectors.hubspot.values import refused, rejection
from leadsync.errors import RequestRejected

TASK_TO_CONTACT = 204  # HubSpot's association type id: task -> contact
PRIORITY = {"high": "HIGH", "normal": "MEDIUM"}


class TaskWriter:
    """The tasks of one portal, keyed by ``key_property``; owners named as leadsync names
    them (an id or an email), turned into owner ids by ``owner_id``."""

    def __init__(
        self, api: HubSpotApi, key_property: str, owner_id: Callable[[str], str | None]
    ) -> None:
        self.api = api
        self.key_property = key_property
        self.owner_id = owner_id

    @property
    def batch_api(self) -> Any:
        """The hubspot-api-client's batch endpoints of tasks."""
        return self.api.crm.objects.tasks.batch_api

    def keys(self) -> Iterator[tuple[str, str]]:
        """Every task with leadsync's key, listed 100 a request."""
        key = self.key_property
        listing = self.api.crm.objects.tasks.basic_api.get_page
        for answer in self.api.pages("tasks_list", listing, limit=100, properties=[key]):
            for task in answer.get("results") or []:
                value = (task.get("properties") or {}).get(key)
                if value:
                    yield str(value), str(task["id"])

    def upsert(
        self, tasks: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """Tasks created with their contact association in the same request, once each. A
        contact taken over (``check_open``) that already has an open follow-up task of
        leadsync's for the same lead and stage under another key (a state db that was lost
        made it) gets no second one."""
        key_prop = self.key_property
        results: list[RecordResult | None] = [None] * len(tasks)
        open_tasks = self._open(
            [c for t, c in zip(tasks, lead_ids, strict=True) if t.get("check_open")]
        )
        items = []
        for i, (task, contact) in enumerate(zip(tasks, lead_ids, strict=True)):
            waiting = open_tasks.get(task_of(str(task["key"])))
            if waiting is not None and waiting[0] != task["key"]:
                results[i] = RecordResult(ok=True, crm_id=waiting[1], adopted=True)
                continue
            props = {
                key_prop: str(task["key"]),
                "hs_task_subject": str(task["subject"]),
                "hs_task_body": str(task["description"]),
                "hs_timestamp": str(task.get("due_at") or f"{task['due']}T00:00:00Z"),
                "hs_task_priority": PRIORITY.get(str(task["priority"]), "MEDIUM"),
                "hs_task_status": "NOT_STARTED",
                "hs_task_type": "TODO",
            }
            if task.get("owner"):
                owner = self.owner_id(str(task["owner"]))
                if owner is None:
                    results[i] = refused(
                        "UNKNOWN_OWNER", "hubspot_owner_id", f"{task['owner']!r} is no owner here"
                    )
                    continue
                props["hubspot_owner_id"] = owner
            items.append((i, props, str(contact)))
        self._create(items, results)
        return [r or missing_result("HubSpot") for r in results]

    def mark(self, marks: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Follow-up tasks set aside (DEFERRED: open, not done), by their HubSpot id."""
        known = [m for m in marks if m.get("crm_id")]
        if known:
            inputs = [
                SimplePublicObjectBatchInput(
                    id=str(m["crm_id"]),
                    properties={
                        "hs_task_subject": str(m["subject"]),
                        "hs_task_status": "DEFERRED",
                    },
                )
                for m in known
            ]
            body = BatchInputSimplePublicObjectBatchInput(inputs=inputs)
            try:
                answer = self.api.json("tasks_update", self.batch_api.update, body)
            except RequestRejected as exc:
                return [rejection(exc) for _ in marks]
            updated = {str(r["id"]) for r in answer.get("results") or []}
        else:
            updated = set()
        return [
            RecordResult(ok=True, crm_id=str(m["crm_id"]))
            if str(m.get("crm_id")) in updated
            else missing_result("HubSpot")
            if m.get("crm_id")
            else refused("NO_TASK_ID", "hs_object_id", "the task's HubSpot id is not known")
            for m in marks
        ]

    def _open(self, contacts: Sequence[str]) -> dict[tuple[str, str], tuple[str, str]]:
        """(lead key, stage) -> (task key, task id) of the open tasks of leadsync's on these
        contacts: one search per 100 contacts."""
        key_prop = self.key_property
        found: dict[tuple[str, str], tuple[str, str]] = {}
        ids = sorted(set(contacts))
        for start in range(0, len(ids), 100):

            def request(after: str | None, part: list[str] = ids[start : start + 100]) -> Any:
                return TaskSearch(
                    filter_groups=[
                        {
                            "filters": [
                                {
                                    "propertyName": "associations.contact",
                                    "operator": "IN",
                                    "values": part,
                                },
                                {"propertyName": key_prop, "operator": "HAS_PROPERTY"},
                                {
                                    "propertyName": "hs_task_status",
                                    "operator": "NEQ",
                                    "value": "COMPLETED",
                                },
                            ]
                        }
                    ],
                    properties=[key_prop],
                    limit=200,
                    after=after,
                )

            search = self.api.crm.objects.tasks.search_api.do_search
            for answer in self.api.pages("tasks_search", search, with_after=request):
                for task in answer.get("results") or []:
                    key = str((task.get("properties") or {}).get(key_prop) or "")
                    found.setdefault(task_of(key), (key, str(task["id"])))
        return found

    def _create(
        self, items: list[tuple[int, dict[str, str], str]], results: list[RecordResult | None]
    ) -> None:
        key_prop = self.key_property
        for _ in range(3):  # create; on a conflict, read what exists, create the rest
            if not items:
                return
            inputs = [
                SimplePublicObjectBatchInputForCreate(
                    properties=props,
                    associations=[
                        PublicAssociationsForObject(
                            to=PublicObjectId(id=contact),
                            types=[
                                AssociationSpec(
                                    association_category="HUBSPOT_DEFINED",
                                    association_type_id=TASK_TO_CONTACT,
                                )
                            ],
                        )
                    ],
                )
                for _, props, contact in items
            ]
            body = BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
            try:
                answer = self.api.json("tasks_create", self.batch_api.create, body)
            except RequestRejected as exc:
                if exc.details.get("code") == "CONFLICT":
                    # An earlier attempt made some of these: they are done, not made twice.
                    items = self._existing(items, results)
                    continue
                if len(items) > 1:
                    half = len(items) // 2
                    self._create(items[:half], results)
                    self._create(items[half:], results)
                else:
                    results[items[0][0]] = rejection(exc)
                return
            made = {
                (r.get("properties") or {}).get(key_prop): str(r["id"])
                for r in answer.get("results") or []
            }
            for i, props, _ in items:
                if props[key_prop] in made:
                    results[i] = RecordResult(ok=True, crm_id=made[props[key_prop]], created=True)
            return

    def _existing(
        self, items: list[tuple[int, dict[str, str], str]], results: list[RecordResult | None]
    ) -> list[tuple[int, dict[str, str], str]]:
        """Mark the tasks HubSpot already holds as done; return the ones still to create."""
        key_prop = self.key_property
        answer = self.api.json(
            "tasks_read",
            self.batch_api.read,
            BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=props[key_prop]) for _, props, _ in items],
                properties=[key_prop],
                id_property=key_prop,
            ),
            attempts=READ_ATTEMPTS,
        )
        held = {
            (r.get("properties") or {}).get(key_prop): str(r["id"])
            for r in answer.get("results") or []
        }
        rest = []
        for item in items:
            i, props, _ = item
            if props[key_prop] in held:
                results[i] = RecordResult(ok=True, crm_id=held[props[key_prop]])
            else:
                rest.append(item)
        return rest
