"""The CSV connector's client: the file, streamed row by row, knowing where each row
starts and ends.

The file is read as bytes in blocks of whole physical lines, so that the byte offset
after every row is known exactly: that offset (with a hash of the bytes before it) is
the cursor. Each line is decoded on its own, so one line in Latin-1 inside a UTF-8
export costs that line nothing and the others nothing. Python's csv parser takes the
decoded lines straight from the blocks (no Python code runs per line), and its line
count says which lines each row took.

A quote that is opened and never closed makes a CSV parser swallow the lines
after it into one field. When a row spanning several lines turns out broken
(a parse error, or the wrong number of columns), only its first line is set
aside, and the lines it swallowed are read again as rows of their own.

A last line without its newline may be one the exporter is still writing: with
``hold_unterminated`` it is not read (nor hashed) until it is complete.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, BinaryIO

from leadsync.connectors.base import SEPARATOR

BOM = b"\xef\xbb\xbf"
BLOCK = 1 << 16  # bytes read at once, then up to the end of the line


class Row:
    """A row of the file: its values (None when it could not be read), the lines it took,
    its text, the offset after it, and what is wrong with it.

    A row of one line without a quote or a carriage return in it (most rows) is its text
    split at the delimiter, as csv would read it: such a row keeps its text (``plain``)
    and is split when its values are first asked for. A re-read export is mostly rows
    whose content hash is known already, and those are never split at all (csv's parse,
    the list of values and its freeing were 0.4 s of a reordered no-op of 100,000 rows).
    """

    __slots__ = (
        "_values",
        "delimiter",
        "end_offset",
        "first_line",
        "last_line",
        "plain",
        "problem",
        "raw",
    )

    def __init__(
        self,
        values: list[str] | None,
        first_line: int,
        last_line: int,
        raw: str,
        end_offset: int,
        problem: str | None = None,
        *,
        plain: str | None = None,
        delimiter: str = ",",
    ) -> None:
        self._values, self.first_line, self.last_line = values, first_line, last_line
        self.raw, self.end_offset, self.problem = raw, end_offset, problem
        self.plain, self.delimiter = plain, delimiter

    @property
    def values(self) -> list[str] | None:
        if self._values is None and self.plain is not None:
            self._values = self.plain.split(self.delimiter)
        return self._values

    @property
    def width(self) -> int | None:
        """How many values the row has (None: unreadable), without splitting it."""
        if self._values is None and self.plain is not None:
            return self.plain.count(self.delimiter) + 1
        return None if self._values is None else len(self._values)

    def value(self, at: int) -> str:
        """The value in column ``at`` (the row is that wide), without splitting the rest."""
        if self._values is None and self.plain is not None:
            return self.plain.split(self.delimiter, at + 1)[at]
        assert self._values is not None
        return self._values[at]

    def joined(self) -> str:
        """The values joined by the content hash's separator (`base.joined_hash`)."""
        if self._values is None and self.plain is not None:
            return self.plain.replace(self.delimiter, SEPARATOR)
        assert self._values is not None
        return SEPARATOR.join(self._values)


