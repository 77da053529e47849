"""An org as leadsync finds it on its first day: not empty.

``seed_org`` fills the emulator's store the way a real org is filled: Leads from
web-to-lead and typed by hand (some under the same email twice, some in upper
case), Contacts made from converted deals, and some Leads an earlier leadsync
state db wrote (they carry a key this state db has never seen). The people are
drawn from the emails given (the export about to be synced) and from people the
export does not know, so that a sync meets both.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from leadsync.sandbox.salesforce.schema import DEMO_USERS, OBJECTS
from leadsync.sandbox.salesforce.store import Store, sf_id

SEED = 20261129


@dataclass
class SeededOrg:
    """What was put in: the emails by object, and the Leads that carry a leadsync key."""

    lead_emails: list[str] = field(default_factory=list)
    contact_emails: list[str] = field(default_factory=list)
    keyed: dict[str, str] = field(default_factory=dict)  # email -> the old state db's key


def seed_org(
    store: Store,
    emails: Sequence[str],
    *,
    leads: int,
    contacts: int,
    known_share: float = 0.5,
    keyed_share: float = 0.2,
    external_id_field: str = "LeadSync_Id__c",
    seed: int = SEED,
) -> SeededOrg:
    """Put ``leads`` Leads and ``contacts`` Contacts in the org. ``known_share`` of the
    people in ``emails`` are among them (as a Lead or a Contact, at random), the rest of
    the records are people the export does not know; ``keyed_share`` of the Leads carry a
    leadsync key."""
    rng = random.Random(seed)
    known = list(dict.fromkeys(e.lower() for e in emails if e))
    rng.shuffle(known)
    total = leads + contacts
    people = known[: min(int(len(known) * known_share), total)]
    people += [f"someone{i}@existing-customer.example" for i in range(total - len(people))]
    rng.shuffle(people)
    kinds = ["Contact"] * contacts + ["Lead"] * leads
    rng.shuffle(kinds)
    owners = [u["Id"] for u in DEMO_USERS if u.get("IsActive", True)]
    created = datetime(2024, 1, 1, tzinfo=UTC)
    seeded = SeededOrg()
    with store.lock:
        for i, (kind, email) in enumerate(zip(kinds, people, strict=True)):
            at = created + timedelta(hours=i)
            owner = rng.choice(owners)
            if kind == "Contact":
                seeded.contact_emails.append(email)
                _put(
                    store,
                    "Contact",
                    at,
                    {
                        "FirstName": "Existing",
                        "LastName": f"Contact {i}",
                        "Email": email,
                        "OwnerId": owner,
                    },
                )
                continue
            values = {
                "FirstName": "Web",
                "LastName": f"Lead {i}",
                "Company": "Web-to-lead",
                "Email": email.upper() if rng.random() < 0.1 else email,
                "Status": "Open - Not Contacted",
                "LeadSource": "Web",
                "OwnerId": owner,
            }
            if rng.random() < keyed_share:
                values[external_id_field] = seeded.keyed[email] = str(
                    uuid.UUID(int=rng.getrandbits(128))
                )
            elif rng.random() < 0.05:
                # The same person typed in twice, a day later.
                _put(
                    store, "Lead", at + timedelta(days=1), {**values, "LastName": f"Lead {i} again"}
                )
            seeded.lead_emails.append(email)
            _put(store, "Lead", at, values)
        store._indexes.clear()
    store.save()
    return seeded


def _put(store: Store, obj: str, at: datetime, values: dict) -> None:
    store.counter += 1
    rid = sf_id(OBJECTS[obj]["keyPrefix"], store.counter)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    record = store._defaults(obj) | values
    record.update(Id=rid, CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp)
    store.records[obj][rid] = record
