"""The CSV source: a file on disk, read incrementally.

Cursor: the byte offset of the last committed row, the SHA-256 of the bytes
before it, and, once the whole file is read, the hash of the whole file.

- unchanged file: nothing is read;
- rows appended: only the new rows are read (the prefix still hashes the same);
- anything else changed: the whole file is read again, and the pipeline skips
  every row whose content hash it already holds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from leadsync.connectors.base import Page, RawRecord, Source, joined_hash
from leadsync.connectors.csv.client import Row, RowReader
from leadsync.connectors.csv.config import CsvConfig
from leadsync.connectors.csv.schema import header
from leadsync.errors import ConnectorError


class CsvSource(Source):
    kind = "csv"
    local = True
    read_ahead = True
    Config = CsvConfig
    config: CsvConfig

    @property
    def path(self) -> Path:
        p = Path(self.config.path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def check(self) -> list[str]:
        if not self.path.is_file():
            return [f"sources.{self.name}.path: no such file: {self.path}"]
        try:
            header = self.columns() or []
        except ConnectorError as exc:
            return [str(exc)]
        if self.config.external_id and self.config.external_id not in header:
            return [
                f"sources.{self.name}.external_id: column {self.config.external_id!r} "
                f"is not in the header of {self.path.name}"
            ]
        return []

    def columns(self) -> list[str] | None:
        if not self.path.is_file():
            return None
        with self.path.open("rb") as f:
            for row in RowReader(f, **self._parse_args(0, 0)):
                return self._header(row.values or [])
        return []

    def _header(self, values: list[str]) -> list[str]:
        return header(values, f"sources.{self.name}", self.path.name)

    def read(self, cursor: Mapping[str, Any] | None, page_size: int) -> Iterator[Page]:
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise ConnectorError(f"sources.{self.name}: cannot open {self.path}: {exc}") from exc
        with stream:
            size = self.path.stat().st_size
            if cursor and cursor.get("complete") and cursor.get("size") == size:
                if _sha256(stream) == cursor.get("sha256"):
                    return  # the file has not changed since it was read whole
                stream.seek(0)
            yield from self._read_from(stream, self._resume_point(stream, cursor), page_size)

    def _resume_point(self, stream: Any, cursor: Mapping[str, Any] | None) -> dict[str, Any]:
        """Where to start: after the committed prefix if the file still begins with it."""
        hasher = hashlib.sha256()
        offset = int(cursor.get("offset", 0)) if cursor else 0
        if cursor and offset and cursor.get("header"):
            prefix = stream.read(offset)
            if len(prefix) == offset and hashlib.sha256(prefix).hexdigest() == cursor.get(
                "prefix_sha256"
            ):
                hasher.update(prefix)
                return {
                    "offset": offset,
                    "line": int(cursor["line"]),
                    "header": list(cursor["header"]),
                    "hasher": hasher,
                }
            stream.seek(0)
        return {"offset": 0, "line": 0, "header": None, "hasher": hashlib.sha256()}

    def _read_from(self, stream: Any, start: dict[str, Any], page_size: int) -> Iterator[Page]:
        hasher = start["hasher"]
        header: list[str] | None = start["header"]
        nulls = frozenset(v.strip().casefold() for v in self.config.null_values)
        page: list[RawRecord] = []
        last: Row | None = None
        reader = RowReader(
            stream, hasher=hasher, **self._parse_args(start["offset"], start["line"])
        )
        reader.width = len(header) if header else None
        ext_at = self._column_at(header)
        for row in reader:
            last = row
            if header is None:
                if row.values is None:
                    raise ConnectorError(f"sources.{self.name}: the header line is unreadable")
                header = self._header(row.values)
                reader.width = len(header)
                ext_at = self._column_at(header)
                continue
            page.append(self._record(row, header, nulls, ext_at))
            if len(page) >= page_size:
                reader.hash_through(row.end_offset)
                yield Page(page, self._cursor(row, header, hasher, complete=False))
                page = []
        if header is None or last is None:
            return
        # The whole file is consumed now, trailing blank lines included, but for a last
        # line still being written.
        size = reader.offset
        reader.hash_through(size)
        final = self._cursor(last, header, hasher, complete=True)
        yield Page(page, {**final, "offset": size, "size": size})

    def _record(
        self, row: Row, header: list[str], nulls: frozenset[str], ext_at: int | None
    ) -> RawRecord:
        """The row as a record; ``ext_at``: where the external id is in the row (None:
        no such column)."""
        first, last = row.first_line, row.last_line
        ref = f"line {first}" if first == last else f"lines {first}-{last}"
        width = row.width
        if width is None or row.problem:
            return RawRecord(ref, {"_raw": row.raw}, problem=row.problem)
        if width != len(header):
            problem = (
                f"expected {len(header)} columns, found {width} "
                "(broken quoting or a stray delimiter)"
            )
            return RawRecord(ref, {"_raw": row.raw}, problem=problem)
        ext = row.value(ext_at).strip() if ext_at is not None else None
        if ext is not None and ext.casefold() in nulls:
            ext = None
        if ext:
            return RawRecord(ref, RowData(header, row, nulls), ext, joined_hash(row.joined()))
        ext_col = self.config.external_id
        return RawRecord(
            ref,
            RowData(header, row, nulls),
            None,
            joined_hash(row.joined()),
            problem="external id is empty" if ext_col else None,
            problem_field=ext_col or None,
        )

    def _column_at(self, header: list[str] | None) -> int | None:
        column = self.config.external_id
        return header.index(column) if header and column and column in header else None

    def _cursor(
        self, row: Row, header: list[str], hasher: Any, *, complete: bool
    ) -> dict[str, Any]:
        digest = hasher.copy().hexdigest()
        cursor: dict[str, Any] = {
            "offset": row.end_offset,
            "line": row.last_line,
            "header": header,
            "prefix_sha256": digest,
            "complete": complete,
        }
        if complete:
            cursor["sha256"] = digest
        return cursor

    def _parse_args(self, offset: int, line: int) -> dict[str, Any]:
        args: dict[str, Any] = {
            "hold_unterminated": self._still_written(),
            "encoding": self.config.encoding,
            "delimiter": self.config.delimiter,
            "start_offset": offset,
            "start_line": line,
        }
        return args

    def _still_written(self) -> bool:
        """Whether the file changed so lately that an unterminated last line may be cut."""
        try:
            modified = self.path.stat().st_mtime
        except OSError:
            return False
        return time.time() - modified < self.config.settle_seconds


class RowData(Mapping[str, Any]):
    """A row's values by column, the null spellings as None: built on first use. A re-read
    export is mostly rows already held (its content hash says so), and those are never
    mapped: building their dict cost a reordered no-op sync a third of its time."""

    __slots__ = ("_built", "_header", "_nulls", "_row")

    def __init__(self, header: list[str], row: Row, nulls: frozenset[str]) -> None:
        self._header, self._row, self._nulls = header, row, nulls
        self._built: dict[str, Any] | None = None

    @property
    def _dict(self) -> dict[str, Any]:
        if self._built is None:
            nulls, values = self._nulls, self._row.values or []
            self._built = {
                col: (None if v.strip().casefold() in nulls else v)
                for col, v in zip(self._header, values, strict=True)
            }
        return self._built

    def __getitem__(self, column: str) -> Any:
        return self._dict[column]

    def get(self, column: str, default: Any = None) -> Any:
        return self._dict.get(column, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._header)


def _sha256(stream: Any) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()
