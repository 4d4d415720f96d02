"""Reading an uploaded table: CSV (plain or gzip-compressed) or XLSX, streamed row by row.

`open_table()` looks at the file's bytes, not only its name, to tell the format, the encoding
and the delimiter; it checks the header row and returns a `Table` whose `rows()` streams
`RawRow`s without ever holding the whole file in memory. Anything that makes a file unreadable
raises `InvalidInput` saying what is wrong, where, and what to try.

    with open_table(path, ReadLimits(), filename="customers.csv") as table:
        table.info.headers          # ["email", "name", ...]
        for row in table.rows():    # RawRow(number=2, cells=[...]), ...
            ...
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from types import TracebackType
from typing import IO, Protocol, cast

import charset_normalizer
import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from allroads.domain.errors import InvalidInput

__all__ = ["RawRow", "ReadLimits", "Table", "TableInfo", "open_table", "sniff_info"]

MAX_BYTES_SETTING = "ALLROADS_IMPORT_MAX_BYTES"
MAX_ROWS_SETTING = "ALLROADS_IMPORT_MAX_ROWS"

DELIMITERS = ",;\t|"
CHUNK = 256 * 1024  # bytes read at a time while detecting the encoding
SAMPLE_BYTES = 64 * 1024  # of the file's start, decoded to look for binary data and the header
SNIFF_CHARS = 4 * 1024  # shown to csv.Sniffer, whose regular expressions take quadratic time
# Legacy encodings charset-normalizer may choose among: the Windows code pages and the East
# Asian ones that spreadsheets still save "CSV" in. Any other guess on a short sample is noise.
LEGACY_ENCODINGS = [
    "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    "cp932", "gb18030", "big5", "cp949", "mac_roman",
]
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes the decoder could not read (surrogateescape)
SAVE_AS_CSV = 'open it in Excel and use "Save As" > "CSV UTF-8 (Comma delimited)"'


@dataclass(frozen=True)
class ReadLimits:
    max_bytes: int = 2 * 1024**3  # file size as stored (compressed size for gzip)
    max_rows: int = 5_000_000  # data rows, header excluded
    max_columns: int = 500
    max_cell_chars: int = 32_768


@dataclass(frozen=True)
class TableInfo:
    format: str  # "csv" or "xlsx"
    compression: str | None  # "gzip" or None
    encoding: str | None  # "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", ... (None: xlsx)
    delimiter: str | None  # one of DELIMITERS (None: xlsx)
    headers: list[str]  # header cells, whitespace-stripped, BOM removed
    sheet: str | None = None  # the worksheet read (xlsx: the first visible one)


@dataclass(frozen=True)
class RawRow:
    number: int  # as a spreadsheet shows it: the header is row 1, the first data row 2
    cells: list[str]


def _invalid(message: str, hint: str) -> InvalidInput:
    return InvalidInput(message, hint=hint, field="file")


def _size(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB" if n >= 1024**2 // 10 else f"{n:,} bytes"


def _column(index: int, name: str | None = None) -> str:
    """'column 3 (C)', or 'column "email" (C)' when the header is known; index is 0-based."""
    where = f'"{name}"' if name else str(index + 1)
    return f"column {where} ({get_column_letter(index + 1)})"


class _Source(Protocol):
    def records(self) -> Generator[tuple[int, list[str]], None, None]: ...  # (number, cells)
    def close(self) -> None: ...


class Table:
    """An open table: `info` as detected, `rows()` streams the data rows (each call starts over)."""

    def __init__(self, info: TableInfo, source: _Source, limits: ReadLimits, header_row: int):
        self.info = info
        self._source = source
        self._limits = limits
        self._header_row = header_row
        self._started: list[Generator[RawRow, None, None]] = []

    def rows(self) -> Iterator[RawRow]:
        """Data rows in file order. Blank rows (no cell with more than spaces) are skipped but
        still counted in `number`; empty cells past the last header column are dropped."""
        rows = self._rows()
        self._started.append(rows)
        return rows

    def _rows(self) -> Generator[RawRow, None, None]:
        width, limits, count = len(self.info.headers), self._limits, 0
        for number, cells in self._source.records():
            if number <= self._header_row:
                continue
            while len(cells) > width and not cells[-1]:
                cells.pop()
            if not "".join(cells).strip():
                continue
            count += 1
            if count > limits.max_rows:
                raise _invalid(
                    f"the file has more than {limits.max_rows:,} data rows (row {number} is "
                    f"over the limit)",
                    f"split it into files of at most {limits.max_rows:,} rows, or raise the "
                    f"limit with {MAX_ROWS_SETTING}")
            if len(cells) > limits.max_columns or max(map(len, cells)) > limits.max_cell_chars:
                _check_cells(number, cells, limits, self.info.headers)
            yield RawRow(number, cells)

    def close(self) -> None:
        for rows in self._started:
            rows.close()
        self._started.clear()
        self._source.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _check_cells(number: int, cells: list[str], limits: ReadLimits,
                 headers: list[str] | None = None) -> None:
    if len(cells) > limits.max_columns:
        raise _invalid(
            f"row {number} has {len(cells):,} cells; at most {limits.max_columns:,} columns "
            f"are read", "remove the columns you do not import, or split the file by columns")
    if cells and max(map(len, cells)) > limits.max_cell_chars:
        index = next(i for i, cell in enumerate(cells) if len(cell) > limits.max_cell_chars)
        name = headers[index] if headers and index < len(headers) else None
        raise _invalid(
            f"row {number}, {_column(index, name)}: the cell holds {len(cells[index]):,} "
            f"characters; at most {limits.max_cell_chars:,} are read",
            "shorten the cell; if it should be short, check that quotes (\") in that row are "
            "balanced")


def open_table(path: str | os.PathLike[str], limits: ReadLimits = ReadLimits(), *,
               filename: str | None = None) -> Table:
    """Open an uploaded file as a table. The bytes decide the format, not the name; `filename`
    (the name it was uploaded under, the stored path may have none) prefixes the messages of
    errors found while opening."""
    try:
        return _open(os.fspath(path), limits)
    except InvalidInput as error:
        if filename is None:
            raise
        raise InvalidInput(f"{filename}: {error.message}", hint=error.hint,
                           field=error.field) from None


def _open(path: str, limits: ReadLimits) -> Table:
    size = os.stat(path).st_size
    if size == 0:
        raise _invalid("the file is empty", "upload a file with a header row and data rows")
    if size > limits.max_bytes:
        raise _invalid(
            f"the file is {_size(size)}; the limit is {_size(limits.max_bytes)}",
            f"compress it with gzip (.csv.gz), split it, or raise the limit with "
            f"{MAX_BYTES_SETTING}")
    with open(path, "rb") as file:
        head = file.read(8)
    source: _Source
    if head.startswith(b"PK\x03\x04"):
        source = xlsx = _XlsxSource(path)
        info = TableInfo("xlsx", None, None, None, [], sheet=xlsx.sheet_name)
    else:
        _refuse_binary(head)
        compression = "gzip" if head.startswith(b"\x1f\x8b") else None
        encoding, delimiter = _sniff_csv(path, compression, limits)
        source = _CsvSource(path, compression, encoding, delimiter, limits)
        info = TableInfo("csv", compression, encoding, delimiter, [])
    try:
        header_row, headers = _read_header(source, limits)
    except BaseException:
        source.close()
        raise
    return Table(replace(info, headers=headers), source, limits, header_row)


def sniff_info(path: str | os.PathLike[str], limits: ReadLimits = ReadLimits(),
               filename: str | None = None) -> TableInfo:
    """What `open_table` detects (format, encoding, delimiter, headers), without the rows."""
    with open_table(path, limits, filename=filename) as table:
        return table.info


def _refuse_binary(head: bytes) -> None:
    """Name the common files that are not tables, so the error can say what to do instead."""
    if head.startswith(b"%PDF"):
        raise _invalid("the file is a PDF document, not a table",
                       "export the data from where it came from as CSV or XLSX")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise _invalid(
            "the file is an old Excel 97-2003 workbook (.xls) or a password-protected workbook",
            f'remove any password and save it as "Excel Workbook (.xlsx)", or {SAVE_AS_CSV}')
    if head.startswith(b"PK\x05\x06"):
        raise _invalid("the file is an empty ZIP archive", "upload the CSV or XLSX file itself")


def _read_header(source: _Source, limits: ReadLimits) -> tuple[int, list[str]]:
    records = source.records()
    try:
        found = next(((n, cells) for n, cells in records if any(c.strip() for c in cells)), None)
    finally:
        records.close()
    if found is None:
        raise _invalid("the file has no header row: it holds only blank lines",
                       "the first row must name the columns")
    number, cells = found
    headers = [cell.replace("\ufeff", "").strip() for cell in cells]
    while headers and not headers[-1]:
        headers.pop()
    _check_cells(number, headers, limits)
    empty = [_column(i) for i, name in enumerate(headers) if not name]
    if empty:
        raise _invalid(f"the header row (row {number}) has no name in {', '.join(empty)}",
                       "give every column a name in the first row, or delete empty columns")
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(headers):
        seen.setdefault(name.casefold(), []).append(i)
    duplicates = ["; ".join(_column(i, headers[i]) for i in places)
                  for places in seen.values() if len(places) > 1]
    if duplicates:
        raise _invalid(
            f"the header row (row {number}) names columns more than once (names are compared "
            f"ignoring case): {' and '.join(duplicates)}",
            "give each column a different name, or delete the repeated column")
    return number, headers


# CSV ----------------------------------------------------------------------------------------


def _sniff_csv(path: str, compression: str | None, limits: ReadLimits) -> tuple[str, str]:
    with _binary(path, compression) as stream:
        first = _read(stream, CHUNK)
        if not first:
            raise _invalid("the file is empty", "the compressed file holds no data")
        if first.startswith(b"PK\x03\x04"):
            raise _invalid("the gzip file holds a ZIP or XLSX file, not CSV",
                           "upload the .xlsx or .zip contents uncompressed")
        _refuse_binary(first)
        encoding = _bom_encoding(first) or _utf16_without_bom(first)
        if encoding is None:
            # Find the first chunk that is not plain ASCII: ASCII is valid in every candidate,
            # so only bytes above 127 tell the encodings apart.
            chunk, scanned = first, len(first)
            while chunk.isascii() and len(chunk) == CHUNK and scanned < limits.max_bytes:
                chunk = _read(stream, CHUNK)
                scanned += len(chunk)
            at_end = len(chunk) < CHUNK
            encoding = "utf-8" if _decodes(chunk, "utf-8", at_end) else _legacy_encoding(chunk)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(first[:SAMPLE_BYTES])
    _refuse_control_characters(text)
    start = text.lstrip("\ufeff \t\r\n")[:20].lower()
    if start.startswith(("<!doctype html", "<html", "<?xml", "<table")):
        raise _invalid("the file is a web page or XML document, not CSV (some systems export "
                       "these with an .xls name)", f"{SAVE_AS_CSV}, or save it as .xlsx")
    return encoding, _delimiter(text)


def _binary(path: str, compression: str | None) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(path, "rb")) if compression else open(path, "rb")


def _read(stream: IO[bytes], size: int) -> bytes:
    try:
        return stream.read(size)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise _gzip_error(error, "") from None


def _gzip_error(error: Exception, where: str) -> InvalidInput:
    if isinstance(error, EOFError):
        return _invalid(f"the gzip stream is truncated: the file ends early{where}",
                        "upload the complete file again, or compress it again")
    return _invalid(f"the gzip file is damaged{where}: {error}",
                    "compress the file again, or upload it uncompressed")


def _bom_encoding(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM: most characters of a table are ASCII, so every other byte is 0."""
    sample = data[:SAMPLE_BYTES]
    if b"\0" not in sample:
        return None
    pairs = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > pairs * 0.3 and even < pairs * 0.05:
        return "utf-16-le"
    if even > pairs * 0.3 and odd < pairs * 0.05:
        return "utf-16-be"
    raise _invalid("the file is binary, not a text table (it holds NUL bytes)",
                   f"upload a CSV or XLSX file; if this is a spreadsheet, {SAVE_AS_CSV}")