class RowReader:
    """Rows from ``start_offset`` on; set ``width`` once the header is known.

    ``offset`` is the end of the last line the rows took (blank lines included), and
    ``hash_through`` brings ``hasher`` up to a row's end: the bytes are hashed when a
    cursor asks, not as they are read (a block is read ahead of the rows)."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        encoding: str,
        delimiter: str,
        start_offset: int,
        start_line: int,
        hasher: Any | None = None,
        hold_unterminated: bool = False,
    ) -> None:
        self.stream = stream
        self.encoding = encoding
        self.delimiter = delimiter
        self.hasher = hasher if hasher is not None else hashlib.sha256()
        self.hold_unterminated = hold_unterminated
        self.held = False  # a last line was left for the next read
        self.width: int | None = None
        self.offset = start_offset
        self._read_to = start_offset  # where the next block starts in the file
        self._start_line = start_line
        # The lines read and not yet both hashed and taken by a row, by index: the line
        # numbered ``start_line + 1 + i`` is at ``i - dropped`` in these lists.
        self._texts: list[str] = []
        self._raws: list[bytes] = []
        self._ends: list[int] = []
        self._problems: dict[int, str] = {}  # by index: lines that did not decode
        self._dropped = 0
        self._hashed = 0  # lines hashed (an index)
        self._taken = 0  # lines taken by rows (an index)
        self._blocks = self._read_blocks()

    # -- reading ----------------------------------------------------------------------

    def _read_blocks(self) -> Iterator[list[str]]:
        """The file's next lines, a block at a time, each block kept in the lists."""
        while True:
            data = self.stream.read(BLOCK)
            if not data:
                return
            if data[-1:] != b"\n":
                data += self.stream.readline()  # the rest of the block's last line
            parts = data.split(b"\n")
            tail = parts.pop()  # b"" when the block ends with a newline
            raws = [part + b"\n" for part in parts]
            if tail and self.hold_unterminated:
                self.held = True  # being written: read once it is complete
            elif tail:
                raws.append(tail)
            if not raws:
                return
            texts = self._decoded(raws, first=len(self._texts) + self._dropped)
            ends = list(accumulate(map(len, raws), initial=self._read_to))[1:]
            self._read_to = ends[-1]
            self._texts += texts
            self._raws += raws
            self._ends += ends
            yield texts

    def _decoded(self, raws: list[bytes], first: int) -> list[str]:
        if first == 0 and self._read_to == 0 and raws[0].startswith(BOM):
            raws = [raws[0][len(BOM) :], *raws[1:]]  # hashed and counted, not read
        try:
            # Most blocks decode as the config says at the first try.
            encoding = "utf-8" if self.encoding == "auto" else self.encoding
            return [raw.decode(encoding) for raw in raws]
        except UnicodeDecodeError:
            texts = []
            for i, raw in enumerate(raws):
                number = self._start_line + 1 + first + i
                text, problem = _decode(raw, self.encoding, number)
                if problem:
                    self._problems[first + i] = problem
                texts.append(text)
            return texts

    def _lines_from(self, index: int) -> Iterator[str]:
        """The lines from ``index`` on: those read, then the file's, as they are read."""
        while True:
            at = index - self._dropped
            if at < len(self._texts):
                yield self._texts[at]
                index += 1
            elif next(self._blocks, None) is None:
                return

    # -- rows ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Row]:
        texts, ends, problems = self._texts, self._ends, self._problems  # kept, not replaced
        number_of = self._start_line + 1  # the line number of index 0
        delimiter = self.delimiter
        while True:
            start = self._taken
            at = start - self._dropped
            if at >= len(texts):
                if next(self._blocks, None) is None:
                    return
                continue
            plain = None if start in problems else _plain(texts[at])
            if plain is not None:
                # The common row: one line, no quote, decoded.
                self._taken = start + 1
                self.offset = ends[at]
                if plain:  # else a blank line
                    number = number_of + start
                    yield Row(
                        None, number, number, texts[at], ends[at], plain=plain, delimiter=delimiter
                    )
                continue
            # A quote (or a carriage return) in the line: Python's csv parser reads the row,
            # over as many lines as its quotes take.
            parser = csv.reader(self._lines_from(start), delimiter=delimiter, strict=True)
            try:
                values: list[str] | None = next(parser)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                values, problem = None, f"broken quoting: {exc}"
            end = start + max(parser.line_num, 1)
            self._taken = end
            broken = problem or (self.width and values is not None and len(values) != self.width)
            if broken and end > start + 1:
                # Only the first line is set aside; the lines it swallowed are read again.
                end = self._taken = start + 1
                values = None
                problem = "broken quoting: a quote opened on this line is never closed"
            bad_lines = [problems[i] for i in range(start, end) if i in problems]
            if bad_lines:
                problem = "; ".join(bad_lines)
            self.offset = ends[end - 1 - self._dropped]
            if values == [] and problem is None:
                continue  # a blank line
            yield Row(
                values,
                number_of + start,
                number_of + end - 1,
                "".join(texts[at : end - self._dropped]),
                self.offset,
                problem,
            )

    # -- the hash of what was read ------------------------------------------------------

    def hash_through(self, offset: int) -> None:
        """Hash the lines that end at ``offset`` or before, then let go of the lines both
        hashed and taken by rows."""
        i = self._hashed - self._dropped
        ends, raws = self._ends, self._raws
        while i < len(ends) and ends[i] <= offset:
            self.hasher.update(raws[i])
            i += 1
        self._hashed = i + self._dropped
        done = min(self._hashed, self._taken) - self._dropped
        if done > 0:
            del self._texts[:done], self._raws[:done], self._ends[:done]
            self._dropped += done


def _plain(text: str) -> str | None:
    """A line without its line ending, when csv would read it as the line split at the
    delimiter: no quote in it, no carriage return but the line ending's. None otherwise."""
    if '"' in text:
        return None
    line = text[:-1] if text.endswith("\n") else text
    if line.endswith("\r"):
        line = line[:-1]
    return None if "\r" in line else line


def _decode(chunk: bytes, encoding: str, number: int) -> tuple[str, str | None]:
    if encoding == "auto":
        try:
            return chunk.decode("utf-8"), None
        except UnicodeDecodeError:
            # Windows exports are cp1252; latin-1 takes any byte at all.
            try:
                return chunk.decode("cp1252"), None
            except UnicodeDecodeError:
                return chunk.decode("latin-1"), None
    try:
        return chunk.decode(encoding), None
    except UnicodeDecodeError as exc:
        problem = f"line {number} is not valid {encoding}: {exc.reason}"
        return chunk.decode(encoding, errors="replace"), problem
