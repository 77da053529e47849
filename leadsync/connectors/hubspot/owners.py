"""The portal's owners: who may own a contact (by id or email), and who owns the
contacts HubSpot already holds, asked once per run."""

from __future__ import annotations

from collections.abc import Mapping

from hubspot.crm.contacts import PublicObjectSearchRequest

from leadsync.connectors.hubspot.client import READ_ATTEMPTS, HubSpotApi

# HubSpot's own unique property of a contact, by which it finds the same person again.
EMAIL = "email"


class PortalOwners:
    def __init__(self, api: HubSpotApi, id_property: str) -> None:
        self.api = api
        self.id_property = id_property
        self._found: dict[str, tuple[str, bool]] | None = None
        self.names: dict[str, str] = {}  # owner id or email -> "First Last" (or the email)

    def all(self) -> dict[str, tuple[str, bool]]:
        """Every owner by id and by email (lowercased): (owner id, active)."""
        if self._found is None:
            found: dict[str, tuple[str, bool]] = {}
            listing = self.api.crm.owners.owners_api.get_page
            for archived in (False, True):
                for page in self.api.pages("owners", listing, limit=100, archived=archived):
                    for owner in page.get("results") or []:
                        # An active owner wins over an archived one with the same email.
                        entry = (str(owner["id"]), not archived)
                        name = " ".join(
                            str(owner.get(k) or "") for k in ("firstName", "lastName")
                        ).strip()
                        if name or owner.get("email"):
                            # by id and by email: routing may name an owner either way
                            said = name or str(owner["email"])
                            self.names.setdefault(str(owner["id"]), said)
                            if owner.get("email"):
                                self.names.setdefault(str(owner["email"]).lower(), said)
                        found.setdefault(str(owner["id"]), entry)
                        if owner.get("email"):
                            found.setdefault(str(owner["email"]).lower(), entry)
            self._found = found
        return self._found

    def active(self) -> frozenset[str]:
        """Owner ids and emails (routing may name either) of owners not archived."""
        return frozenset(k for k, (_, active) in self.all().items() if active)

    def owner_id(self, owner: str) -> str | None:
        """The owner id for an id or an email; None when the portal has no such owner."""
        found = self.all().get(owner.lower() if "@" in owner else owner)
        return found[0] if found else None

    def same(self, written: str, crm_value: str) -> bool:
        return (self.owner_id(written) or written) == (self.owner_id(crm_value) or crm_value)

    def existing(self, people: Mapping[str, str]) -> dict[str, str]:
        """Owners of contacts HubSpot holds under these emails that leadsync did not make."""
        found: dict[str, str] = {}
        emails = sorted(people)
        for start in range(0, len(emails), 100):
            part = emails[start : start + 100]
            request = PublicObjectSearchRequest(
                filter_groups=[
                    {"filters": [{"propertyName": EMAIL, "operator": "IN", "values": part}]}
                ],
                properties=[EMAIL, "hubspot_owner_id", self.id_property],
                limit=100,
            )
            answer = self.api.json(
                "contacts_search",
                self.api.crm.contacts.search_api.do_search,
                request,
                attempts=READ_ATTEMPTS,
            )
            for contact in answer.get("results") or []:
                props = contact.get("properties") or {}
                email = str(props.get(EMAIL) or "").lower()  # as sales typed it
                ours = props.get(self.id_property) == people.get(email)
                if email in people and props.get("hubspot_owner_id") and not ours:
                    found[email] = str(props["hubspot_owner_id"])
        return found
