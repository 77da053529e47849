"""The planner and the merge: pure functions, tested as tables."""

from __future__ import annotations

import pytest

from leadsync.sync.plan import op_key, upsert_payload
from leadsync.sync.resolve import field_times, merge

DIRECTIONS = {"Email": "leadsync", "Phone": "fill_if_empty", "LeadSource": "crm"}


def plan(desired, last):
    return upsert_payload(
        external_id_field="Ext__c",
        lead_key="k1",
        desired=desired,
        last=last,
        direction=lambda f: DIRECTIONS.get(f, "leadsync"),
    )


@pytest.mark.parametrize(
    ("desired", "last", "expected"),
    [
        # creating: everything with a value, whatever its direction
        (
            {"Email": "a@x", "Phone": "+1", "LeadSource": "Web", "Title": None},
            None,
            {"Email": "a@x", "Phone": "+1", "LeadSource": "Web", "Ext__c": "k1"},
        ),
        # nothing changed: nothing to write
        ({"Email": "a@x", "Phone": "+1"}, {"Email": "a@x", "Phone": "+1"}, None),
        # a leadsync-owned change is written; crm-owned never after creation
        (
            {"Email": "b@x", "LeadSource": "Ads"},
            {"Email": "a@x", "LeadSource": "Web"},
            {"Email": "b@x", "Ext__c": "k1"},
        ),
        # fill_if_empty: written while empty, then never overwritten
        ({"Phone": "+2"}, {"Phone": None}, {"Phone": "+2", "Ext__c": "k1"}),
        ({"Phone": "+2"}, {"Phone": "+1"}, None),
        # an empty desired value never clears the CRM field
        ({"Email": None}, {"Email": "a@x"}, None),
    ],
)
def test_payload_is_desired_minus_last_written(desired, last, expected):
    """Only the difference, by direction, reaches the outbox."""
    assert plan(desired, last) == expected


def test_op_key_is_derived_from_meaning():
    """Same lead, values and base: same key; other values, or a newer base: another key."""
    a = op_key("crm", 7, {"Email": "a@x", "Ext__c": "k1"}, "new")
    assert a == op_key("crm", 7, {"Ext__c": "k1", "Email": "a@x"}, "new")
    assert a != op_key("crm", 7, {"Email": "b@x", "Ext__c": "k1"}, "new")
    assert a != op_key("crm", 7, {"Email": "a@x", "Ext__c": "k1"}, "2026-11-23T08:00:00+00:00")
    assert a != op_key("crm", 8, {"Email": "a@x", "Ext__c": "k1"}, "new")
    # Zero-padded lead ids: keys sort as the leads were made (the key index appends).
    assert a.startswith("upsert:crm:000000000007:new:")
    assert a < op_key("crm", 10, {"Email": "a@x", "Ext__c": "k1"}, "new")


def test_newer_non_empty_values_win():
    """Progressive profiling: new values fill and replace; empty and older values do not."""
    profile, times = {"email": "a@x", "title": "CTO"}, {"email": "2026-01", "title": "2026-01"}
    merged, new_times, changed = merge(
        profile, times, {"title": None, "phone": "+1", "email": "b@x"}, "2026-02"
    )
    assert changed
    assert merged == {"email": "b@x", "title": "CTO", "phone": "+1"}
    assert field_times(merged, new_times)["phone"] == "2026-02"
    older, _, changed = merge(merged, new_times, {"email": "old@x"}, "2025-12")
    assert older["email"] == "b@x" and not changed


def test_field_times_are_stored_once_for_the_fields_that_share_them():
    """A lead's fields set by one record keep one time; a field set later is named."""
    first, times, _ = merge({}, {}, {"email": "a@x", "title": "CTO", "city": "Lyon"}, "2026-01")
    assert times == {"*": "2026-01"}
    _, times, _ = merge(first, times, {"city": "Paris"}, "2026-02")
    assert times == {"*": "2026-01", "city": "2026-02"}
    # The compact form decides as the field-by-field one: the older title loses, the
    # older phone (a field no record set) fills, the newer title wins.
    merged, _, changed = merge(first | {"city": "Paris"}, times, {"title": "CEO"}, "2025-12")
    assert not changed and merged["title"] == "CTO"
    merged, times, changed = merge(merged, times, {"phone": "+1"}, "2025-12")
    assert changed and merged["phone"] == "+1"
    assert times == {"*": "2026-01", "city": "2026-02", "phone": "2025-12"}
    merged, _, changed = merge(merged, times, {"title": "CEO"}, "2026-03")
    assert changed and merged["title"] == "CEO"


def test_a_field_no_record_timed_stays_open_to_any_record():
    """A field `reconcile --adopt` took from the CRM has no time: any record's value fills
    it, before and after the lead's times are stored compact."""
    adopted = {"email": "a@x", "company": "Acme", "title": "CTO"}
    merged, times, _ = merge(adopted, {"title": "2026-05"}, {"city": "Lyon"}, "2026-05")
    assert field_times(merged, times)["company"] == ""
    merged, _, changed = merge(merged, times, {"company": "Acme Corp"}, "2020-01")
    assert changed and merged["company"] == "Acme Corp"
    # A field written in the old form (one time a field) reads the same.
    _, _, changed = merge({"title": "CTO"}, {"title": "2026-01"}, {"title": "CEO"}, "2025-01")
    assert not changed
