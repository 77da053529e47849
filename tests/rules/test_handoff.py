"""The hand-off as tables: the follow-up task's key, due time, priority and subject; when a
lead is history rather than news; nurture joins and leaves."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.mapping.lead import STANDARD_FIELDS
from leadsync.rules.conditions import parse
from leadsync.rules.decide import Decision
from leadsync.rules.handoff import (
    NurtureSpec,
    TaskSpec,
    follow_up,
    is_history,
    nurture_ops,
    subject,
)
from leadsync.rules.lifecycle import StageEntry
from leadsync.rules.scoring import Score

AT = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
MQL = StageEntry("mql", AT, "score 70 reached the MQL threshold (total >= 60)")


@pytest.mark.parametrize(
    ("spec", "score", "subject", "due", "due_at", "priority"),
    [
        (
            TaskSpec("Call $first_name"),
            70,
            "Call Ann",
            "2026-11-24",
            "2026-11-24T09:30:15Z",
            "normal",
        ),
        (
            TaskSpec("Call $first_name", due_in_hours=2),
            70,
            "Call Ann",
            "2026-11-23",
            "2026-11-23T11:30:15Z",
            "normal",
        ),
        (
            TaskSpec("Hot: $company", high_priority_score=80),
            85,
            "Hot: Acme",
            "2026-11-24",
            "2026-11-24T09:30:15Z",
            "high",
        ),
        (
            TaskSpec("Hot: $company", high_priority_score=80),
            79.9,
            "Hot: Acme",
            "2026-11-24",
            "2026-11-24T09:30:15Z",
            "normal",
        ),
        # a field the lead lacks is left empty, not shown as $name
        (
            TaskSpec("Call $first_name $nickname"),
            70,
            "Call Ann",
            "2026-11-24",
            "2026-11-24T09:30:15Z",
            "normal",
        ),
    ],
)
def test_follow_up_task(spec, score, subject, due, due_at, priority):
    lead = {"first_name": "Ann", "company": "Acme", "email": "ann@acme.example"}
    decision = Decision(score=Score(score, 0.0), entries=[MQL])
    task = follow_up(spec, lead, decision, [], MQL, "005ANN", "k1")
    assert (task["subject"], task["due"], task["due_at"], task["priority"]) == (
        subject,
        due,
        due_at,
        priority,
    )
    # one stage entry, one key: re-planning the same entry never makes a second task
    assert task["key"] == "task:k1:mql:2026-11-23T09:30:15+00:00"
    assert task["owner"] == "005ANN" and "score 70" in task["description"]


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("$last_name ($occupation, $city)", {"last_name": "Lee", "occupation": "Unemployed"},
         "Lee (Unemployed)"),
        ("$last_name ($occupation, $city)", {"last_name": "Lee"}, "Lee"),
        ("$last_name ($occupation, $city)", {"last_name": "Lee", "city": "Pune"}, "Lee (Pune)"),
        ("$first_name $last_name: $title", {"last_name": "Lee"}, "Lee"),
        ("$company - $title", {"title": "CTO"}, "CTO"),
        ("$company \u2013 $title", {"company": "Acme"}, "Acme"),
        ("$company / $city / $country", {"company": "Acme", "country": "DE"}, "Acme / DE"),
        ("Re-call $first_name [$company]", {"first_name": "Bo"}, "Re-call Bo"),
        ("Call: score $score", {"score": 78.7249}, "Call: score 79"),
        ("$visits visits", {"visits": 2.5}, "2.5 visits"),
        ("Call: score $score", {"score": 42.0}, "Call: score 42"),
        # every value there: the admin's own text is left as written
        ("Lead $n (x, )", {"n": "7"}, "Lead 7 (x, )"),
    ],
)  # fmt: skip
def test_a_subject_leaves_no_empty_slot(template, values, expected):
    """A missing value takes its separators and brackets with it; scores read as people
    write them (the X Education trial: 877 of 1,984 subjects read "(Unemployed, )")."""
    assert subject(template, values) == expected


@pytest.mark.parametrize(
    ("max_age_days", "events", "lead", "history"),
    [
        (None, [{"at": "2020-01-01T00:00:00Z"}], {}, False),  # no limit: always news
        (30, [{"at": "2026-11-01T00:00:00Z"}], {}, False),
        (30, [{"at": "2026-10-01T00:00:00Z"}], {}, True),
        # the newest activity counts, events or the source's own times
        (
            30,
            [{"at": "2026-10-01T00:00:00Z"}],
            {"source_updated_at": "2026-11-20T00:00:00Z"},
            False,
        ),
        (30, [], {"source_created_at": "2025-01-01T00:00:00Z"}, True),
        (30, [], {}, False),  # nothing says when: treated as new
        (30, [{"at": "2026-10-01T00:00:00"}], {}, True),  # a naive time is UTC
    ],
)
def test_history_or_news(max_age_days, events, lead, history):
    assert is_history(TaskSpec("x", max_age_days=max_age_days), lead, events, NOW) is history


NURTURE = NurtureSpec(
    campaign_id="701C", when=parse("exists(email)", STANDARD_FIELDS), stages=frozenset({"lead"})
)


@pytest.mark.parametrize(
    ("stages", "email", "nurtured", "actions"),
    [
        (["inquiry", "lead"], "a@x.example", False, ["join"]),
        (["lead"], "a@x.example", True, []),  # already a member
        (["lead"], None, False, []),  # may not be emailed
        (["inquiry", "lead", "mql"], "a@x.example", False, []),  # straight to MQL: never joins
        (["mql"], "a@x.example", True, ["leave"]),
        ([], "a@x.example", True, []),
    ],
)
def test_nurture(stages, email, nurtured, actions):
    entries = [StageEntry(s, AT, "why") for s in stages]
    context = {"lead": {"email": email} if email else {}, "events": [], "now": NOW}
    ops = nurture_ops(NURTURE, entries, context, "k1", nurtured)
    assert [op["action"] for op in ops] == actions
    for op in ops:
        assert op["member"] == "701C:k1" and op["key"].startswith(f"nurture:701C:k1:{op['action']}")


def test_the_insight_follows_the_admins_template():
    """[tasks] description lays the insight out: the lead's fields and the parts by name;
    a line only an empty part was on is dropped; without a template, every part in order."""
    lead = {"first_name": "Ann", "company": "Acme", "lead_source": "Webinar", "visits": 3.0}
    score = Score(40.0, 30.0)
    decision = Decision(score=score, entries=[MQL])
    template = "Hi $first_name of $company ($visits visits).\n$why\n\n$latest_activity\n$came_from"
    spec = TaskSpec("Call $first_name", description=template)
    task = follow_up(spec, lead, decision, [], MQL, "005ANN", "k1")
    assert task["description"] == (
        "Hi Ann of Acme (3 visits).\n"
        "Why now: score 70 reached the MQL threshold (total >= 60).\n"
        "\n"
        "Came from: lead source: Webinar."
    )
    default = follow_up(TaskSpec("Call $first_name"), lead, decision, [], MQL, "005ANN", "k1")
    assert default["description"].splitlines() == [
        "Why now: score 70 reached the MQL threshold (total >= 60).",
        "Score 70: fit 40, behaviour 30.",
        "Came from: lead source: Webinar.",
    ]
