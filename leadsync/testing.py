"""The connector conformance suite: what every source and destination must do.

A connector package (built-in or third-party) subclasses these in its tests and
provides one fixture; pytest then runs every check::

    class TestMyCrm(DestinationConformance):
        @pytest.fixture
        def destination(self, ...):
            return MyCrmDestination.from_options(...)

        @pytest.fixture
        def new_records(self):
            return [{...}, {...}]   # records the destination accepts, with external ids

A destination whose CRM requires no field overrides ``bad_record`` with another
record it refuses. Sources provide ``source``, a source over at least five records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from leadsync.connectors.base import Destination, Source


class SourceConformance:
    """Check works, columns are described, reads page and resume from a cursor exactly."""

    def test_check_finds_no_problem(self, source: Source) -> None:
        """A correctly configured source reports no problem."""
        assert source.check() == []

    def test_columns_are_described(self, source: Source) -> None:
        """A source that can tell its fields names them (None means it cannot tell)."""
        columns = source.columns()
        assert columns is None or (columns and all(isinstance(c, str) for c in columns))

    def test_reads_resume_from_every_cursor(self, source: Source) -> None:
        """Resuming from any page's cursor yields exactly the records after that page."""
        pages = list(source.read(None, 2))
        everything = [r.ref for p in pages for r in p.records]
        assert len(everything) >= 5, "the conformance source needs at least five records"
        seen = 0
        for page in pages[:-1]:
            seen += len(page.records)
            rest = [r.ref for p in source.read(page.cursor, 2) for r in p.records]
            assert rest == everything[seen:]

    def test_nothing_new_after_the_last_cursor(self, source: Source) -> None:
        """After the last page's cursor there is nothing new to read."""
        pages = list(source.read(None, 1000))
        assert [r for p in source.read(pages[-1].cursor, 1000) for r in p.records] == []


class DestinationConformance:
    """Check works, the schema is described, a replayed upsert changes nothing."""

    def test_check_finds_no_problem(self, destination: Destination) -> None:
        """A correctly configured destination logs in and finds its external-id field."""
        assert destination.check() == []

    def test_schema_is_described(self, destination: Destination) -> None:
        """The schema names its fields, and the external-id field is one of them."""
        schema = destination.describe()
        field = schema.fields.get(destination.external_id_field)
        assert field is not None and field.external_id

    def test_replayed_upsert_changes_nothing(
        self, destination: Destination, new_records: Sequence[Mapping[str, Any]]
    ) -> None:
        """Sending the same batch twice creates each record once and keeps its id."""
        first = destination.upsert(new_records)
        second = destination.upsert(new_records)
        assert all(r.ok for r in first + second), first + second
        assert [r.created for r in first] == [True] * len(new_records)
        assert [r.created for r in second] == [False] * len(new_records)
        assert [r.crm_id for r in first] == [r.crm_id for r in second]

    @pytest.fixture
    def bad_record(self, destination: Destination) -> Mapping[str, Any]:
        """A record the CRM refuses; by default one with its required fields missing."""
        return {destination.external_id_field: "conformance-bad"}

    def test_one_bad_record_fails_alone(
        self,
        destination: Destination,
        new_records: Sequence[Mapping[str, Any]],
        bad_record: Mapping[str, Any],
    ) -> None:
        """A record the CRM refuses fails with a code; the others in its batch are written."""
        results = destination.upsert([*new_records, bad_record])
        assert all(r.ok for r in results[:-1])
        assert not results[-1].ok and results[-1].code and not results[-1].retriable
