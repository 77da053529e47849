"""The HubSpot destination through the real hubspot-api-client, against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsync.connectors.base import FieldGuard
from leadsync.connectors.calls import CallCounter
from leadsync.connectors.hubspot import HubSpotDestination, HubSpotSource
from leadsync.errors import AuthenticationError, ConnectorError, RateLimited, RetriableError
from leadsync.testing import DestinationConformance, SourceConformance
from tests.conftest import HubSpotSandbox, hubspot_options


def destination(hubspot: HubSpotSandbox, tmp_path: Path, **extra) -> HubSpotDestination:
    return HubSpotDestination.from_options(  # type: ignore[return-value]
        "crm", hubspot_options(hubspot.url, **extra), key="crm", path=tmp_path / "c.toml"
    )


def contact(i: int, **props) -> dict:
    return {"leadsync_id": f"lead-{i}", "email": f"p{i}@x.example", "firstname": f"P{i}", **props}


class TestHubSpotDestination(DestinationConformance):
    @pytest.fixture
    def destination(self, hubspot: HubSpotSandbox, tmp_path: Path) -> HubSpotDestination:
        return destination(hubspot, tmp_path)

    @pytest.fixture
    def new_records(self) -> list[dict]:
        return [contact(i) for i in range(3)]

    @pytest.fixture
    def bad_record(self) -> dict:
        return {"leadsync_id": "conformance-bad", "email": "not an email"}


class TestHubSpotSource(SourceConformance):
    @pytest.fixture
    def source(self, hubspot: HubSpotSandbox, tmp_path: Path) -> HubSpotSource:
        for i in range(7):
            hubspot.store.put(
                "contacts", {"email": f"s{i}@x.example"}, modified_ms=1_700_000_000_000 + i
            )
        return HubSpotSource.from_options(  # type: ignore[return-value]
            "hs", hubspot_options(hubspot.url), key="sources.hs", path=tmp_path / "c.toml"
        )


def test_results_are_matched_by_key_not_position(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """HubSpot answers a batch in any order (the emulator reverses it): each result is
    matched to its input by the id property."""
    dest = destination(hubspot, tmp_path)
    results = dest.upsert([contact(i) for i in range(5)])
    held = {r["properties"]["leadsync_id"]: r["id"] for r in hubspot.records()}
    assert [r.crm_id for r in results] == [held[f"lead-{i}"] for i in range(5)]
    assert all(r.created for r in results)


def test_values_hubspot_would_refuse_fail_before_the_request(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """An option the enumeration lacks, a read-only or unknown property: refused here, with
    the reason, and the rest of the batch goes in one request."""
    dest = destination(hubspot, tmp_path)
    dest.describe()
    sent_before = sum(hubspot.stats()["requests"].values())
    results = dest.upsert(
        [
            contact(1, hs_lead_status="HOT"),
            contact(2, createdate="2024-01-01"),
            contact(3, favourite_colour="blue"),
            contact(4, leadsync_score="high"),
            contact(5),
        ]
    )
    codes = [r.code for r in results]
    assert codes == [
        "INVALID_OPTION",
        "READ_ONLY_VALUE",
        "PROPERTY_DOESNT_EXIST",
        "INVALID_INTEGER",
        None,
    ]
    assert "'HOT' is not one of hs_lead_status's options: NEW, OPEN" in str(results[0].message)
    assert results[0].fields == ("hs_lead_status",)
    assert sum(hubspot.stats()["requests"].values()) - sent_before == 1
    assert [r["properties"]["leadsync_id"] for r in hubspot.records()] == ["lead-5"]


def test_a_refused_batch_is_split_until_the_bad_input_stands_alone(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """HubSpot refuses a whole batch for one bad email: halves are sent until it is alone;
    its 99 batch-mates are written and it fails with HubSpot's code and message."""
    dest = destination(hubspot, tmp_path)
    batch = [contact(i) for i in range(100)]
    batch[37]["email"] = "not an email"
    results = dest.upsert(batch)
    failed = [i for i, r in enumerate(results) if not r.ok]
    assert failed == [37]
    assert results[37].code == "INVALID_EMAIL" and results[37].fields == ("email",)
    assert "not a valid email address" in str(results[37].message)
    assert not results[37].retriable
    assert len(hubspot.records()) == 99
    # 1 refused batch + halving down to one input: 2 requests per level, 7 levels at most.
    assert hubspot.stats()["requests"]["batch_upsert"] <= 1 + 2 * 7


