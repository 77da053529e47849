"""The HubSpot marketing source: incremental reads that miss nothing and repeat nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from leadsync.connectors.hubspot import HubSpotSource
from leadsync.sandbox.hubspot.values import iso_ms
from tests.conftest import HubSpotSandbox, hubspot_options

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, in epoch milliseconds


def source(hubspot: HubSpotSandbox, tmp_path: Path, **extra) -> HubSpotSource:
    src = HubSpotSource.from_options(
        "hs", hubspot_options(hubspot.url, **extra), key="sources.hs", path=tmp_path / "c.toml"
    )
    src.want({"email", "firstname", "jobtitle", "date_of_birth"})
    return src  # type: ignore[return-value]


def test_25000_contacts_are_read_in_moving_windows(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """25,000 contacts, well past the search API's 10,000 results a query: each page is a
    fresh query from the last time seen, so every contact is read once, in about
    25,000 / 199 requests, and a second read finds nothing."""
    for i in range(25_000):
        hubspot.store.put("contacts", {"email": f"c{i}@x.example"}, modified_ms=T0 + i * 10)
    src = source(hubspot, tmp_path)
    pages = list(src.read(None, 1000))
    ids = Counter(r.external_id for p in pages for r in p.records)
    assert len(ids) == 25_000 and set(ids.values()) == {1}
    searches = src.calls.by_name["contacts_search"]
    assert searches <= 25_000 // 199 + 2
    again = list(src.read(pages[-1].cursor, 1000))
    assert [r for p in again for r in p.records] == []


def test_a_contact_modified_during_the_read_is_read_again_at_its_new_time(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """Paging by offset would skip a record when one already read moves to the end: the
    moving window does not. The modified contact is read twice (two versions), every other
    contact once."""
    ids = [
        hubspot.store.put("contacts", {"email": f"c{i}@x.example"}, modified_ms=T0 + i)
        for i in range(1000)
    ]
    src = source(hubspot, tmp_path)
    reader = src.read(None, 200)
    first = next(reader)
    hubspot.store.touch("contacts", ids[5], {"jobtitle": "CTO"}, modified_ms=T0 + 5000)
    rest = [r for p in reader for r in p.records]
    seen = Counter(r.external_id for r in [*first.records, *rest])
    assert len(seen) == 1000
    assert seen[ids[5]] == 2 and sum(seen.values()) == 1001
    assert [r.data.get("jobtitle") for r in rest if r.external_id == ids[5]] == ["CTO"]


def test_ties_on_the_cursor_and_late_commits_are_picked_up_once(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """After a read ends at time T: a contact committed later with exactly T, and one
    committed later with T - 2 s (inside the overlap) are both read by the next run, once;
    the contacts read before are not read again."""
    for i in range(10):
        hubspot.store.put("contacts", {"email": f"c{i}@x.example"}, modified_ms=T0 + i * 1000)
    src = source(hubspot, tmp_path)
    cursor = list(src.read(None, 1000))[-1].cursor
    assert cursor["since_ms"] == T0 + 9000
    tie = hubspot.store.put("contacts", {"email": "tie@x.example"}, modified_ms=T0 + 9000)
    late = hubspot.store.put("contacts", {"email": "late@x.example"}, modified_ms=T0 + 7000)
    pages = list(src.read(cursor, 1000))
    assert sorted(r.external_id for p in pages for r in p.records) == sorted([tie, late])
    assert [r for p in src.read(pages[-1].cursor, 1000) for r in p.records] == []


def test_a_whole_page_sharing_one_instant_is_paged_through(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    for i in range(450):
        hubspot.store.put("contacts", {"email": f"c{i}@x.example"}, modified_ms=T0)
    hubspot.store.put("contacts", {"email": "after@x.example"}, modified_ms=T0 + 1)
    pages = list(source(hubspot, tmp_path).read(None, 200))
    ids = Counter(r.external_id for p in pages for r in p.records)
    assert len(ids) == 451 and set(ids.values()) == {1}


def test_dates_parse_whichever_way_they_come(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """Datetimes as ISO or epoch milliseconds both become ISO 8601 UTC; a date stays a date."""
    hubspot.store.put(
        "contacts",
        {
            "email": "d@x.example",
            "recent_conversion_date": str(T0),  # epoch milliseconds
            "hs_email_last_open_date": "2024-03-01T10:15:00+01:00",  # ISO with an offset
            "date_of_birth": "1990-05-17",
        },
        modified_ms=T0,
    )
    ((record,),) = [p.records for p in source(hubspot, tmp_path).read(None, 100)]
    assert record.data["recent_conversion_date"] == "2023-11-14T22:13:20.000Z"
    assert record.data["hs_email_last_open_date"] == "2024-03-01T09:15:00.000Z"
    assert record.data["date_of_birth"] == "1990-05-17"
    assert record.data["lastmodifieddate"] == iso_ms(T0)


def test_activity_becomes_events_with_stable_keys(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    rid = hubspot.store.put(
        "contacts",
        {
            "email": "e@x.example",
            "recent_conversion_date": iso_ms(T0),
            "recent_conversion_event_name": "Demo request",
            "hs_email_last_click_date": iso_ms(T0 + 60_000),
        },
        modified_ms=T0 + 60_000,
    )
    src = source(hubspot, tmp_path)
    ((record,),) = [p.records for p in src.read(None, 100)]
    events = {e["type"]: e for e in record.events}
    assert set(events) == {"form_submit", "email_click"}
    assert events["form_submit"]["key"] == f"{rid}:form_submit:{T0}"
    assert events["form_submit"]["attributes"] == {"form": "Demo request"}
    assert events["email_click"]["at"].isoformat() == "2023-11-14T22:14:20+00:00"
    # Read again (a changed unrelated property): the same events, the same keys.
    hubspot.store.touch("contacts", rid, {"firstname": "Eve"}, modified_ms=T0 + 90_000)
    ((again,),) = [p.records for p in src.read(None, 100)]
    assert {e["key"] for e in again.events} == {e["key"] for e in record.events}


def test_only_the_mapped_properties_are_asked_for(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """Portals have hundreds of properties: the search asks for the mapped ones (and the
    activity ones), and check knows every property, for did-you-mean."""
    src = source(hubspot, tmp_path, activity_events=False)
    assert src.properties() == [
        "date_of_birth",
        "email",
        "firstname",
        "jobtitle",
        "lastmodifieddate",
    ]
    assert "hs_lead_status" in (src.columns() or [])
