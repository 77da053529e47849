"""A source's pages read one ahead in a thread: the same pages in the same order, the
source's errors raised where they happened, and nothing left running after a stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from leadsync.errors import ConnectorError, Interrupted
from leadsync.sync.readahead import read_ahead
from tests.conftest import Project


class Pages:
    """Numbered pages from a generator, noting what the reader did and on which thread."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.made: list[int] = []
        self.closed = threading.Event()
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                self.threads.add(threading.current_thread().name)
                if n == self.fail_at:
                    raise ConnectorError(f"sources.web: page {n} is unreadable")
                self.made.append(n)
                yield n
        finally:
            self.closed.set()


def test_the_pages_come_in_order_each_read_while_the_last_is_used():
    source = Pages(5)
    seen = []
    for page in read_ahead(iter(source), name="web"):
        deadline = time.monotonic() + 5
        # The next page is read while this one is in hand (the last has no next).
        while page < 4 and page + 1 not in source.made and time.monotonic() < deadline:
            time.sleep(0.005)
        assert page == 4 or page + 1 in source.made
        # Ahead by the page handed over and the one being read, no more.
        assert len(source.made) <= page + 3
        seen.append(page)
    assert seen == [0, 1, 2, 3, 4]
    assert source.threads == {"leadsync-read-web"}
    assert source.closed.wait(5)


def test_the_sources_error_is_raised_after_the_pages_before_it():
    source = Pages(5, fail_at=2)
    seen = []
    with pytest.raises(ConnectorError, match="page 2 is unreadable"):
        for page in read_ahead(iter(source), name="web"):
            seen.append(page)
    assert seen == [0, 1]
    assert source.closed.wait(5)


def test_a_run_that_stops_reading_stops_the_reader_and_closes_the_source():
    source = Pages(1000)
    pages = read_ahead(iter(source), name="web")
    assert next(pages) == 0
    pages.close()  # the run stopped: a signal, an error of its own
    assert source.closed.wait(5)
    assert len(source.made) <= 3
    assert not [t for t in threading.enumerate() if t.name == "leadsync-read-web"]


def test_a_run_stopped_between_pages_leaves_no_reader_and_the_next_reads_the_rest(
    xeducation: Project,
):
    """The service's graceful stop, asked once the first page is committed: the run
    stops there with its reader gone; the next run reads the other pages, and the real
    export's 9,237 leads are each in the state db once."""
    committed: list[int] = []
    with pytest.raises(Interrupted):
        xeducation.sync(
            push=False, on_read=lambda _, read: committed.append(read), stop=lambda: bool(committed)
        )
    assert committed == [5_000]
    deadline = time.monotonic() + 15
    while [t for t in threading.enumerate() if t.name.startswith("leadsync-read-")]:
        assert time.monotonic() < deadline, "the reader is still there"
        time.sleep(0.05)
    rest = xeducation.sync(push=False)
    assert rest.read == 9_237 - 5_000
    assert rest.planned_creates + 5_000 == 9_237
