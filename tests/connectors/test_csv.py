"""The CSV source: encodings, delimiters, nulls, bad rows, and reading only what is new."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.connectors.csv import CsvSource
from leadsync.errors import ConfigError


def source(path: Path, **options) -> CsvSource:
    opts = {"path": str(path), **options}
    return CsvSource.from_options("forms", opts, key="sources.forms", path=path.parent / "c.toml")


def read_all(src: CsvSource, cursor=None, page_size=1000):
    pages = list(src.read(cursor, page_size))
    records = [r for p in pages for r in p.records]
    return records, (pages[-1].cursor if pages else cursor)


def test_utf8_with_bom_and_latin1_lines_decode(tmp_path: Path):
    """A BOM is not part of the first column's name, and a Latin-1 line decodes on its own."""
    path = tmp_path / "leads.csv"
    path.write_bytes(
        b"\xef\xbb\xbfid,name\n1,Zo\xc3\xab\n2,Ren\xe9e\n"  # UTF-8 then one Latin-1 line
    )
    records, _ = read_all(source(path, external_id="id"))
    assert [r.data for r in records] == [{"id": "1", "name": "Zoë"}, {"id": "2", "name": "Renée"}]
    assert [r.external_id for r in records] == ["1", "2"]


def test_strict_encoding_quarantines_the_line_that_breaks_it(tmp_path: Path):
    """With encoding = utf-8, a line that is not UTF-8 is set aside with its line number."""
    path = tmp_path / "leads.csv"
    path.write_bytes(b"id,name\n1,Ann\n2,Ren\xe9e\n3,Bo\n")
    records, _ = read_all(source(path, external_id="id", encoding="utf-8"))
    assert [r.problem is None for r in records] == [True, False, True]
    assert records[1].ref == "line 3"
    assert "not valid utf-8" in records[1].problem


def test_delimiter_and_null_tokens(tmp_path: Path):
    """A semicolon file with `Select` meaning "not chosen" maps those cells to no value."""
    path = tmp_path / "leads.csv"
    path.write_text("id;country;city\n1;Select;Pune\n2;India; Select \n", encoding="utf-8")
    records, _ = read_all(source(path, delimiter=";", null_values=["", "Select"]))
    assert [r.data for r in records] == [
        {"id": "1", "country": None, "city": "Pune"},
        {"id": "2", "country": "India", "city": None},
    ]


def test_bad_rows_are_reported_with_lines_and_the_rest_goes_on(tmp_path: Path):
    """Broken quoting and a wrong column count are set aside with their lines; good rows remain."""
    path = tmp_path / "leads.csv"
    path.write_text(
        "id,email,note\n"
        "1,a@x.example,fine\n"
        '2,b@x.example,"unclosed\n'
        '3,c@x.example,swallowed"x\n'
        "4,d@x.example\n"
        '5,e@x.example,"multi\nline"\n'
        "6,f@x.example,last\n",
        encoding="utf-8",
    )
    records, cursor = read_all(source(path, external_id="id"))
    good = [r.external_id for r in records if r.problem is None]
    bad = {r.ref: r.problem for r in records if r.problem}
    assert good == ["1", "3", "5", "6"]  # row 3, swallowed by row 2's quote, is read again
    assert bad == {
        "line 3": "broken quoting: a quote opened on this line is never closed",
        "line 5": "expected 3 columns, found 2 (broken quoting or a stray delimiter)",
    }
    assert records[-1].ref == "line 8"  # line numbers stay true after a multi-line cell
    assert cursor["complete"] is True


def test_unchanged_file_reads_nothing_and_appended_rows_read_alone(tmp_path: Path):
    """The cursor skips an unchanged file and resumes after the committed prefix."""
    path = tmp_path / "leads.csv"
    path.write_text("id,name\n1,Ann\n2,Bo\n", encoding="utf-8")
    src = source(path, external_id="id")
    first, cursor = read_all(src)
    assert len(first) == 2

    assert read_all(src, cursor) == ([], cursor)

    with path.open("a", encoding="utf-8") as f:
        f.write("3,Cy\n")
    appended, cursor2 = read_all(src, cursor)
    assert [(r.external_id, r.ref) for r in appended] == [("3", "line 4")]
    assert cursor2["size"] == path.stat().st_size


def test_rewritten_file_is_read_again_from_the_top(tmp_path: Path):
    """A file whose first bytes changed is read whole (the pipeline skips unchanged rows)."""
    path = tmp_path / "leads.csv"
    path.write_text("id,name\n1,Ann\n2,Bo\n", encoding="utf-8")
    src = source(path, external_id="id")
    _, cursor = read_all(src)
    path.write_text("id,name\n1,Anne\n2,Bo\n", encoding="utf-8")
    again, _ = read_all(src, cursor)
    assert [r.data["name"] for r in again] == ["Anne", "Bo"]


