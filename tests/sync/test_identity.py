"""Identity: one lead per person, by source id then email, across sources and runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsync.errors import ConfigError
from tests.conftest import Project, Sandbox

CONFIG = """
[sources.{name}]
type = "csv"
path = "{file}"
{ext}

[sources.{name}.fields]
email = {{ from = "Email", required = true }}
first_name = "First"
last_name = "Last"
company = "Company"
title = "Title"
source_updated_at = {{ from = "At", transforms = ["parse_date"] }}
"""

CRM = """
[crm]
type = "salesforce"
sandbox_url = "${SANDBOX_URL}"

[crm.auth]
username = "${SF_USERNAME}"
password = "${SF_PASSWORD}"
security_token = "${SF_SECURITY_TOKEN}"

[crm.fields]
Email = "email"
FirstName = "first_name"
LastName = { from = "last_name", transforms = [{ default = "[not provided]" }] }
Company = { from = "company", transforms = [{ default = "[not provided]" }] }
Title = "title"
"""


def project(tmp_path: Path, sources: dict[str, tuple[str, str | None]]) -> Project:
    text = (
        "".join(
            CONFIG.format(
                name=name, file=f"{name}.csv", ext=f'external_id = "{ext}"' if ext else ""
            )
            for name, (_, ext) in sources.items()
        )
        + CRM
    )
    for name, (rows, _) in sources.items():
        (tmp_path / f"{name}.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return Project(tmp_path, tmp_path / "config.toml")


HEADER = "Id,Email,First,Last,Company,Title,At\n"


def test_a_source_without_ids_is_matched_by_email_across_runs(tmp_path: Path, sandbox: Sandbox):
    """Rows known only by email are one lead each; a changed row updates, the rest is unchanged."""
    rows = (
        HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,2026-01-01T00:00:00Z\n"
        "2,bo@x.example,Bo,Ek,Initech,,2026-01-01T00:00:00Z\n"
    )
    p = project(tmp_path, {"forms": (rows, None)})
    first = p.sync()
    assert (first.created, first.quarantined) == (2, 0)

    (tmp_path / "forms.csv").write_text(
        rows.replace("Initech,,", "Initech,Head of Ops,"), encoding="utf-8"
    )
    second = p.sync()

    assert (second.read, second.unchanged, second.updated, second.created) == (2, 1, 1, 0)
    titles = {r["Email"]: r.get("Title") for r in sandbox.records()}
    assert titles == {"ann@x.example": "CTO", "bo@x.example": "Head of Ops"}


def test_two_sources_merge_into_one_lead_newer_values_win(tmp_path: Path, sandbox: Sandbox):
    """The same email in two sources is one Lead; newer non-empty values fill and replace."""
    webinar = HEADER + "W1,Ann@X.example,,Lee,,VP Marketing,2026-03-01T00:00:00Z\n"
    forms = HEADER + "F1,ann@x.example,Ann,Lee,Acme,Marketing Manager,2026-01-01T00:00:00Z\n"
    p = project(tmp_path, {"forms": (forms, "Id"), "webinar": (webinar, "Id")})

    summary = p.sync()

    assert summary.created == 1
    (lead,) = sandbox.records()
    # Company and FirstName came only from the older form; Title from the newer webinar.
    assert (lead["FirstName"], lead["Company"], lead["Title"]) == ("Ann", "Acme", "VP Marketing")


def test_the_same_person_twice_in_one_page_is_one_lead(tmp_path: Path, sandbox: Sandbox):
    """Two form fills by one person in the same file make one Lead, not two."""
    rows = (
        HEADER + "1,ann@x.example,Ann,Lee,Acme,,2026-01-01T00:00:00Z\n"
        "2,ANN@x.example,,,,CTO,2026-02-01T00:00:00Z\n"
    )
    p = project(tmp_path, {"forms": (rows, "Id")})
    assert p.sync().created == 1
    (lead,) = sandbox.records()
    assert (lead["FirstName"], lead["Title"]) == ("Ann", "CTO")


def test_a_value_that_changes_back_and_forth_is_written_every_time(
    tmp_path: Path, sandbox: Sandbox
):
    """CTO -> VP -> CTO -> VP: each change is planned and written, none collides with an old op."""
    p = project(tmp_path, {"forms": (HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,\n", "Id")})
    p.sync()
    for title in ("VP", "CTO", "VP"):
        (tmp_path / "forms.csv").write_text(
            HEADER + f"1,ann@x.example,Ann,Lee,Acme,{title},\n", encoding="utf-8"
        )
        summary = p.sync()
        assert (summary.status, summary.updated) == ("ok", 1), summary.error
        (lead,) = sandbox.records()
        assert lead["Title"] == title


def test_one_source_at_a_time(tmp_path: Path, sandbox: Sandbox):
    """`--source NAME` reads that source only; the other waits for its own run."""
    forms = HEADER + "F1,ann@x.example,Ann,Lee,Acme,CTO,\n"
    webinar = HEADER + "W1,bo@x.example,Bo,Ek,Initech,VP,\n"
    p = project(tmp_path, {"forms": (forms, "Id"), "webinar": (webinar, "Id")})

    only_forms = p.sync(only_source="forms")
    assert (only_forms.read, only_forms.created) == (1, 1)
    assert [r["Email"] for r in sandbox.records()] == ["ann@x.example"]

    rest = p.sync()
    assert (rest.read, rest.created) == (1, 1)

    with pytest.raises(ConfigError, match=r"--source nope: no such source \(configured: forms, "):
        p.sync(only_source="nope")


def test_directions_decide_who_owns_each_crm_field(tmp_path: Path, sandbox: Sandbox):
    """crm-owned fields are written only on create; fill_if_empty only while empty."""
    p = project(tmp_path, {"forms": (HEADER + "1,ann@x.example,Ann,Lee,Acme,CTO,\n", "Id")})
    text = p.config_path.read_text()
    text = text.replace('Title = "title"', 'Title = { from = "title", direction = "crm" }')
    text = text.replace(
        'Company = { from = "company", transforms = [{ default = "[not provided]" }] }',
        'Company = { from = "company", direction = "fill_if_empty" }\nDescription = "company"',
    )
    p.config_path.write_text(text)
    p.sync()

    (tmp_path / "forms.csv").write_text(HEADER + "1,ann@x.example,Ann,Lee,Globex,VP,\n")
    summary = p.sync()

    (lead,) = sandbox.records()
    assert lead["Title"] == "CTO"  # sales owns it now: leadsync wrote it once, on create
    assert lead["Company"] == "Acme"  # it was not empty, so it is not overwritten
    assert lead["Description"] == "Globex"  # leadsync-owned: every change is written
    assert summary.updated == 1
