"""Streaming a delimited file row by row, knowing where each row starts and ends.

The file is read as bytes, one physical line at a time, so that the byte
offset after every row is known exactly: that offset (with a hash of the bytes
before it) is the cursor. Each line is decoded on its own, so one line in
Latin-1 inside a UTF-8 export costs that line nothing and the others nothing.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"


@dataclass
class Row:
    values: list[str] | None
    first_line: int
    last_line: int
    raw: str
    end_offset: int
    problem: str | None = None


@dataclass
class _Lines:
    """The line feed under csv.reader: decodes, counts lines and bytes, keeps raw text."""

    stream: BinaryIO
    encoding: str
    offset: int
    line: int
    hasher: hashlib._Hash
    bad_lines: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        while True:
            chunk = self.stream.readline()
            if not chunk:
                return
            self.hasher.update(chunk)
            if self.offset == 0 and chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
                self.offset += len(BOM)
            self.offset += len(chunk)
            self.line += 1
            text = self._decode(chunk)
            self.pending.append(text)
            yield text

    def _decode(self, chunk: bytes) -> str:
        if self.encoding == "auto":
            try:
                return chunk.decode("utf-8")
            except UnicodeDecodeError:
                # Windows exports are cp1252; latin-1 takes any byte at all.
                try:
                    return chunk.decode("cp1252")
                except UnicodeDecodeError:
                    return chunk.decode("latin-1")
        try:
            return chunk.decode(self.encoding)
        except UnicodeDecodeError as exc:
            self.bad_lines.append(f"line {self.line} is not valid {self.encoding}: {exc.reason}")
            return chunk.decode(self.encoding, errors="replace")


def rows(
    stream: BinaryIO,
    *,
    encoding: str,
    delimiter: str,
    start_offset: int,
    start_line: int,
    hasher: hashlib._Hash,
) -> Iterator[Row]:
    """Every row from ``start_offset`` on, with its lines and the offset just after it."""
    feed = _Lines(stream, encoding, start_offset, start_line, hasher)
    reader = csv.reader(iter(feed), delimiter=delimiter, strict=True)
    while True:
        first = feed.line + 1
        try:
            values: list[str] | None = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as exc:
            values, problem = None, f"broken quoting: {exc}"
        raw = "".join(feed.pending)
        feed.pending.clear()
        if feed.bad_lines:
            problem = "; ".join(feed.bad_lines)
            feed.bad_lines.clear()
        if values == [] and problem is None:
            continue  # a blank line
        yield Row(values, first, feed.line, raw, feed.offset, problem)