def test_pages_carry_a_resumable_cursor(tmp_path: Path):
    """Each page's cursor resumes exactly after that page: nothing skipped, nothing twice."""
    path = tmp_path / "leads.csv"
    path.write_text("id\n" + "".join(f"{i}\n" for i in range(10)), encoding="utf-8")
    src = source(path, external_id="id")
    pages = list(src.read(None, 4))
    assert [len(p.records) for p in pages] == [4, 4, 2]
    rest, _ = read_all(src, pages[0].cursor)
    assert [r.external_id for r in rest] == [str(i) for i in range(4, 10)]


def test_an_unclosed_quote_costs_one_line_not_the_rows_after_it(tmp_path: Path):
    """The rows an unclosed quote swallowed are read again; only its own line is set aside."""
    path = tmp_path / "leads.csv"
    path.write_text('id,name\n1,Ann\n2,"Bo\n3,Cy\n4,Di\n', encoding="utf-8")
    records, cursor = read_all(source(path, external_id="id"))
    assert [(r.ref, r.external_id, r.problem) for r in records] == [
        ("line 2", "1", None),
        ("line 3", None, "broken quoting: a quote opened on this line is never closed"),
        ("line 4", "3", None),
        ("line 5", "4", None),
    ]
    assert records[1].data == {"_raw": '2,"Bo\n'}
    assert cursor["size"] == path.stat().st_size


def test_empty_external_id_is_a_bad_row(tmp_path: Path):
    """A row without its external id is set aside, naming the column."""
    path = tmp_path / "leads.csv"
    path.write_text("id,name\n,Ann\n", encoding="utf-8")
    (record,), _ = read_all(source(path, external_id="id"))
    assert record.problem == "external id is empty"
    assert record.problem_field == "id"


def test_unknown_option_names_the_key(tmp_path: Path):
    """A typo in a source option is a config error naming the key path."""
    with pytest.raises(ConfigError) as err:
        source(tmp_path / "x.csv", delimeter=";")
    assert "sources.forms.delimeter: unknown key" in str(err.value)


def test_a_rows_values_are_read_as_they_were_when_mapped(tmp_path: Path):
    """A row's dict is built when it is first read (RowData): the null spellings are None
    (case and spaces aside), the rest as written, every column there, in order."""
    path = tmp_path / "leads.csv"
    path.write_text("id,city,title\n1, select ,VP\n2,Paris,\n", encoding="utf-8")
    records, _ = read_all(source(path, external_id="id", null_values=["", "Select"]))
    assert [dict(r.data) for r in records] == [
        {"id": "1", "city": None, "title": "VP"},
        {"id": "2", "city": "Paris", "title": None},
    ]
    first = records[0].data
    assert (len(first), list(first), first["title"], first.get("nope", "-")) == (
        3,
        ["id", "city", "title"],
        "VP",
        "-",
    )
    assert records[0].external_id == "1"


def test_a_content_hash_of_text_is_the_same_by_either_path():
    """The fast path (every value text) gives the hash the general one gives, and None
    still differs from an empty value. A hash is SHA-256's first 128 bits, in hex."""
    import hashlib

    from leadsync.connectors.base import content_hash

    def general(values: list) -> str:
        text = "\x1f".join("\x1e" if v is None else str(v) for v in values)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    assert content_hash(["a", "b", ""]) == general(["a", "b", ""])
    assert content_hash(["a", 3, None]) == general(["a", 3, None])
    assert content_hash(["a", None]) != content_hash(["a", ""])


