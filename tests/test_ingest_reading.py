"""Reading uploaded tables: formats, encodings, delimiters, limits and the errors for bad files.

Every test writes a real file to tmp_path and reads it with open_table.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import string
import tracemalloc
import zipfile
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allroads.domain.errors import InvalidInput
from allroads.ingest.reading import CHUNK, RawRow, ReadLimits, TableInfo, open_table, sniff_info

ROWS = [["email", "name", "city"],
        ["ana@example.com", "José Müller", "Köln"],
        ["bo@example.com", "Zoë Œuvre", "5 €"]]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    with open(path, "w", encoding=encoding, newline="") as file:
        csv.writer(file, delimiter=delimiter).writerows(rows)
    return path


def read(path: Path, limits: ReadLimits = ReadLimits(), **kwargs: str) -> tuple[TableInfo,
                                                                                list[RawRow]]:
    with open_table(path, limits, **kwargs) as table:
        return table.info, list(table.rows())


def error(path: Path, limits: ReadLimits = ReadLimits(), **kwargs: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        read(path, limits, **kwargs)
    assert caught.value.hint, "every read error says what to try"
    return caught.value


# Encodings and delimiters ---------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "detected"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252"),
    ("utf-16", "utf-16"), ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"),
])
def test_every_encoding_reads_back_the_same_text(tmp_path: Path, encoding: str,
                                                 detected: str) -> None:
    path = write_csv(tmp_path / "people.csv", ROWS, encoding)
    info, rows = read(path)
    assert (info.format, info.compression, info.encoding, info.delimiter) == \
        ("csv", None, detected, ",")
    assert info.headers == ["email", "name", "city"]  # no BOM left on "email"
    assert [row.cells for row in rows] == ROWS[1:]
    assert [row.number for row in rows] == [2, 3]


def test_utf16_bom_big_endian(tmp_path: Path) -> None:
    path = tmp_path / "be.csv"
    path.write_bytes(b"\xfe\xff" + "a,b\r\nÉ,€\r\n".encode("utf-16-be"))
    info, rows = read(path)
    assert info.encoding == "utf-16" and rows[0].cells == ["É", "€"]


def test_non_ascii_far_into_an_ascii_file_decides_the_encoding(tmp_path: Path) -> None:
    """The first megabytes are ASCII, the one accented name comes last (cp1252 from Excel)."""
    rows = [["id", "name"]] + [[str(i), "Smith"] for i in range(200_000)] + [["x", "Renée"]]
    info, read_rows = read(write_csv(tmp_path / "late.csv", rows, "cp1252"))
    assert info.encoding == "cp1252"
    assert read_rows[-1] == RawRow(200_002, ["x", "Renée"])


def test_cyrillic_in_cp1251_is_recognised(tmp_path: Path) -> None:
    rows = [["name", "city"], ["Иван Петров", "Москва"], ["Ольга Смирнова", "Санкт-Петербург"]]
    info, read_rows = read(write_csv(tmp_path / "ru.csv", rows, "cp1251"))
    assert info.encoding == "cp1251"
    assert [row.cells for row in read_rows] == rows[1:]


def test_utf8_sample_boundary_inside_a_character(tmp_path: Path) -> None:
    """A multi-byte character cut by the detection chunk must not look like cp1252."""
    start = b"h,i\n" + b"a,b\n" * (CHUNK // 4 - 2)  # CHUNK - 4 bytes
    path = tmp_path / "cut.csv"
    path.write_bytes(start + b"xx," + "€€€\n".encode())  # the first € starts at CHUNK - 1
    info, rows = read(path)
    assert info.encoding == "utf-8" and rows[-1].cells == ["xx", "€€€"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_every_delimiter(tmp_path: Path, delimiter: str) -> None:
    rows = [["id", "name", "note"], ["1", "Ana", "a, b; c"], ["2", "Bo", "x|y\tz"]]
    info, read_rows = read(write_csv(tmp_path / "d.csv", rows, delimiter=delimiter))
    assert info.delimiter == delimiter
    assert [row.cells for row in read_rows] == rows[1:]


def test_single_column_file(tmp_path: Path) -> None:
    info, rows = read(write_csv(tmp_path / "one.csv", [["email"], ["a@x.io"], ["b@x.io"]]))
    assert info.headers == ["email"] and [r.cells for r in rows] == [["a@x.io"], ["b@x.io"]]


def test_quoted_newlines_crlf_and_blank_rows_keep_true_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b'id,address\r\n1,"12 Main St\r\nApt 4"\r\n\r\n,\r\n2,"say ""hi"""\r\n'
                     b"  ,  \r\n3,last")
    info, rows = read(path)
    assert info.headers == ["id", "address"]
    assert rows == [RawRow(2, ["1", "12 Main St\r\nApt 4"]), RawRow(5, ["2", 'say "hi"']),
                    RawRow(7, ["3", "last"])]


