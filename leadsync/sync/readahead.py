"""A source's pages read one ahead, in a thread of their own (issue 13).

While the run maps a page and writes it to the state db, the next page is being read.
Reading a CSV page is Python's own work; the state db's is the database's, and on
PostgreSQL that is another process on another core: a reordered no-op of 100,000 rows
on PostgreSQL state took 1.60-1.96 s in process, 1.23-1.39 s read ahead. On SQLite,
whose work runs in this process and holds Python's lock between its calls, it is no
faster and no slower.

Only a source that says so is read ahead (`Source.read_ahead`): one whose reading
shares nothing with the run (a file). A source behind an API is read on the run's own
thread, since its client, quota and call counters are the run's as well.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import TypeVar, cast

T = TypeVar("T")

# A page handed over waits at most this long for room before the reader looks again
# whether the run still wants it; the run waits as long between checks that the reader
# is still there.
POLL_SECONDS = 0.25
# How long a run that stops reading waits for the reader to let go of its source (its
# page in hand finished, its file closed) before it goes on without it.
JOIN_SECONDS = 10.0

_END = object()


class _Failed:
    """What the reader raised, handed over to be raised on the run's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(pages: Iterator[T], *, name: str) -> Iterator[T]:
    """``pages`` in their order, each read while the one before is being used; what the
    source raises is raised here, after the pages before it. Leaving early (a stop, an
    error in the run) stops the reader after its page in hand and closes the source."""
    handed: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand(item: object) -> bool:
        while not stop.is_set():
            try:
                handed.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for page in pages:
                if not hand(page):
                    return
            hand(_END)
        except BaseException as error:  # raised again on the run's thread
            hand(_Failed(error))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()  # on this thread, the one the source's generator ran on

    reader = threading.Thread(target=read, name=f"leadsync-read-{name}", daemon=True)
    reader.start()
    try:
        while True:
            try:
                item = handed.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if reader.is_alive() or not handed.empty():
                    continue
                raise RuntimeError(f"the reader of source {name} stopped early") from None
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield cast(T, item)
    finally:
        stop.set()
        with suppress(queue.Empty):
            handed.get_nowait()  # a page the reader is waiting to hand over
        reader.join(JOIN_SECONDS)
