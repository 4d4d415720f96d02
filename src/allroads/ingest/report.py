"""The error report of an import: the rejected and warned rows as a CSV file to fix and upload.

Each line is one issue: the row's original cells, then where and what the issue is
(REPORT_EXTRA_COLUMNS). The file is UTF-8 with a byte order mark, so Excel opens accented text
correctly on double-click, and every cell is guarded against formula injection (`escape_cell`):
a report is made of what users uploaded and is opened in a spreadsheet.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Protocol, TextIO

__all__ = ["REPORT_EXTRA_COLUMNS", "ReportIssue", "escape_cell", "report_headers",
           "write_error_report"]

REPORT_EXTRA_COLUMNS = ("row_number", "column", "severity", "code", "message")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReportIssue(Protocol):
    """What the report needs of an issue; any object with these attributes fits."""

    @property
    def column(self) -> str | None: ...
    @property
    def severity(self) -> str: ...  # "error" or "warning"
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


def escape_cell(value: str) -> str:
    """A cell a spreadsheet could run as a formula (it starts with = + - @, a tab or a carriage
    return) gets a leading apostrophe, as OWASP's CSV injection advice says; the spreadsheet
    then shows it as text. Everything else is returned unchanged."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def report_headers(headers: Sequence[str]) -> list[str]:
    """The report's header: the file's headers, then REPORT_EXTRA_COLUMNS, each given "_"
    suffixes until it differs from every header of the file."""
    taken = set(headers)
    extra = []
    for name in REPORT_EXTRA_COLUMNS:
        while name in taken:
            name += "_"
        taken.add(name)
        extra.append(name)
    return [*headers, *extra]


def write_error_report(out: TextIO, headers: Sequence[str],
                       rows: Iterable[tuple[int, Sequence[str], Sequence[ReportIssue]]]) -> int:
    """Write the report to `out` (open it with encoding="utf-8" and newline=""; the byte order
    mark is written here) and return the number of issue lines written, the header excluded.

    `rows` holds (row number, original cells, issues); a row is written once per issue, its
    cells padded with empty cells to the header's width (cells past it are left out).
    """
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
    out.write("\ufeff")
    writer.writerow([escape_cell(name) for name in report_headers(headers)])
    width, written = len(headers), 0
    for number, cells, issues in rows:
        original = [*cells[:width], *[""] * (width - len(cells))]
        for issue in issues:
            line = [*original, str(number), issue.column or "", str(issue.severity), issue.code,
                    issue.message]
            writer.writerow([escape_cell(cell) for cell in line])
            written += 1
    return written
