"""The CSV connector's client: the file, streamed row by row, knowing where each row
starts and ends.

The file is read as bytes, one physical line at a time, so that the byte
offset after every row is known exactly: that offset (with a hash of the bytes
before it) is the cursor. Each line is decoded on its own, so one line in
Latin-1 inside a UTF-8 export costs that line nothing and the others nothing.

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
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class Row:
    values: list[str] | None
    first_line: int
    last_line: int
    raw: str
    end_offset: int
    problem: str | None = None


class _Line(NamedTuple):
    """A physical line (a tuple: a file has a line per row, and rows are the hot path)."""

    text: str
    number: int
    end_offset: int
    problem: str | None = None


@dataclass
class _Feed:
    """The lines under csv.reader: decoded, numbered, with their end offsets; can be re-read."""

    stream: BinaryIO
    encoding: str
    offset: int
    line: int
    hasher: Any
    hold_unterminated: bool = False
    held: bool = False  # a last line was left for the next read
    consumed: list[_Line] = field(default_factory=list)
    again: list[_Line] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        consumed, again = self.consumed, self.again
        while True:
            item: _Line | None
            if again:
                item = again.pop(0)
            else:
                item = self._next_line()
                if item is None:
                    return
            self.offset, self.line = item.end_offset, item.number
            consumed.append(item)
            yield item.text

    def _next_line(self) -> _Line | None:
        chunk = self.stream.readline()
        if not chunk:
            return None
        if self.hold_unterminated and chunk[-1:] != b"\n":
            self.held = True
            return None
        self.hasher.update(chunk)
        end = self.offset + len(chunk)
        if not self.offset and chunk.startswith(BOM):
            chunk = chunk[len(BOM) :]
        number = self.line + 1
        try:
            # Most lines decode as the config says at the first try.
            return _Line(chunk.decode(self._first_try), number, end)
        except UnicodeDecodeError:
            text, problem = self._decode(chunk, number)
            return _Line(text, number, end, problem)

    @property
    def _first_try(self) -> str:
        return "utf-8" if self.encoding == "auto" else self.encoding

    def _decode(self, chunk: bytes, number: int) -> tuple[str, str | None]:
        if self.encoding == "auto":
            try:
                return chunk.decode("utf-8"), None
            except UnicodeDecodeError:
                # Windows exports are cp1252; latin-1 takes any byte at all.
                try:
                    return chunk.decode("cp1252"), None
                except UnicodeDecodeError:
                    return chunk.decode("latin-1"), None
        try:
            return chunk.decode(self.encoding), None
        except UnicodeDecodeError as exc:
            problem = f"line {number} is not valid {self.encoding}: {exc.reason}"
            return chunk.decode(self.encoding, errors="replace"), problem

    def read_again(self, lines: list[_Line], after: _Line) -> None:
        self.again[:0] = lines
        self.offset, self.line = after.end_offset, after.number


class RowReader:
    """Rows from ``start_offset`` on; set ``width`` once the header is known."""

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
        self.feed = _Feed(
            stream,
            encoding,
            start_offset,
            start_line,
            hasher if hasher is not None else hashlib.sha256(),
            hold_unterminated,
        )
        self.delimiter = delimiter
        self.reader = self._parser()
        self.width: int | None = None

    def _parser(self) -> Any:
        return csv.reader(iter(self.feed), delimiter=self.delimiter, strict=True)

    def __iter__(self) -> Iterator[Row]:
        feed = self.feed
        while True:
            try:
                values: list[str] | None = next(self.reader)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                values, problem = None, f"broken quoting: {exc}"
            lines = feed.consumed
            if len(lines) == 1 and problem is None and lines[0].problem is None:
                # The common row: one line, parsed, decoded (the checks below, in short).
                line = lines.pop()
                if values:  # else a blank line; a wrong width is the source's to name
                    yield Row(values, line.number, line.number, line.text, line.end_offset)
                continue
            # The lists are the feed's own (its generator holds them): emptied, not replaced.
            lines = lines[:]
            feed.consumed.clear()
            if not lines:
                return
            broken = problem or (self.width and values is not None and len(values) != self.width)
            if broken and len(lines) > 1:
                feed.read_again(lines[1:], after=lines[0])
                # A parser that hit the end of the file is spent: start a new one.
                self.reader = self._parser()
                lines = lines[:1]
                values = None
                problem = "broken quoting: a quote opened on this line is never closed"
            bad_lines = [line.problem for line in lines if line.problem]
            if bad_lines:
                problem = "; ".join(bad_lines)
            if values == [] and problem is None:
                continue  # a blank line
            yield Row(
                values,
                lines[0].number,
                lines[-1].number,
                "".join(line.text for line in lines),
                lines[-1].end_offset,
                problem,
            )
