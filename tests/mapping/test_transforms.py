"""The closed set of transforms: a table of inputs and outputs, and properties over any input."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.mapping.transforms import BadTransform, TransformFailed, compile_transform

TABLE = [
    ("trim", "  Ann  ", "Ann"),
    ("trim", "   ", None),
    ("lower", "ANN@X.EXAMPLE", "ann@x.example"),
    ("upper", "gb", "GB"),
    ("title", "mary-jane o'neil", "Mary-Jane O'Neil"),
    ("title", "McDonald", "McDonald"),  # mixed case is left as the person typed it
    ({"default": "Unknown"}, None, "Unknown"),
    ({"default": "Unknown"}, "Acme", "Acme"),
    ({"map": {"Y": "Yes", "N": "No"}}, " y ", "Yes"),
    ({"map": {"Y": "Yes"}}, "Maybe", "Maybe"),
    ({"map": {"Y": "Yes", "*": "No"}}, "Maybe", "No"),
    ({"map": {"Y": "Yes", "*": "No"}}, None, None),
    ("boolean", "Yes", True),
    ("boolean", "no", False),
    ("boolean", "1", True),
    ({"boolean": {"true": ["Opted in"], "false": ["Opted out"]}}, "opted in", True),
    ("parse_date", "2026-03-01", date(2026, 3, 1)),
    ("parse_date", "2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ("parse_date", "2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ("parse_date", "1772359200000", datetime(2026, 3, 1, 10, tzinfo=UTC)),  # epoch ms
    ("parse_date", "1772359200", datetime(2026, 3, 1, 10, tzinfo=UTC)),  # epoch s
    ({"parse_date": "%d/%m/%Y"}, "01/03/2026", date(2026, 3, 1)),
    ({"phone": "US"}, "(415) 555-0199", "+14155550199"),
    ({"phone": "GB"}, "020 7946 0018", "+442079460018"),
    ("phone", "+49 30 90182055", "+493090182055"),
    ({"phone": "US"}, "0049 30 1234567", "+49301234567"),  # 00 dials out, as + does
    ({"phone": "US"}, "(415) 555-0100 ext. 12", "+14155550100 ext. 12"),
    ("country", "India", "IN"),
    ("country", "united kingdom", "GB"),
    ("country", "UK", "GB"),
    ("country", "DEU", "DE"),
    ("country", "us", "US"),
    ({"country": {"unknown": "empty"}}, "Asia/Pacific Region", None),
    ({"country": {"unknown": "keep"}}, "unknown", "unknown"),
    ({"concat": " "}, ["Ann", None, " Lee "], "Ann Lee"),
    ({"concat": ", "}, [None, ""], None),
    ("email", " Ann@X.Example ", "ann@x.example"),
]


@pytest.mark.parametrize(("spec", "value", "expected"), TABLE)
def test_transform_table(spec, value, expected):
    """Each transform turns its input into the documented output."""
    assert compile_transform(spec)(value) == expected


FAILURES = [
    ("boolean", "perhaps", "is not a yes/no value"),
    ("parse_date", "next tuesday", "is not a date"),
    ({"parse_date": "%d/%m/%Y"}, "2026-03-01", "is not a date (%d/%m/%Y)"),
    ({"phone": "US"}, "call me", "is not a phone number"),
    ({"phone": "US"}, "12", "not a valid phone number"),
    ({"phone": "US"}, "555-1234", "not a valid phone number"),  # possible, never assigned
    ("country", "Narnia", "is not a country name or ISO code"),
]


@pytest.mark.parametrize(("spec", "value", "reason"), FAILURES)
def test_transform_failures_say_why(spec, value, reason):
    """A value a transform cannot take fails with a reason that quotes it."""
    with pytest.raises(TransformFailed, match=reason.replace("(", r"\(").replace(")", r"\)")):
        compile_transform(spec)(value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("trimm", "unknown transform 'trimm' (known: boolean, concat"),
        ({"default": None}, "default needs a value"),
        ({"phone": "USA"}, "two-letter default region"),
        ({"country": {"unknown": "drop"}}, 'unknown = "error" | "empty" | "keep"'),
        ({"trim": 1, "lower": 2}, "a name or a one-key table"),
        ({"map": ["a"]}, "map needs a table"),
    ],
)
def test_bad_transform_specs_are_config_errors(spec, message):
    """A typo or a bad argument is caught when the config loads, with what is allowed."""
    with pytest.raises(BadTransform, match=message.replace("(", r"\(").replace("|", r"\|")):
        compile_transform(spec)


NAMES = [
    "trim",
    "lower",
    "upper",
    "title",
    "boolean",
    "parse_date",
    "phone",
    "country",
    "email",
    {"default": "x"},
    {"map": {"a": "b"}},
    {"concat": "-"},
]


@given(
    st.sampled_from(NAMES),
    st.one_of(
        st.none(), st.text(), st.integers(), st.lists(st.one_of(st.none(), st.text()), max_size=3)
    ),
)
def test_transforms_fail_only_with_a_reason(spec, value):
    """On any input a transform returns a value or raises TransformFailed, nothing else."""
    with contextlib.suppress(TransformFailed):
        compile_transform(spec)(value)


@given(st.sampled_from(NAMES))
def test_no_value_passes_through_or_gets_its_default(spec):
    """None means no value: transforms leave it alone, except `default`."""
    result = compile_transform(spec)(None)
    assert result == ("x" if spec == {"default": "x"} else None)
