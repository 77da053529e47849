"""The condition language: tables of conditions and results, errors with columns, properties."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.mapping.lead import STANDARD_FIELDS
from leadsync.rules.conditions import ConditionError, parse

FIELDS = {**STANDARD_FIELDS, "score": "int", "signup": "date"}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEAD = {
    "email": "ann@acme.example",
    "title": "VP Marketing",
    "employees": 250,
    "country": "US",
    "email_opt_out": False,
    "signup": "2026-11-01",
    "source_created_at": "2026-11-20T09:00:00Z",
}
EVENTS = [
    {"type": "form_submit", "at": "2026-11-22T10:00:00Z", "form": "demo"},
    {"type": "form_submit", "at": "2026-10-01T10:00:00Z", "form": "ebook"},
    {"type": "page_view", "at": "2026-11-23T08:00:00Z", "url": "/pricing"},
]
CTX = {"lead": LEAD, "events": EVENTS, "now": NOW}

TRUE_OR_FALSE = [
    ('title contains "marketing"', True),
    ('title == "vp marketing"', True),  # text compares without case
    ('title != "CTO"', True),
    ("employees >= 50 and employees < 1000", True),
    ("employees > 250", False),
    ('country in ["US", "CA"]', True),
    ('country not in ["US", "CA"]', False),
    ('email matches "@(acme|globex)\\\\.example$"', True),
    ('email matches "@gmail\\\\.com$"', False),
    ("not email_opt_out", True),
    ("email_opt_out == false", True),
    ('employees >= 50 and (country == "DE" or title contains "VP")', True),
    ('employees >= 50 and country == "DE" or title contains "VP"', True),  # and binds tighter
    ("not not employees", True),
    ('signup >= "2026-10-15"', True),
    ("signup >= days_ago(14)", False),
    ("source_created_at >= days_ago(7)", True),
    ('source_created_at < "2026-11-21"', True),  # a datetime against a date
    ('count(event.type == "form_submit") == 2', True),
    ('count(event.type == "form_submit", days=30) >= 2', False),
    ('count(event.type == "form_submit", days=30) == 1', True),
    ('count(event.type == "page_view" and event.url contains "pricing", days=1) == 1', True),
    ("exists(title)", True),
    ("exists(phone)", False),
    # A missing value makes a comparison false, and never raises.
    ('phone == "+1"', False),
    ('not (phone == "+1")', True),
    ("annual_revenue > 1000000", False),
    ('company contains "acme"', False),
    ('industry in ["Tech"]', False),
    ('industry not in ["Tech"]', False),
    # Values of kinds that do not compare: false, not an error.
    ('employees > "many"', False),
]


@pytest.mark.parametrize(("source", "expected"), TRUE_OR_FALSE)
def test_condition_table(source, expected):
    """Each condition holds, or not, for the example lead and its events."""
    assert parse(source, FIELDS)(CTX) is expected


ERRORS = [
    ("titel == 1", 1, "unknown field 'titel'"),
    ("employees >= ", 14, "expected a value, found the end"),
    ('title == "x" and', 17, "expected a value, found the end"),
    ('title == "x" title', 14, "expected the end of the condition"),
    ('email matches "(["', 15, "bad regular expression"),
    ("email matches title", 15, "`matches` takes a regular expression in quotes"),
    ('event.type == "x"', 1, "'event.type' is only known inside count(...)"),
    ("count(count(event.type == 1) > 0) > 0", 7, "count() cannot be nested"),
    ("open(title)", 1, "unknown function 'open'"),
    ('title.__class__ == "x"', 1, "unknown field 'title.__class__'"),
    ("__import__ == 1", 1, "unknown field '__import__'"),
    ("country in [title]", 13, "a list holds strings and numbers"),
    ("employees >= 1 ; 2", 16, "unexpected character ';'"),
    ("exists(1)", 8, "exists() takes a lead field"),
    ("count(event.type == 1, weeks=2) > 0", 24, "expected 'days'"),
    ("source_created_at >= days_ago(1000000)", 31, "1e+06 days: give 0 to 36500"),
    ("count(event.type == 1, days=99999999) > 0", 29, "days: give 0 to 36500"),
    ("(" * 2000 + "exists(email)" + ")" * 2000, 101, "nested more than 100 levels deep"),
    ("not " * 500 + "exists(email)", 401, "nested more than 100 levels deep"),
    ('title matches "(?<=a)b"', 15, "no backreferences or lookaround"),
]


@pytest.mark.parametrize(("source", "column", "message"), ERRORS)
def test_errors_name_the_column(source, column, message):
    """A mistake is reported with its column and what was expected."""
    with pytest.raises(ConditionError) as err:
        parse(source, FIELDS)
    assert err.value.column == column, err.value
    assert message in err.value.reason


def test_a_condition_about_one_event():
    """A behaviour rule's condition reads the event it is given, and the lead too."""
    condition = parse(
        'event.type == "form_submit" and event.form != "ebook" and country == "US"',
        FIELDS,
        about_event=True,
    )
    assert [condition({**CTX, "event": e}) for e in EVENTS] == [True, False, False]


def test_used_fields_are_known_after_parsing():
    """A parsed condition lists the lead fields it reads (for explain and preview)."""
    condition = parse('title contains "x" or exists(phone) or count(event.type == "a") > 0', FIELDS)
    assert condition.fields == {"title", "phone"}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
CONDITIONS = [source for source, _ in TRUE_OR_FALSE]


@settings(max_examples=300)
@given(
    st.sampled_from(CONDITIONS),
    st.dictionaries(st.sampled_from(sorted(FIELDS)), JSON_VALUES, max_size=8),
    st.lists(
        st.dictionaries(st.sampled_from(["type", "at", "url", "form"]), JSON_VALUES, max_size=4),
        max_size=4,
    ),
)
def test_evaluation_never_raises_on_any_lead(source, lead, events):
    """Whatever values a lead and its events hold, a condition answers True or False."""
    assert parse(source, FIELDS)({"lead": lead, "events": events, "now": NOW}) in (True, False)


KEYWORDS = [
    "title",
    "employees",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "matches",
    "count",
    "event.type",
    "days",
    "exists",
    "__class__",
    "open",
    "import",
]
ALPHABET = st.sampled_from([*'abcdeilmnorstuvxy_.()[]",=<>!0123456789 ', *KEYWORDS])


@settings(max_examples=500)
@given(st.lists(ALPHABET, max_size=12).map("".join))
def test_any_text_parses_or_fails_with_a_condition_error(text):
    """Any text either parses into a condition or fails with ConditionError, nothing else."""
    try:
        condition = parse(text, FIELDS)
    except ConditionError:
        return
    assert condition(CTX) in (True, False)
    assert condition.fields <= set(FIELDS)  # it can only ever read lead fields


def test_a_catastrophic_pattern_cannot_hang_a_sync():
    """`title matches "(a+)+$"` against 35 a's and a "!" ends at once (RE2 matches in
    linear time; Python's backtracking re takes hours). Run in a child with a deadline,
    so that a regression fails instead of hanging the suite."""
    code = (
        "from leadsync.rules.conditions import parse\n"
        "c = parse('title matches \"(a+)+$\"', {'title': 'str'})\n"
        "print(c({'lead': {'title': 'a' * 35 + '!'}, 'now': None}))\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == "False", child.stderr