def test_header_cells_are_stripped_and_trailing_empty_columns_dropped(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b"\xef\xbb\xbf email , name ,,\r\na@x.io,Ana,,\r\nb@x.io,Bo,,extra\r\n")
    info, rows = read(path)
    assert info.headers == ["email", "name"]
    assert [r.cells for r in rows] == [["a@x.io", "Ana"], ["b@x.io", "Bo", "", "extra"]]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    info, rows = read(write_csv(tmp_path / "h.csv", [["email", "name"]]))
    assert info.headers == ["email", "name"] and rows == []


def test_rows_can_be_read_again_and_sniff_info_reads_none(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", ROWS)
    with open_table(path) as table:
        assert list(table.rows()) == list(table.rows())
    assert sniff_info(path).headers == ROWS[0]


# Gzip -----------------------------------------------------------------------------------------

def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "upload"  # stored without an extension
    path.write_bytes(gzip.compress(write_csv(tmp_path / "p.csv", ROWS, "cp1252",
                                             ";").read_bytes()))
    info, rows = read(path, filename="people.csv.gz")
    assert (info.compression, info.encoding, info.delimiter) == ("gzip", "cp1252", ";")
    assert [r.cells for r in rows] == ROWS[1:]


def test_truncated_gzip(tmp_path: Path) -> None:
    rows = [["id", "name"]] + [[str(i), f"name {i}"] for i in range(50_000)]
    data = gzip.compress(write_csv(tmp_path / "p.csv", rows).read_bytes())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    assert "the gzip stream is truncated" in error(path).message


def test_damaged_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b"a,b\n1,2\n"))
    data[-8] ^= 0xFF  # the CRC
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(bytes(data))
    assert "the gzip file is damaged" in error(path).message


# XLSX -----------------------------------------------------------------------------------------

def write_xlsx(path: Path, sheets: dict[str, list[list[object]]],
               hidden: tuple[str, ...] = ()) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def test_xlsx_values_become_text(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "upload.bin", {"Customers": [
        ["email", " joined ", "score", "visits", "vip", "at", "phone", 2024],
        ["a@x.io", date(2024, 3, 1), 0.1 + 0.2, 12, True, datetime(2024, 3, 1, 14, 30),
         4915112345678, None],
        ["b@x.io", datetime(2023, 12, 31), 2.5, 3.0, False, time(9, 15), "+49 151", "x"],
    ]})
    info, rows = read(path, filename="customers.xlsx")
    assert (info.format, info.encoding, info.delimiter, info.sheet) == \
        ("xlsx", None, None, "Customers")
    assert info.headers == ["email", "joined", "score", "visits", "vip", "at", "phone", "2024"]
    assert rows == [
        RawRow(2, ["a@x.io", "2024-03-01", "0.3", "12", "TRUE", "2024-03-01T14:30:00",
                   "4915112345678"]),
        RawRow(3, ["b@x.io", "2023-12-31", "2.5", "3", "FALSE", "09:15:00", "+49 151", "x"]),
    ]


def test_xlsx_first_visible_sheet_blank_rows_and_gaps(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "b.xlsx", {
        "Notes": [["ignore me"]],
        "Data": [["id", "name"], ["1", "Ana"], [None, None], ["3", "Cy"]],
    }, hidden=("Notes",))
    book = openpyxl.load_workbook(path)
    book["Data"]["B7"] = "Ed"  # rows 5 and 6 do not exist in the sheet's XML at all
    book.save(path)
    info, rows = read(path)
    assert info.sheet == "Data"
    assert rows == [RawRow(2, ["1", "Ana"]), RawRow(4, ["3", "Cy"]), RawRow(7, ["", "Ed"])]