def test_a_contact_hubspot_holds_under_the_email_is_adopted(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """A form made the contact before leadsync: upserting by leadsync_id answers 409, and the
    lead becomes that contact (one contact, now with leadsync's id), not a second one."""
    existing = hubspot.store.put("contacts", {"email": "p1@x.example", "firstname": "Form"})
    results = destination(hubspot, tmp_path).upsert([contact(1), contact(2)])
    assert all(r.ok for r in results)
    assert results[0].crm_id == existing and not results[0].created
    contacts = {r["properties"]["email"]: r["properties"] for r in hubspot.records()}
    assert len(contacts) == 2
    assert contacts["p1@x.example"]["leadsync_id"] == "lead-1"
    assert contacts["p1@x.example"]["firstname"] == "P1"


def test_adoption_can_be_switched_off(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    hubspot.store.put("contacts", {"email": "p1@x.example"})
    (result,) = destination(hubspot, tmp_path, adopt_by_email=False).upsert([contact(1)])
    assert not result.ok and result.code == "CONFLICT"
    assert "Contact already exists. Existing ID" in str(result.message)


def test_a_lifecycle_stage_moving_backwards_is_cleared_first(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    """HubSpot refuses to move lifecyclestage back (a recycled MQL back to lead) unless it is
    cleared: leadsync clears it, then sets it."""
    dest = destination(hubspot, tmp_path)
    assert dest.upsert([contact(1, lifecyclestage="marketingqualifiedlead")])[0].ok
    (result,) = dest.upsert([contact(1, lifecyclestage="lead")])
    assert result.ok, result
    (held,) = hubspot.records()
    assert held["properties"]["lifecyclestage"] == "lead"


def test_owners_by_email_and_archived_owners(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """Routing may name owners by email; archived owners are not active; an unknown owner
    fails the record with its reason."""
    dest = destination(hubspot, tmp_path)
    active = dest.active_owners()
    assert "ann.rep@leadsync.example" in active and "71000002" in active
    assert "dee.gone@leadsync.example" not in active and "71000005" not in active
    results = dest.upsert(
        [
            contact(1, hubspot_owner_id="Ann.Rep@leadsync.example"),
            contact(2, hubspot_owner_id="nobody@leadsync.example"),
        ]
    )
    assert results[0].ok and results[1].code == "UNKNOWN_OWNER"
    (held,) = hubspot.records()
    assert held["properties"]["hubspot_owner_id"] == "71000002"


def test_existing_owners_of_contacts_leadsync_did_not_make(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    hubspot.store.put("contacts", {"email": "a@x.example", "hubspot_owner_id": "71000003"})
    hubspot.store.put(
        "contacts",
        {"email": "b@x.example", "hubspot_owner_id": "71000002", "leadsync_id": "lead-b"},
    )
    found = destination(hubspot, tmp_path).existing_owners(
        {"a@x.example": "lead-a", "b@x.example": "lead-b", "c@x.example": "lead-c"}
    )
    assert found == {"a@x.example": "71000003"}


def _task(i: int) -> dict:
    return {
        "key": f"task:lead-{i}:mql:1",
        "subject": f"Follow up {i}",
        "description": "Why now: score 80",
        "due": "2026-11-24",
        "due_at": "2026-11-24T09:00:00Z",
        "priority": "high" if i % 2 else "normal",
        "owner": "bo.rep@leadsync.example",
    }


def test_tasks_are_created_once_with_their_contact(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """Each task is created with its association in the same request; sent again (a retry
    after a lost answer), HubSpot's unique key refuses it and the existing task is found,
    so there is still one task per key."""
    dest = destination(hubspot, tmp_path)
    ids = [r.crm_id for r in dest.upsert([contact(i) for i in range(3)])]
    first = dest.upsert_tasks([_task(i) for i in range(3)], ids)
    assert all(r.ok and r.created for r in first)
    # Two were made already; one (a new key) was not.
    again = dest.upsert_tasks([_task(0), _task(1), _task(9)], [ids[0], ids[1], ids[2]])
    assert all(r.ok for r in again)
    assert [r.crm_id for r in again[:2]] == [r.crm_id for r in first[:2]]
    tasks = hubspot.records("tasks")
    assert len(tasks) == 4
    by_key = {t["properties"]["leadsync_key"]: t for t in tasks}
    assert by_key["task:lead-0:mql:1"]["associations"] == {"contacts": [ids[0]]}
    assert by_key["task:lead-1:mql:1"]["properties"]["hs_task_priority"] == "HIGH"
    assert by_key["task:lead-1:mql:1"]["properties"]["hubspot_owner_id"] == "71000003"
    assert by_key["task:lead-1:mql:1"]["properties"]["hs_timestamp"] == "2026-11-24T09:00:00.000Z"


def test_nurture_is_a_static_list(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    dest = destination(hubspot, tmp_path)
    ids = [r.crm_id for r in dest.upsert([contact(i) for i in range(3)])]
    join = [{"member": f"m{i}", "action": "join", "campaign": "1001"} for i in range(3)]
    assert all(r.ok for r in dest.set_nurture(join, ids))
    leave = [{"member": "m0", "action": "leave", "campaign": "1001"}]
    joined_again = {"member": "m1", "action": "join", "campaign": "1001"}
    results = dest.set_nurture([*leave, joined_again], [ids[0], ids[1]])
    assert all(r.ok for r in results)
    assert hubspot.store.lists["1001"] == [ids[1], ids[2]]
    (gone,) = dest.set_nurture([join[0]], ["999999"])
    assert not gone.ok and gone.code == "OBJECT_NOT_FOUND"


def test_check_names_missing_unique_properties(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    assert destination(hubspot, tmp_path).check() == []
    problems = destination(hubspot, tmp_path, id_property="firstname").check()
    assert problems == [
        "crm.id_property: 'firstname' is not a unique-value property on HubSpot contacts: "
        "create it (single-line text, 'require unique values') or name another"
    ]


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("503:requests=1:endpoint=batch_upsert", RetriableError, "SERVICE_UNAVAILABLE"),
        ("500:requests=1:endpoint=batch_upsert", RetriableError, "INTERNAL_ERROR"),
        ("429:requests=1:endpoint=batch_upsert", RateLimited, "TEN_SECONDLY_ROLLING"),
        (
            "session_expired:requests=1:endpoint=batch_upsert",
            AuthenticationError,
            "EXPIRED_AUTHENTICATION",
        ),
    ],
)
def test_errors_are_classified_by_the_table(
    hubspot: HubSpotSandbox, tmp_path: Path, fault: str, error: type, code: str
) -> None:
    hubspot.faults(fault)
    with pytest.raises(error) as raised:
        destination(hubspot, tmp_path).upsert([contact(1)])
    assert raised.value.details["code"] == code
    assert type(raised.value) is error
    if error is RateLimited:
        # Without Retry-After, the rolling window's length: the emulator says 10,000 ms.
        assert raised.value.retry_after == 10.0


def test_a_bad_token_and_the_daily_limit_stop_the_run(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    options = hubspot_options(hubspot.url)
    options["auth"] = {"access_token": "pat-na1-wrong"}
    dest = HubSpotDestination.from_options("crm", options, key="crm", path=tmp_path / "c.toml")
    with pytest.raises(AuthenticationError, match="HubSpot refused the access token"):
        dest.upsert([contact(1)])
    hubspot.app.limits.daily = 1
    good = destination(hubspot, tmp_path)
    with pytest.raises(ConnectorError, match="daily API limit is used up") as raised:
        good.upsert([contact(1)])
        good.upsert([contact(2)])
    assert raised.value.disposition == "fatal"


def test_a_timeout_is_retriable(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    hubspot.faults("timeout:requests=1:delay=1.5:endpoint=batch_upsert")
    with pytest.raises(RetriableError) as raised:
        destination(hubspot, tmp_path, timeout_seconds=0.5).upsert([contact(1)])
    assert raised.value.details["code"] == "TIMEOUT"


def test_what_sales_did_is_read_back_incrementally(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """Lead status, owner and stage changes on contacts, and completed tasks, are read back
    through the same moving window as the source; a second read from the cursor finds
    only what changed after it."""
    dest = destination(hubspot, tmp_path)
    ids = [r.crm_id for r in dest.upsert([contact(i) for i in range(3)])]
    (task,) = dest.upsert_tasks([_task(0)], [ids[0]])
    first = [c for page, _ in dest.read_changes(None) for c in page]
    assert {(c.kind, c.key) for c in first} == {
        ("lead", "lead-0"),
        ("lead", "lead-1"),
        ("lead", "lead-2"),
        ("task", "task:lead-0:mql:1"),
    }
    *_, (_, cursor) = dest.read_changes(None)
    later = 4_102_444_800_000  # 2100-01-01: after anything the emulator stamped
    hubspot.store.touch("contacts", ids[1], {"hs_lead_status": "CONNECTED"}, later)
    hubspot.store.touch("tasks", str(task.crm_id), {"hs_task_status": "COMPLETED"}, later)
    changes = [c for page, _ in dest.read_changes(cursor) for c in page]
    assert [
        (c.kind, c.key, c.fields["hs_lead_status" if c.kind == "lead" else "hs_task_status"])
        for c in changes
    ] == [
        ("lead", "lead-1", "CONNECTED"),
        ("task", "task:lead-0:mql:1", "COMPLETED"),
    ]
    assert changes[0].at is not None and changes[0].at.year == 2100


def test_email_cannot_be_the_id_property(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    from leadsync.errors import ConfigError

    with pytest.raises(ConfigError, match=r"crm\.id_property: .*cannot be email"):
        destination(hubspot, tmp_path, id_property="email")


def test_an_adopted_contact_keeps_what_sales_owns(hubspot: HubSpotSandbox, tmp_path: Path) -> None:
    """firstname is sales' (create-only) and jobtitle fill-if-empty: adopting the contact a
    form made writes neither over the values it holds; an empty jobtitle is filled."""
    hubspot.store.put("contacts", {"email": "p1@x.example", "firstname": "Form", "jobtitle": "CEO"})
    hubspot.store.put("contacts", {"email": "p2@x.example", "firstname": "Form2"})
    dest = destination(hubspot, tmp_path)
    dest.guard = FieldGuard(
        create_only=frozenset({"firstname"}), fill_if_empty=frozenset({"jobtitle"})
    )
    results = dest.upsert([contact(1, jobtitle="VP"), contact(2, jobtitle="VP")])
    assert all(r.ok and not r.created for r in results)
    props = {r["properties"]["email"]: r["properties"] for r in hubspot.records()}
    assert (props["p1@x.example"]["firstname"], props["p1@x.example"]["jobtitle"]) == (
        "Form",
        "CEO",
    )
    assert (props["p2@x.example"]["firstname"], props["p2@x.example"]["jobtitle"]) == (
        "Form2",
        "VP",
    )
    assert props["p1@x.example"]["leadsync_id"] == "lead-1"


def test_a_source_and_destination_on_one_portal_pace_at_the_lower_limit(tmp_path: Path) -> None:
    """Configured apart, a source (50 per 10 s) and a destination (100) on one portal
    share one pacing window at 50 while both are open; once the source is closed, the
    destination paces at its own limit."""
    from leadsync.connectors.hubspot.client import HubSpotApi
    from leadsync.connectors.hubspot.config import HubSpotConnection

    def api(limit: int) -> HubSpotApi:
        config = HubSpotConnection.model_validate(
            {
                "auth": {"access_token": "one-portal"},
                "rate_limit_per_10s": limit,
                "rate_limit_share": 1.0,
                "sandbox_url": "http://127.0.0.1:9",
            }
        )
        return HubSpotApi(config, CallCounter())

    destination, source = api(100), api(50)
    assert destination.window is source.window
    assert destination.window.limit == 50
    source.close()
    assert destination.window.limit == 100
    other = api(20)
    del other  # a client nobody closed stops counting once it is gone
    import gc

    gc.collect()
    assert destination.window.limit == 100
