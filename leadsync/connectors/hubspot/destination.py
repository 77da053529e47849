"""The HubSpot CRM destination: contacts upserted 100 a request, tasks, a nurture list.

Contacts are upserted by a unique property that holds leadsync's lead key
(``leadsync_id`` by default). A contact HubSpot already holds under the same
email (made by a form, say) answers 409 CONFLICT: it is then adopted, upserted
by email, so that the person stays one contact.

HubSpot refuses a whole batch when one input is invalid. Values the described
schema rules out (an unknown property, a read-only one, an option the
enumeration lacks, text in a number) are refused here, before the request,
each with its reason; a batch that HubSpot still refuses is split in halves
until the input at fault stands alone, so that its batch-mates are written.
A lifecycle stage moving backwards (a recycled lead) is cleared first, as
HubSpot requires.

Tasks carry their key in a unique task property (``leadsync_key``): see
``hubspot.tasks``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.lists import MembershipChangeRequest
from hubspot.crm.objects.tasks import (
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectId,
)

from leadsync.connectors.base import (
    CrmChange,
    Destination,
    ObjectSchema,
    RecordResult,
    missing_result,
)
from leadsync.connectors.hubspot.changes import sales_changes
from leadsync.connectors.hubspot.client import READ_ATTEMPTS, HubSpotApi
from leadsync.connectors.hubspot.config import MAX_BATCH, HubSpotDestinationConfig
from leadsync.connectors.hubspot.owners import EMAIL, PortalOwners
from leadsync.connectors.hubspot.schema import parse_properties
from leadsync.connectors.hubspot.tasks import TaskWriter
from leadsync.connectors.hubspot.values import (
    as_text,
    invalid,
    lifecycle_backwards,
    match_key,
    refused,
    rejection,
)
from leadsync.errors import ConnectorError, RequestRejected

if TYPE_CHECKING:
    from leadsync.connectors.base import CrmIds, Rows


class HubSpotDestination(Destination):
    kind = "hubspot"
    Config = HubSpotDestinationConfig
    config: HubSpotDestinationConfig
    max_batch = MAX_BATCH
    email_field: str | None = EMAIL

    _api: HubSpotApi | None = None
    _schema: ObjectSchema | None = None
    _owners: PortalOwners | None = None

    @property
    def api(self) -> HubSpotApi:
        if self._api is None:
            self._api = HubSpotApi(self.config, self.calls, self.quota)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # -- schema and people ----------------------------------------------------

    @property
    def external_id_field(self) -> str:
        """The contact property that holds leadsync's lead key (``id_property``)."""
        return self.config.id_property

    def check(self) -> list[str]:
        try:
            schema = self.describe()
            tasks = parse_properties("tasks", self._properties("tasks"))
        except ConnectorError as exc:
            return [f"crm: {exc}"]
        problems = []
        for obj, prop, what in (
            (schema, self.config.id_property, "crm.id_property"),
            (tasks, self.config.task_key_property, "crm.task_key_property"),
        ):
            spec = obj.fields.get(prop)
            if spec is None or not spec.unique:
                problems.append(
                    f"{what}: {prop!r} is not a unique-value property on HubSpot {obj.name}: "
                    "create it (single-line text, 'require unique values') or name another"
                )
        return problems

    def describe(self) -> ObjectSchema:
        if self._schema is None:
            self._schema = parse_properties("contacts", self._properties("contacts"))
        return self._schema

    def _properties(self, obj: str) -> list[Any]:
        answer = self.api.call(
            "properties", self.api.crm.properties.core_api.get_all, obj, attempts=READ_ATTEMPTS
        )
        return [p.to_dict() for p in answer.results]

    @property
    def portal_owners(self) -> PortalOwners:
        if self._owners is None:
            self._owners = PortalOwners(self.api, self.config.id_property)
        return self._owners

    def active_owners(self) -> frozenset[str]:
        return self.portal_owners.active()

    def owner_names(self) -> dict[str, str]:
        return dict(self._owners.names) if self._owners is not None else {}

    def owner_id(self, owner: str) -> str | None:
        return self.portal_owners.owner_id(owner)

    def same_owner(self, written: str, crm_value: str) -> bool:
        return self.portal_owners.same(written, crm_value)

    def existing_owners(self, people: Mapping[str, str]) -> dict[str, str]:
        return self.portal_owners.existing(people)

    def snapshot(
        self, fields: Sequence[str], crm_ids: Sequence[str]
    ) -> Iterator[tuple[str | None, str, dict[str, Any]]]:
        """Every contact with leadsync's key, listed 100 a request (the list API has no
        10,000 cap, unlike search), with ``fields``."""
        key = self.config.id_property
        wanted = [key, *(f for f in fields if f != key)]
        listing = self.api.crm.contacts.basic_api.get_page
        for answer in self.api.pages("contacts_list", listing, limit=100, properties=wanted):
            for contact in answer.get("results") or []:
                props = contact.get("properties") or {}
                if props.get(key):
                    yield str(props[key]), str(contact["id"]), {f: props.get(f) for f in fields}

    def task_keys(self) -> Iterator[tuple[str, str]]:
        """Every task with leadsync's key, listed 100 a request."""
        return self.tasks.keys()

    # -- what sales did -------------------------------------------------------

    def read_changes(
        self, cursor: Mapping[str, Any] | None, lead_fields: Sequence[str] = ()
    ) -> Iterator[tuple[list[CrmChange], dict[str, Any]]]:
        """Contacts whose status, stage or owner may have changed, then tasks (completed or
        not), modified since the cursor: the same moving window as the source reads."""
        return sales_changes(
            self.api,
            cursor,
            lead_key=self.config.id_property,
            task_key=self.config.task_key_property,
            lead_fields=lead_fields,
        )

    # -- contacts -------------------------------------------------------------

    def upsert(self, records: Rows, crm_ids: CrmIds = None) -> list[RecordResult]:
        self.refuse_oversized(records)
        results: list[RecordResult | None] = [None] * len(records)
        ready: list[tuple[int, dict[str, str]]] = []
        for i, record in enumerate(records):
            props, problem = self._properties_for(record, self.describe())
            if problem is not None:
                results[i] = problem
            else:
                ready.append((i, props))
        self._send_contacts(ready, results, self.config.id_property)
        return [r or missing_result("HubSpot") for r in results]

    def _properties_for(
        self, record: Mapping[str, Any], schema: ObjectSchema
    ) -> tuple[dict[str, str], RecordResult | None]:
        """HubSpot's text for each value, or the reason HubSpot would refuse the record."""
        props: dict[str, str] = {}
        for name, value in record.items():
            spec = schema.fields.get(name)
            text = as_text(value)
            if name == "hubspot_owner_id" and text:
                owner = self.owner_id(text)
                if owner is None:
                    return props, refused(
                        "UNKNOWN_OWNER", name, f"{text!r} is not an owner in this portal"
                    )
                text = owner
            problem = invalid(spec, name, text)
            if problem:
                return props, refused(problem[0], name, problem[1])
            props[name] = text
        return props, None

    def _send_contacts(
        self,
        items: list[tuple[int, dict[str, str]]],
        results: list[RecordResult | None],
        id_property: str,
    ) -> None:
        if not items:
            return
        inputs = [
            SimplePublicObjectBatchInputUpsert(
                id=props[id_property], id_property=id_property, properties=props
            )
            for _, props in items
        ]
        try:
            answer = self.api.json(
                "contacts_upsert",
                self.api.crm.contacts.batch_api.upsert,
                BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs),
            )
        except RequestRejected as exc:
            self._after_refusal(exc, items, results, id_property)
            return
        by_key = {
            match_key(id_property, (r.get("properties") or {}).get(id_property)): r
            for r in answer.get("results") or []
        }
        for i, props in items:
            found = by_key.get(match_key(id_property, props[id_property]))
            if found is not None:
                results[i] = RecordResult(
                    ok=True, crm_id=str(found["id"]), created=bool(found.get("new"))
                )

    def _after_refusal(
        self,
        exc: RequestRejected,
        items: list[tuple[int, dict[str, str]]],
        results: list[RecordResult | None],
        id_property: str,
    ) -> None:
        """Split a refused batch until the input at fault stands alone, then deal with it."""
        if len(items) > 1:
            half = len(items) // 2
            self._send_contacts(items[:half], results, id_property)
            self._send_contacts(items[half:], results, id_property)
            return
        i, props = items[0]
        code = str(exc.details.get("code") or "")
        # HubSpot keeps a contact's email unique: a lead whose map writes it can be matched.
        adoptable = (
            self.config.adopt_by_email
            and id_property != EMAIL
            and self.email_field == EMAIL
            and props.get(EMAIL)
        )
        if code == "CONFLICT" and adoptable:
            # HubSpot holds this person already: the lead becomes that contact, and what
            # sales owns there stays as it is.
            self._send_contacts([(i, self._adoptable(props))], results, EMAIL)
            return
        if lifecycle_backwards(exc) and props.get("lifecyclestage"):
            cleared = {id_property: props[id_property], "lifecyclestage": ""}
            self._send_contacts([(i, cleared)], results, id_property)
            if results[i] is not None and results[i].ok:  # type: ignore[union-attr]
                self._send_contacts(items, results, id_property)
            return
        results[i] = rejection(exc)

    def _adoptable(self, props: dict[str, str]) -> dict[str, str]:
        """The properties to write to a contact leadsync did not make: not those sales
        owns, and fill-if-empty ones only where the contact has none (one read)."""
        guard = self.guard
        current: dict[str, Any] = {}
        if guard.fill_if_empty & props.keys():
            answer = self.api.json(
                "contacts_read",
                self.api.crm.contacts.batch_api.read,
                BatchReadInputSimplePublicObjectId(
                    inputs=[SimplePublicObjectId(id=props[EMAIL])],
                    properties=sorted(guard.fill_if_empty),
                    id_property=EMAIL,
                ),
                attempts=READ_ATTEMPTS,
            )
            found = answer.get("results") or [{}]
            current = found[0].get("properties") or {}
        kept = guard.apply(props, current)
        return {
            **kept,
            EMAIL: props[EMAIL],
            self.config.id_property: props[self.config.id_property],
        }

    # -- tasks ----------------------------------------------------------------

    def upsert_tasks(
        self, tasks: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """Tasks created with their contact association in the same request, once each
        (see ``hubspot.tasks``)."""
        return self.tasks.upsert(tasks, lead_ids)

    def mark_tasks(self, marks: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        return self.tasks.mark(marks)

    @property
    def tasks(self) -> TaskWriter:
        return TaskWriter(self.api, self.config.task_key_property, self.owner_id)

    # -- nurture --------------------------------------------------------------

    def set_nurture(
        self, members: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """Join or leave a static list: one request per list for the whole batch."""
        by_list: dict[str, list[tuple[int, str, bool]]] = {}
        for i, (member, contact) in enumerate(zip(members, lead_ids, strict=True)):
            joining = member["action"] == "join"
            by_list.setdefault(str(member["campaign"]), []).append((i, str(contact), joining))
        results: list[RecordResult | None] = [None] * len(members)
        for list_id, changes in by_list.items():
            call: Callable[..., Any] = self.api.crm.lists.memberships_api.add_and_remove
            try:
                answer = self.api.call(
                    "list_memberships",
                    call,
                    list_id,
                    MembershipChangeRequest(
                        record_ids_to_add=[c for _, c, join in changes if join],
                        record_ids_to_remove=[c for _, c, join in changes if not join],
                    ),
                )
            except RequestRejected as exc:
                for i, _, _ in changes:
                    results[i] = rejection(exc)
                continue
            missing = set(answer.record_ids_missing or [])
            for i, contact, _ in changes:
                results[i] = (
                    refused("OBJECT_NOT_FOUND", "", f"contact {contact} is not in HubSpot")
                    if contact in missing
                    else RecordResult(ok=True, crm_id=contact)
                )
        return [r or missing_result("HubSpot") for r in results]