def test_zip_that_is_not_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("people.csv", "a,b\n")
    assert "ZIP archive that is not an XLSX" in error(path).message


def test_damaged_xlsx(tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "ok.xlsx", {"S": [["a"], ["b"]]}).read_bytes()
    path = tmp_path / "bad.xlsx"
    path.write_bytes(data[: len(data) // 2])
    assert "damaged" in error(path).message


# Files that are not tables -------------------------------------------------------------------

@pytest.mark.parametrize(("content", "says"), [
    (b"", "the file is empty"),
    (gzip.compress(b""), "the file is empty"),
    (b"\r\n\r\n  \r\n", "no header row"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "Excel 97-2003"),
    (b"PK\x05\x06" + bytes(18), "empty ZIP"),
    (bytes(range(256)) * 40, "binary"),
    (os.urandom(20_000), "binary"),
    (b"name,notes\n" + bytes(range(1, 32)) * 10, "binary"),
    (b"\xef\xbb\xbf<!DOCTYPE html><html><table><tr><td>a</td></tr></table>", "web page"),
    ("\ufeff<?xml version='1.0'?><Workbook/>".encode("utf-16"), "XML document"),
])
def test_not_a_table(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert says in error(path).message


def test_filename_prefixes_open_errors(tmp_path: Path) -> None:
    path = tmp_path / "stored-0001"
    path.write_bytes(b"%PDF-1.4\n")
    assert error(path, filename="report.csv").message.startswith("report.csv: the file is a PDF")


@pytest.mark.parametrize(("header", "says"), [
    ("email,,name", 'no name in column 2 (B)'),
    ("email,Name,x,name", 'column "Name" (B); column "name" (D)'),
])
def test_bad_header(tmp_path: Path, header: str, says: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(header + "\n1,2,3,4\n")
    assert says in error(path).message


def test_invalid_utf8_after_valid_utf8_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    good = "".join(f"{i},Zoë\n" for i in range(30_000)).encode()  # past the detection chunk
    path.write_bytes(b"id,name\n" + good + b"x,Ren\xe9e\n")
    message = error(path).message
    assert message.startswith("row 30002, column 2 (B): the bytes b'Ren\\xe9e' are not valid utf-8")


def test_unclosed_quote_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,"open\n2,3\n')
    assert "still open at the end of the file" in error(path).message


def test_text_after_a_closing_quote(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,"quoted"tail\n')
    assert "row 2: a quoted cell has text after its closing quote" in error(path).message


# Limits --------------------------------------------------------------------------------------

def test_size_limit_names_the_setting(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [["a"]] + [["x" * 100]] * 2000)
    found = error(path, ReadLimits(max_bytes=150_000))
    assert found.message == "the file is 0.2 MB; the limit is 0.1 MB"
    assert "ALLROADS_IMPORT_MAX_BYTES" in (found.hint or "")
    assert error(path, ReadLimits(max_bytes=1000)).message.endswith("the limit is 1,000 bytes")
    assert len(read(path, ReadLimits(max_bytes=path.stat().st_size))[1]) == 2000


def test_row_limit_streams_up_to_the_limit_then_names_the_setting(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", [["a"]] + [[str(i)] for i in range(11)])
    with open_table(path, ReadLimits(max_rows=10)) as table:
        rows = table.rows()
        assert [next(rows).number for _ in range(10)] == list(range(2, 12))
        with pytest.raises(InvalidInput) as caught:
            next(rows)
    assert "more than 10 data rows" in caught.value.message
    assert "ALLROADS_IMPORT_MAX_ROWS" in (caught.value.hint or "")
    assert len(read(path, ReadLimits(max_rows=11))[1]) == 11


def test_row_limit_in_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", {"S": [["id"]] + [[i] for i in range(4)]})
    assert "more than 3 data rows (row 5 is over the limit)" in \
        error(path, ReadLimits(max_rows=3)).message


def test_column_limit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "wide.csv", [[f"c{i}" for i in range(6)], ["1"] * 6])
    assert "at most 5 columns" in error(path, ReadLimits(max_columns=5)).message
    path = write_csv(tmp_path / "row.csv", [["a", "b"], ["1"] * 9])
    assert "row 2 has 9 cells" in error(path, ReadLimits(max_columns=5)).message


@pytest.mark.parametrize("limit", [10, 200_000])
def test_cell_limit(tmp_path: Path, limit: int) -> None:
    path = write_csv(tmp_path / "p.csv", [["id", "note"], ["1", "x" * limit],
                                          ["2", "y" * (limit + 1)]])
    message = error(path, ReadLimits(max_cell_chars=limit)).message
    assert message.startswith(f'row 3, column "note" (B): the cell holds {limit + 1:,}')


def test_a_file_without_line_breaks_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("a,b\n" + "x," * 10_000_000)
    tracemalloc.start()
    try:
        message = error(path, ReadLimits(max_columns=100, max_cell_chars=100)).message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message.startswith("row 2 is longer than 10,300 characters")
    assert peak < 3_000_000, f"peak {peak:,} bytes for a file of 20 MB"


def test_reading_streams(tmp_path: Path) -> None:
    """200,000 rows (~9 MB) read with a small peak of traced memory."""
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "email", "name", "city"])
        writer.writerows([str(i), f"user{i}@example.com", f"Zoë Name {i}", "Köln"]
                         for i in range(200_000))
    tracemalloc.start()
    try:
        with open_table(path) as table:
            count = sum(1 for _ in table.rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 2_000_000, f"peak {peak:,} bytes for a file of {path.stat().st_size:,}"


# Round trip ----------------------------------------------------------------------------------

WESTERN_WORDS = ["José", "Müller", "Renée", "Straße", "Ærøskøbing", "façade", "crème brûlée",
                 "Zoë", "Œuvre", "5 €", "£10", "Ångström", "señor", "naïve", "Çelik", "déjà vu"]


def cell_text(encoding: str) -> st.SearchStrategy[str]:
    """Text each encoding can carry and its detection can recognise."""
    if encoding == "cp1252":
        # A legacy code page can only be recognised statistically, from words: random byte soup
        # is text in none of them. So cells are ASCII text and accented Western words.
        ascii_text = st.text(st.sampled_from(string.printable[:95] + "\n\r\t"), max_size=6)
        return st.lists(st.one_of(ascii_text, st.sampled_from(WESTERN_WORDS)),
                        max_size=3).map(" ".join)
    if encoding == "utf-16-le":
        # Without a BOM, UTF-16 is recognised by its NUL bytes: text mostly below U+0100.
        return st.text(st.characters(max_codepoint=0xFF, exclude_categories=("Cc",),
                                     include_characters="\n\r\t"), max_size=12)
    return st.text(st.characters(codec=encoding, exclude_categories=("Cc", "Cs"),
                                 include_characters="\n\r\t", exclude_characters="\ufeff"),
                   max_size=12)


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, str, list[list[str]]]:
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "utf-16-le"]))
    delimiter = draw(st.sampled_from(",;\t|"))
    others = set(",;\t|") - {delimiter}  # a cell holding another candidate makes it ambiguous
    cells = cell_text(encoding).map(lambda text: "".join(ch for ch in text if ch not in others))
    width = draw(st.integers(2, 5))
    header = draw(st.lists(cells.map(str.strip).filter(bool), min_size=width, max_size=width,
                           unique_by=str.casefold))
    body = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=8))
    return encoding, delimiter, [header, *body]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_any_table_reads_back_identical(tmp_path: Path,
                                        table: tuple[str, str, list[list[str]]]) -> None:
    encoding, delimiter, rows = table
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path = tmp_path / "t.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))
    info, read_rows = read(path)
    assert info.headers == rows[0]
    assert info.delimiter == delimiter
    expected = [(number, cells) for number, cells in enumerate(rows[1:], start=2)
                if any(cell.strip() for cell in cells)]
    assert [(row.number, row.cells) for row in read_rows] == expected