def _refuse_control_characters(text: str) -> None:
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f")
    if controls > len(text) // 200:
        raise _invalid("the file is binary, not a text table (it holds control characters)",
                       f"upload a CSV or XLSX file; if this is a spreadsheet, {SAVE_AS_CSV}")


def _decodes(data: bytes, encoding: str, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _legacy_encoding(sample: bytes) -> str:
    """The encoding of a sample that is not UTF-8. charset-normalizer's guess is taken when it
    reads as words in a non-Latin script (Cyrillic, Greek, CJK, ...); for Latin text its
    guesses among the Latin code pages are noise on short samples, so Excel's Western default,
    cp1252, is used (and when nothing fits)."""
    best = charset_normalizer.from_bytes(sample, cp_isolation=LEGACY_ENCODINGS).best()
    if best is not None and _non_latin_words(str(best)):
        return str(best.encoding)
    if best is None or _decodes(sample, "cp1252", final=False):
        return "cp1252"
    return str(best.encoding)


def _non_latin_words(text: str) -> bool:
    """True when the text has words in a non-Latin script and (almost) none mixing scripts:
    a wrong code page turns "Renée" into "Ren" + a CJK character, mixed in one word."""
    def latin(ch: str) -> bool:
        return ord(ch) < 0x370 or 0x1E00 <= ord(ch) <= 0x1EFF  # to IPA; Latin Ext. Additional

    def foreign(ch: str) -> bool:
        return not latin(ch) and not 0xFF61 <= ord(ch) <= 0xFF9F  # half-width katakana: À-ß

    words = [word for word in re.findall(r"[^\W\d_]+", text) if any(map(foreign, word))]
    return bool(words) and sum(any(map(latin, word)) for word in words) <= len(words) // 10


def _delimiter(text: str) -> str:
    """csv.Sniffer's choice among DELIMITERS if the header row holds it; else the candidate seen
    most in the header row (outside quotes); "," for a single column."""
    header = re.sub(r'"[^"]*"?', "", _first_record(text))
    sample = text[:SNIFF_CHARS]
    if "\n" in sample:
        sample = sample[:sample.rindex("\n") + 1]  # whole lines only
    try:
        found: str | None = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = None
    if found is not None and found in header:
        return found
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    best = max(DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _first_record(text: str) -> str:
    """The text up to the first line break outside quotes."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            return text[:i]
    return text


class _Lines:
    """The lines of a text stream for csv.reader, refusing a record longer than `limit`
    characters: a file without line breaks, or a quote left open, would otherwise be read
    whole into memory. `used` is reset after every record."""

    def __init__(self, stream: IO[str], limit: int) -> None:
        self.stream, self.limit, self.used = stream, limit, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.stream.readline(self.limit - self.used + 1)
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > self.limit:
            raise _RecordTooLong
        return line


class _RecordTooLong(Exception):
    pass


class _CsvSource:
    def __init__(self, path: str, compression: str | None, encoding: str, delimiter: str,
                 limits: ReadLimits) -> None:
        self.path, self.compression, self.encoding = path, compression, encoding
        self.delimiter, self.limits = delimiter, limits
        # csv's own per-field limit (131,072) must not refuse cells that max_cell_chars allows.
        if csv.field_size_limit() <= limits.max_cell_chars:
            csv.field_size_limit(limits.max_cell_chars + 1)

    def records(self) -> Generator[tuple[int, list[str]], None, None]:
        limit = self.limits.max_columns * (self.limits.max_cell_chars + 3)
        # Undecodable bytes become lone surrogates (U+DC80-U+DCFF) so that the error can name
        # the row and column they are in, not the block the decoder happened to be reading.
        with _binary(self.path, self.compression) as raw, io.TextIOWrapper(
                raw, encoding=self.encoding, errors="surrogateescape", newline="") as text:
            lines = _Lines(text, limit)
            number = 0
            try:
                for record in csv.reader(lines, delimiter=self.delimiter, strict=True):
                    number += 1
                    lines.used = 0
                    joined = "".join(record)
                    if not joined.isascii() and _ESCAPED.search(joined):
                        raise self._undecodable(number, record)
                    yield number, record
            except UnicodeDecodeError:  # bytes below 128 that the encoding (UTF-16) rejects
                raise _invalid(f"the file is not valid {self.encoding} near row {number + 1}",
                               f"{SAVE_AS_CSV}; the file may mix two encodings") from None
            except _RecordTooLong:
                raise _invalid(
                    f"row {number + 1} is longer than {limit:,} characters (the column limit "
                    f"times the cell limit)",
                    "check that the row's quotes (\") are balanced: a quote left open makes "
                    "the rest of the file one cell") from None
            except csv.Error as error:
                raise _csv_error(error, number + 1) from None
            except (EOFError, gzip.BadGzipFile, zlib.error) as error:
                raise _gzip_error(error, f" (near row {number + 1})") from None

    def _undecodable(self, number: int, record: list[str]) -> InvalidInput:
        index = next(i for i, cell in enumerate(record) if _ESCAPED.search(cell))
        cell = record[index]
        found = _ESCAPED.search(cell)
        assert found is not None
        start = found.start()
        shown = cell[max(0, start - 10):start + 10].encode(self.encoding, "surrogateescape")
        return _invalid(
            f"row {number}, {_column(index)}: the bytes {shown!r} are not valid "
            f"{self.encoding}, the encoding the rest of the file is in",
            f"{SAVE_AS_CSV}; the file mixes two encodings, or was damaged")

    def close(self) -> None:
        pass  # each records() call opens and closes its own stream


def _csv_error(error: csv.Error, number: int) -> InvalidInput:
    text = str(error)
    if "field larger than field limit" in text:
        return _invalid(f"row {number}: a cell is longer than {csv.field_size_limit() - 1:,} "
                        f"characters", "check that the quotes (\") in that row are balanced")
    if "unexpected end of data" in text:
        return _invalid(f"row {number}: a quoted cell is still open at the end of the file",
                        "a cell that starts with \" must end with \"; check that row's quotes")
    if "expected after" in text:
        return _invalid(f"row {number}: a quoted cell has text after its closing quote ({text})",
                        'inside a quoted cell, write a quote twice ("") or remove the quotes')
    return _invalid(f"row {number} cannot be read as CSV: {text}", SAVE_AS_CSV)


# XLSX ---------------------------------------------------------------------------------------

_XLSX_ERRORS = (InvalidFileException, zipfile.BadZipFile, zlib.error, KeyError, ValueError,
                TypeError, SyntaxError, OSError, EOFError)


class _XlsxSource:
    def __init__(self, path: str) -> None:
        _check_zip(path)
        # A file object, not the path: openpyxl refuses paths without an .xlsx extension.
        self._file = open(path, "rb")  # noqa: SIM115 (open while the Table is)
        try:
            self._book = openpyxl.load_workbook(self._file, read_only=True, data_only=True)
        except _XLSX_ERRORS as error:
            self._file.close()
            raise _invalid(f"the XLSX workbook cannot be opened: {error}",
                           f"open it in Excel and save it again, or {SAVE_AS_CSV}") from None
        sheets = self._book.worksheets
        if not sheets:
            self.close()
            raise _invalid("the XLSX workbook has no worksheet", "add the data on a worksheet")
        self._sheet = next((s for s in sheets if s.sheet_state == "visible"), sheets[0])
        self._sheet.reset_dimensions()  # stale dimensions would pad every row with empties
        self.sheet_name: str = self._sheet.title

    def records(self) -> Generator[tuple[int, list[str]], None, None]:
        number = 0
        try:
            for number, values in enumerate(self._sheet.iter_rows(values_only=True), start=1):
                yield number, [_cell_text(value) for value in values]
        except _XLSX_ERRORS as error:
            raise _invalid(
                f'the worksheet "{self.sheet_name}" is damaged after row {number}: {error}',
                f"open it in Excel and save it again, or {SAVE_AS_CSV}") from None

    def close(self) -> None:
        self._book.close()
        self._file.close()


def _check_zip(path: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            kind = archive.read("mimetype")[:64] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        raise _invalid(f"the file looks like a ZIP or XLSX file but is damaged: {error}",
                       "upload it again; if it is a workbook, open it in Excel and save "
                       "it again") from None
    if "xl/workbook.xml" in names:
        return
    if "xl/workbook.bin" in names:
        raise _invalid("the file is a binary Excel workbook (.xlsb)",
                       f'save it as "Excel Workbook (.xlsx)", or {SAVE_AS_CSV}')
    if b"opendocument.spreadsheet" in kind:
        raise _invalid("the file is an OpenDocument spreadsheet (.ods)",
                       "save it as .xlsx or as CSV (UTF-8)")
    raise _invalid("the file is a ZIP archive that is not an XLSX workbook",
                   "unzip it and upload the CSV or XLSX file inside")


def _cell_text(value: object) -> str:
    """An XLSX cell as text: integers without ".0", dates ISO 8601 (a date without its
    midnight time), numbers to Excel's 15 significant digits, booleans TRUE/FALSE."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.15g}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
