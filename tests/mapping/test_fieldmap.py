"""Field maps: compiled once with errors naming keys; applied with errors naming fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsync.errors import ConfigError, MappingError
from leadsync.mapping.fieldmap import compile_crm_map, compile_source_map

CFG = Path("config.toml")


def test_source_record_becomes_a_typed_profile():
    """Columns map onto lead fields with transforms, and values take the field's type."""
    smap = compile_source_map(
        "forms",
        {
            "email": {"from": "Email", "transforms": ["trim"]},
            "first_name": {"from": ["First", "Middle"], "transforms": [{"concat": " "}, "title"]},
            "employees": "Size",
            "email_opt_out": {"from": "Opt Out", "transforms": ["boolean"]},
            "source_updated_at": {"from": "At", "transforms": ["parse_date"]},
            "visits": "Visits",
        },
        {"visits": "int"},
        CFG,
    )
    profile = smap.apply(
        {
            "Email": " Ann@X.example ",
            "First": "ann",
            "Middle": "may",
            "Size": "250",
            "Opt Out": "Yes",
            "At": "1772359200000",
            "Visits": "3.0",
        }
    )
    assert profile == {
        "email": "ann@x.example",
        "first_name": "Ann May",
        "employees": 250,
        "email_opt_out": True,
        "source_updated_at": "2026-03-01T10:00:00Z",
        "visits": 3,
    }


def test_every_bad_field_of_a_record_is_named():
    """A record with two bad fields is refused once, naming both fields and their reasons."""
    smap = compile_source_map(
        "forms",
        {
            "email": {"from": "Email", "required": True},
            "employees": {"from": "Size", "invalid": "quarantine"},
            "company": {"from": "Co", "required": True},
        },
        {},
        CFG,
    )
    with pytest.raises(MappingError) as err:
        smap.apply({"Email": "ann at x", "Size": "many", "Co": None})
    assert err.value.field == "email (from 'Email')"
    assert err.value.reason == (
        "email (from 'Email'): not a valid email address: 'ann at x'; "
        "employees (from 'Size'): expected a whole number, got 'many'; "
        "company (from 'Co'): required value is empty"
    )


def test_date_only_values_stay_dates():
    """A date-only value never becomes midnight in some zone."""
    smap = compile_source_map(
        "f",
        {
            "birthday": {"from": "B", "transforms": ["parse_date"]},
            "source_created_at": {
                "from": "B",
                "transforms": ["parse_date"],
                "invalid": "quarantine",
            },
        },
        {"birthday": "date"},
        CFG,
    )
    with pytest.raises(MappingError, match="expected a date and time, got the date 2026-03-01"):
        smap.apply({"B": "2026-03-01"})
    assert compile_source_map(
        "f", {"birthday": {"from": "B", "transforms": ["parse_date"]}}, {"birthday": "date"}, CFG
    ).apply({"B": "2026-03-01"}) == {"birthday": "2026-03-01"}


def test_map_errors_name_file_key_and_allowed_values():
    """Unknown lead fields and transforms are reported together, each with its key path."""
    with pytest.raises(ConfigError) as err:
        compile_source_map(
            "forms", {"emial": "Email", "title": {"from": "T", "transforms": ["trm"]}}, {}, CFG
        )
    assert err.value.problems[0].startswith(
        "config.toml: sources.forms.fields.emial: 'emial' is not a lead field (standard: email,"
    )
    assert err.value.problems[1].startswith(
        "config.toml: sources.forms.fields.title.transforms[0]: unknown transform 'trm'"
    )


def test_crm_map_reads_lead_fields_with_directions():
    """A CRM map reads canonical fields, applies defaults and keeps each field's direction."""
    crm = compile_crm_map(
        {
            "LastName": {"from": "last_name", "transforms": [{"default": "[not provided]"}]},
            "Phone": {"from": "phone", "direction": "fill_if_empty"},
            "LeadSource": {"from": "lead_source", "direction": "crm"},
        },
        {},
        CFG,
    )
    assert crm.desired({"phone": "+14155550199"}) == {
        "LastName": "[not provided]",
        "Phone": "+14155550199",
        "LeadSource": None,
    }
    assert [crm.direction(f) for f in ("LastName", "Phone", "LeadSource")] == [
        "leadsync",
        "fill_if_empty",
        "crm",
    ]
    with pytest.raises(ConfigError, match=r"crm\.fields\.Title\.from: 'job' is not a lead field"):
        compile_crm_map({"Title": "job"}, {}, CFG)


def test_an_unreadable_optional_value_is_left_empty_and_said():
    """A bad optional phone or number leaves that field empty with a warning; the record
    goes on. A yes/no (consent) field never does: consent is not guessed."""
    smap = compile_source_map(
        "forms",
        {
            "email": {"from": "Email", "required": True},
            "phone": {"from": "Phone", "transforms": [{"phone": "US"}]},
            "employees": "Size",
            "email_opt_out": {"from": "Opt", "transforms": ["boolean"]},
        },
        {},
        CFG,
    )
    warnings: list[tuple[str, str]] = []
    profile = smap.apply({"Email": "a@x.example", "Phone": "555-1234", "Size": "many"}, warnings)
    assert profile == {"email": "a@x.example"}
    assert warnings == [
        ("phone (from 'Phone')", "'555-1234' is not a valid phone number (region US): left empty"),
        ("employees (from 'Size')", "expected a whole number, got 'many': left empty"),
    ]
    with pytest.raises(MappingError, match="email_opt_out"):
        smap.apply({"Email": "a@x.example", "Opt": "Maybe"}, warnings)
