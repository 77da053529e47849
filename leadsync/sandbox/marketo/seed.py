"""What happens in the emulated Marketo instance: the operations tests and the demo ask
of it (``POST /__sandbox/marketo/do``), and an instance seeded as a real one is, from
the demo's sample export: each person a lead with a history of visits, forms, emails
and interesting moments over the weeks before.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from leadsync.sandbox.marketo.schema import (
    CLICK_EMAIL,
    FILL_OUT_FORM,
    INTERESTING_MOMENT,
    OPEN_EMAIL,
    SEND_EMAIL,
    VISIT_WEBPAGE,
)
from leadsync.sandbox.marketo.store import Store

if TYPE_CHECKING:
    from leadsync.sandbox.marketo.app import MarketoEmulator

# The sample export's columns, as Marketo's REST names.
SAMPLE_FIELDS = {
    "Email": "email",
    "First Name": "firstName",
    "Last Name": "lastName",
    "Company": "company",
    "Job Title": "title",
    "Phone": "phone",
    "Country": "country",
    "Lead Source": "leadSource",
    "Employees": "numberOfEmployees",
}
FORMS = ((1001, "Contact Sales"), (1002, "Webinar Registration"), (1003, "Ebook Download"))
PAGES = ((2001, "/pricing"), (2002, "/product"), (2003, "/blog/lead-routing"))
MOMENTS = (
    ("Web", "Viewed the pricing page three times this week"),
    ("Milestone", "Asked for a demo"),
    ("Email", "Opened the ROI calculator email"),
)


def perform(emulator: MarketoEmulator, op: Mapping[str, Any]) -> dict[str, Any]:
    """One thing done in Marketo: ``create`` (fields) -> its id; ``change`` (lead, fields);
    ``act`` (lead, type, primary, attributes); ``merge`` (winner, losers); ``delete``
    (lead); ``expire_tokens``. ``at`` (ISO 8601) says when; now by default."""
    store = emulator.store
    at = _when(op.get("at"))
    kind = op["op"]
    if kind == "create":
        return {"id": store.create(op["fields"], at)}
    if kind == "change":
        store.change(int(op["lead"]), op["fields"], at)
    elif kind == "act":
        primary = (op.get("primary_id"), op.get("primary"))
        attributes = dict(op.get("attributes") or {}).items()
        return {"id": store.act(int(op["lead"]), int(op["type"]), at, primary, attributes)}
    elif kind == "merge":
        store.merge(int(op["winner"]), [int(i) for i in op["losers"]], at)
    elif kind == "delete":
        store.delete(int(op["lead"]), at)
    elif kind == "expire_tokens":
        emulator.expire_tokens()
    else:
        raise ValueError(f"unknown op {kind!r}")
    return {"done": kind}


def seed(store: Store, rows: Iterable[Mapping[str, str]], now: datetime, seed: int = 11) -> None:
    """Each row a lead created weeks before ``now``, with a history that a real instance
    would hold: emails sent and opened, pages visited, a form filled, for some an
    interesting moment. Activities go into the log in time order."""
    rng = random.Random(seed)
    planned: list[tuple[datetime, int, Any]] = []
    for i, row in enumerate(rows):
        fields = {
            SAMPLE_FIELDS[k]: _typed(SAMPLE_FIELDS[k], v)
            for k, v in row.items()
            if k in SAMPLE_FIELDS and v
        }
        born = now - timedelta(days=rng.randint(10, 60), minutes=rng.randint(0, 1440))
        planned.append((born, i, ("create", fields)))
        for _ in range(rng.randint(0, 4)):
            when = born + timedelta(hours=rng.randint(1, 24 * 9))
            planned.append((when, i, _activity(rng)))
    planned.sort(key=lambda p: (p[0], p[1]))
    ids: dict[int, int] = {}
    for when, i, (what, detail) in planned:
        when = min(when, now)
        if what == "create":
            ids[i] = store.create(detail, when)
        else:
            type_id, primary, attributes = detail
            store.act(ids[i], type_id, when, primary, attributes)


def _activity(rng: random.Random) -> tuple[str, Any]:
    pick = rng.random()
    detail: tuple[int, tuple[Any, Any], list[tuple[str, Any]]]
    if pick < 0.3:
        page_id, url = rng.choice(PAGES)
        detail = (
            VISIT_WEBPAGE,
            (page_id, url),
            [("Webpage URL", url), ("Client IP Address", "203.0.113.7")],
        )
    elif pick < 0.5:
        form_id, form = rng.choice(FORMS)
        detail = (FILL_OUT_FORM, (form_id, form), [("Webpage ID", 2002), ("Form Fields", "{}")])
    elif pick < 0.65:
        detail = (SEND_EMAIL, (3001, "Nurture 1"), [("Campaign Run ID", 1), ("Step ID", 1)])
    elif pick < 0.8:
        detail = (
            OPEN_EMAIL,
            (3001, "Nurture 1"),
            [("Device", "Desktop"), ("Is Mobile Device", False)],
        )
    elif pick < 0.92:
        detail = (CLICK_EMAIL, (3001, "Nurture 1"), [("Link", "https://example.com/roi")])
    else:
        kind, text = rng.choice(MOMENTS)
        detail = (
            INTERESTING_MOMENT,
            (None, None),
            [("Type", kind), ("Description", text), ("Source", "Smart Campaign")],
        )
    return "act", detail


def _typed(name: str, value: str) -> Any:
    if name == "numberOfEmployees":
        return int(value) if value.isdigit() else None
    return value


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)
