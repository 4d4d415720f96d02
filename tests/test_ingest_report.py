"""The error report CSV: formula-injection guard, round trip through csv.reader, header clashes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allroads.ingest.report import (
    REPORT_EXTRA_COLUMNS,
    escape_cell,
    report_headers,
    write_error_report,
)


@dataclass(frozen=True)
class Problem:
    column: str | None
    severity: str
    code: str
    message: str


@pytest.mark.parametrize("value", ["=1+2", "+49 151 234", "-5", "@SUM(A1)", "\tx", "\r=x",
                                   "=HYPERLINK(\"http://evil\",\"click\")"])
def test_dangerous_starts_get_an_apostrophe(value: str) -> None:
    assert escape_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["", "ana@example.com", "5-3", "a=b", " =x", "'=x", "\n=x",
                                   "José", "100"])
def test_everything_else_is_unchanged(value: str) -> None:
    assert escape_cell(value) == value


@given(st.text())
def test_escape_only_ever_prepends_one_apostrophe(value: str) -> None:
    escaped = escape_cell(value)
    assert escaped in (value, "'" + value)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_report_round_trips_through_csv_reader(tmp_path: Path) -> None:
    headers = ["email", "name", "note"]
    rows = [
        (2, ["not-an-email", "Zoë, \"Z\"", "line 1\nline 2"],
         [Problem("email", "error", "INVALID_EMAIL", "Invalid email id: not-an-email"),
          Problem("name", "warning", "NAME_TRIMMED", "trimmed")]),
        (3, ["ok@example.com", "Bo", "fine"], []),
        (5, ["=cmd|' /C calc'!A0", "-Eve"], [Problem(None, "error", "FORMULA", "@risk")]),
    ]
    path = tmp_path / "errors.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        written = write_error_report(out, headers, rows)
    assert written == 3
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" b"email,name,note,row_number,column,severity,code,"
                           b"message\r\n")
    with open(path, encoding="utf-8-sig", newline="") as file:
        read = list(csv.reader(file))
    assert read == [
        [*headers, *REPORT_EXTRA_COLUMNS],
        ["not-an-email", "Zoë, \"Z\"", "line 1\nline 2", "2", "email", "error", "INVALID_EMAIL",
         "Invalid email id: not-an-email"],
        ["not-an-email", "Zoë, \"Z\"", "line 1\nline 2", "2", "name", "warning", "NAME_TRIMMED",
         "trimmed"],
        ["'=cmd|' /C calc'!A0", "'-Eve", "", "5", "", "error", "FORMULA", "'@risk"],
    ]


def test_cells_past_the_header_are_left_out() -> None:
    out = io.StringIO(newline="")
    write_error_report(out, ["a"], [(2, ["1", "2", "3"], [Problem("a", "error", "X", "m")])])
    assert out.getvalue() == ("\ufeffa,row_number,column,severity,code,message\r\n"
                              "1,2,a,error,X,m\r\n")


def test_extra_columns_that_clash_with_headers_get_suffixes() -> None:
    headers = ["code", "row_number", "row_number_", "Message"]
    assert report_headers(headers) == [*headers, "row_number__", "column", "severity", "code_",
                                       "message"]
    out = io.StringIO(newline="")
    write_error_report(out, headers, [(2, ["c", "r", "r_", "m"], [Problem(None, "warning", "W",
                                                                          "x")])])
    lines = list(csv.reader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    assert lines[0] == report_headers(headers)
    assert lines[1] == ["c", "r", "r_", "m", "2", "", "warning", "W", "x"]


def test_an_empty_report_is_just_the_header() -> None:
    out = io.StringIO(newline="")
    assert write_error_report(out, ["=evil"], []) == 0
    assert out.getvalue() == "\ufeff'=evil,row_number,column,severity,code,message\r\n"