@pytest.mark.parametrize("block", [7, 64, 1 << 16])
def test_rows_across_read_blocks_are_read_as_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
):
    """The file is read in blocks of whole lines: a quoted field over several lines, an
    unclosed quote, a Latin-1 line, blank lines and a last line still being written read
    the same whatever the block size, and every page's cursor resumes exactly there."""
    from leadsync.connectors.csv import client

    monkeypatch.setattr(client, "BLOCK", block)
    lines = [
        "id,name,note",
        '1,Ann,"two\nlines"',
        "",
        '2,Bo,"never closed',
        "3,Cy,plain",
        '4,Di,"a ""quoted"" word"',
    ]
    body = "\n".join(lines).encode("utf-8") + b"\n5,Z\xe9,latin\n6,Ed,end\n7,Fay,partial"
    path = tmp_path / "leads.csv"
    path.write_bytes(body)
    now = time.time()  # written now by this process's clock, whatever day it says
    os.utime(path, (now, now))
    src = source(path, external_id="id", settle_seconds=3600)  # the last line: being written
    pages = list(src.read(None, 2))
    records = [r for p in pages for r in p.records]
    assert [(r.ref, r.external_id, r.problem) for r in records] == [
        ("lines 2-3", "1", None),
        ("line 5", None, "broken quoting: a quote opened on this line is never closed"),
        ("line 6", "3", None),
        ("line 7", "4", None),
        ("line 8", "5", None),
        ("line 9", "6", None),
    ]
    assert records[0].data["note"] == "two\nlines"
    assert records[3].data["note"] == 'a "quoted" word'
    assert records[4].data["name"] == "Zé"
    held = len(b"7,Fay,partial")
    assert pages[-1].cursor["size"] == len(body) - held
    # Each page's cursor resumes right after it, the prefix hash matching the bytes.
    for i, page in enumerate(pages[:-1]):
        rest = [r for p in src.read(page.cursor, 2) for r in p.records]
        later = [r for p in pages[i + 1 :] for r in p.records]
        assert [r.ref for r in rest] == [r.ref for r in later]


CELLS = st.text(alphabet='ab é,"\n;\x00', max_size=6)
# Rows as wide as the header, their values anything; and rows of any width, of plain text
# (a row over several lines of the wrong width is read as broken quoting, tested above).
ROWS = st.one_of(
    st.lists(CELLS, min_size=3, max_size=3),
    st.lists(st.text(alphabet="ab é", max_size=4), min_size=1, max_size=5),
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(ROWS, max_size=12),
    ending=st.sampled_from(["\n", "\r\n"]),
    delimiter=st.sampled_from([",", ";"]),
    block=st.sampled_from([5, 64, 1 << 16]),
)
def test_every_row_reads_as_pythons_csv_reads_it(
    tmp_path_factory: pytest.TempPathFactory, rows, ending, delimiter, block
):
    """Rows with quotes, delimiters, line breaks and NULs in their values, lines ending in
    CRLF or LF, through any block size: each one that csv reads is a record with csv's values, csv's
    lines and the content hash of csv's values, whether it was split as a plain line or
    parsed; a row of the wrong width is a bad row naming its width."""
    import csv
    import io

    from leadsync.connectors.base import content_hash
    from leadsync.connectors.csv import client

    header = ["id", "b", "c"]
    text = io.StringIO(newline="")
    csv.writer(text, delimiter=delimiter, lineterminator=ending).writerows([header, *rows])
    path = tmp_path_factory.mktemp("csv") / "leads.csv"
    path.write_bytes(text.getvalue().encode("utf-8"))
    expected = []
    # A line of the file ends at a line feed (a carriage return alone ends none).
    *lines, last = text.getvalue().split("\n")
    reader = csv.reader([line + "\n" for line in lines] + [last], delimiter=delimiter)
    next(reader)
    first = reader.line_num + 1
    for values in reader:
        lines = (first, reader.line_num)
        first = reader.line_num + 1
        if values:
            expected.append((lines, values))

    before = client.BLOCK
    client.BLOCK = block
    try:
        src = source(path, delimiter=delimiter, external_id="id", null_values=[])
        records, _ = read_all(src, page_size=4)
    finally:
        client.BLOCK = before
    assert len(records) == len(expected)
    for record, ((start, end), values) in zip(records, expected, strict=True):
        assert record.ref == (f"line {start}" if start == end else f"lines {start}-{end}")
        if len(values) != len(header):
            assert record.problem == (
                f"expected 3 columns, found {len(values)} (broken quoting or a stray delimiter)"
            )
            continue
        assert dict(record.data) == dict(zip(header, values, strict=True))
        assert record.content_hash == content_hash(values)
        assert record.external_id == (values[0].strip() or None)


def test_a_carriage_return_inside_an_unquoted_value_is_a_bad_row(tmp_path: Path):
    """csv refuses a carriage return in an unquoted value; so does the plain-line split,
    which leaves such a line to csv: the row is bad, the next one read."""
    path = tmp_path / "leads.csv"
    path.write_bytes(b"id,name\r\n1,A\rnn\r\n2,Bo\r\n")
    records, _ = read_all(source(path, external_id="id"))
    assert [(r.ref, r.external_id, (r.problem or "")[:15]) for r in records] == [
        ("line 2", None, "broken quoting:"),
        ("line 3", "2", ""),
    ]
    assert dict(records[1].data) == {"id": "2", "name": "Bo"}
