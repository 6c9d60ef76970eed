"""Reading spreadsheets (XLSX or CSV) row by row, flat in memory, whatever the encoding."""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app
from flask_babel import format_number
from flask_babel import lazy_gettext as _l
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import nfc

XLSX_MAGIC = b"PK\x03\x04"
_TEXT_TAG = f"{{{SHEET_MAIN_NS}}}t"
#: tried in order for CSV files without a byte-order mark (cp1258: Vietnamese Windows)
CSV_ENCODINGS = ("utf-8", "cp1258")
#: the most XML one row of a sheet (or what lies between two rows) may take: the parser holds
#: a row's elements in memory until its end, so this bounds memory whatever a cell holds (a
#: real row is a few hundred bytes; a clan's 20,000-character member list about 60 KB)
MAX_ROW_XML_BYTES = 2 * 1024 * 1024
#: the start of a row element, with or without a namespace prefix (<row …>, <x:row …>)
_ROW_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
_CELL_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s>/]")
_BROKEN_XLSX = _l("Tệp Excel bị hỏng hoặc không đúng định dạng .xlsx.")
_RESAVE_XLSX = _l("Mở lại tệp bằng Excel và lưu ở dạng .xlsx")


@dataclass(frozen=True)
class ReadLimits:
    """What one file may hold (the IMPORT_MAX_* settings)."""

    rows: int
    cells: int
    unpacked_bytes: int
    shared_bytes: int

    @classmethod
    def from_config(cls) -> ReadLimits:
        config = current_app.config
        return cls(
            rows=config["IMPORT_MAX_ROWS"],
            cells=config["IMPORT_MAX_CELLS"],
            unpacked_bytes=config["IMPORT_MAX_UNPACKED_BYTES"],
            shared_bytes=config["IMPORT_MAX_SHARED_BYTES"],
        )


def _megabytes(size: int) -> str:
    return format_number(max(1, round(size / (1024 * 1024))))


class _Tally:
    """Rows and cells read so far; refuses the file as soon as it holds more than allowed."""

    def __init__(self, limits: ReadLimits):
        self.limits, self.rows, self.cells = limits, 0, 0

    def add(self, cells: int) -> None:
        self.rows += 1
        self.cells += cells
        self.check(self.rows, self.cells)

    def check(self, rows: int, cells: int) -> None:
        """Refuse a file of ``rows`` rows and ``cells`` cells, if more than allowed."""
        if rows > self.limits.rows:
            raise InvalidInput(
                _l(
                    "Tệp có hơn %(rows)s dòng (kể cả dòng trống).",
                    rows=format_number(self.limits.rows),
                ),
                details={
                    "file": _l("Chia danh sách thành nhiều tệp; xóa các dòng trống cuối bảng")
                },
            )
        if cells > self.limits.cells:
            raise InvalidInput(
                _l(
                    "Tệp có hơn %(cells)s ô (kể cả ô trống đã định dạng).",
                    cells=format_number(self.limits.cells),
                ),
                details={"file": _l("Chỉ giữ các cột của tệp mẫu, hoặc chia thành nhiều tệp")},
            )


def _check_parts(archive: zipfile.ZipFile, limits: ReadLimits) -> int:
    """The workbook's size unpacked, as its zip declares it (a part is never read past its
    declared size: zipfile stops there and the CRC check fails); refuse it over the limit, or
    packed other than as Excel packs (stored or deflated)."""
    unpacked = 0
    for item in archive.infolist():
        if item.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InvalidInput(_BROKEN_XLSX, details={"file": _RESAVE_XLSX})
        unpacked += item.file_size
    if unpacked > limits.unpacked_bytes:
        raise InvalidInput(
            _l(
                "Tệp Excel khi giải nén lớn hơn %(mb)s MB.",
                mb=_megabytes(limits.unpacked_bytes),
            ),
            details={
                "file": _l(
                    "Xóa các trang tính, hình ảnh và cột không cần, hoặc chia danh sách thành "
                    "nhiều tệp"
                )
            },
        )
    return unpacked


def unpacked_size(raw: IO[bytes]) -> int:
    """How many bytes the file holds once unpacked: an XLSX's parts (refused over the limits),
    a CSV's own size. A broken zip is left for the check to report."""
    head = raw.read(4)
    raw.seek(0, io.SEEK_END)
    size = raw.tell()
    raw.seek(0)
    if head != XLSX_MAGIC:
        return size
    try:
        with zipfile.ZipFile(raw) as archive:
            return _check_parts(archive, ReadLimits.from_config())
    except InvalidInput:
        raise
    except Exception:  # noqa: BLE001 - a broken zip: the check reports it, with what to do
        return size
    finally:
        raw.seek(0)


def _count_rows_and_cells(source: IO[bytes], tally: _Tally) -> int:
    """Count a sheet's rows and cells on its bytes, refusing it as soon as it holds more than
    allowed: a fast first pass, so a file of too many rows is refused before the slow
    row-by-row check begins. Returns the rows (empty ones too)."""
    rows = cells = 0
    carry = b""
    while chunk := source.read(1 << 20):
        buffer = carry + chunk
        # up to the last "<": a start tag holds no "<", so none before it is cut short
        cut = max(buffer.rfind(b"<"), 0)
        rows += len(_ROW_START.findall(buffer, 0, cut))
        cells += len(_CELL_START.findall(buffer, 0, cut))
        carry = buffer[cut:]
        tally.check(rows, cells)
    rows += len(_ROW_START.findall(carry))
    tally.check(rows, cells + len(_CELL_START.findall(carry)))
    return rows


class _LimitedZip(zipfile.ZipFile):
    """The workbook's zip as openpyxl reads it: every part it reads whole (shared strings,
    styles, the workbook…) counts towards ``shared_bytes`` before it is read; the sheet the
    import streams is opened with ``open_sheet``."""

    def __init__(self, raw: IO[bytes], limits: ReadLimits):
        super().__init__(raw)
        self.limits, self.read_whole = limits, 0
        _check_parts(self, limits)

    def open(self, name, mode="r", pwd=None, **kwargs):
        if mode == "r":
            info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
            self.read_whole += info.file_size
            if self.read_whole > self.limits.shared_bytes:
                raise InvalidInput(
                    _l(
                        "Tệp Excel có phần dữ liệu dùng chung (chuỗi ký tự, định dạng) lớn hơn "
                        "%(mb)s MB khi giải nén.",
                        mb=_megabytes(self.limits.shared_bytes),
                    ),
                    details={
                        "file": _l(
                            "Xóa các ô có nội dung quá dài, hoặc chia danh sách thành nhiều tệp"
                        )
                    },
                )
        return super().open(name, mode, pwd, **kwargs)

    def open_sheet(self, name: str) -> _RowSizeGuard:
        return _RowSizeGuard(zipfile.ZipFile.open(self, name))


class _RowSizeGuard:
    """A sheet's XML as the parser reads it, refused when one row (or what lies between two
    rows) takes more than MAX_ROW_XML_BYTES."""

    def __init__(self, source: IO[bytes]):
        self.source, self.since_row = source, 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        last = 0
        for match in _ROW_START.finditer(data):
            self._check(self.since_row + match.start() - last)
            self.since_row, last = 0, match.start()
        self.since_row += len(data) - last
        self._check(self.since_row)
        return data

    @staticmethod
    def _check(size: int) -> None:
        if size > MAX_ROW_XML_BYTES:
            raise InvalidInput(
                _l(
                    "Tệp Excel có một dòng lớn hơn %(mb)s MB.",
                    mb=_megabytes(MAX_ROW_XML_BYTES),
                ),
                details={"file": _l("Mỗi ô chỉ ghi một giá trị ngắn; xóa các ô quá dài")},
            )

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _LimitedReader(ExcelReader):
    """openpyxl's reader over a _LimitedZip, reading only what the import needs: the shared
    strings, the workbook (its sheets and date system) and the styles (which cells are dates).

    openpyxl's own read-only load opens every sheet to learn its size, and parses a sheet that
    does not declare one (no <dimension>) to its end, whatever it holds; here the first sheet
    is only streamed, row by row, by ``_xlsx_rows``."""

    def __init__(self, raw: IO[bytes], limits: ReadLimits):
        super().__init__(raw, read_only=True, data_only=True)
        self.archive.close()  # openpyxl's own zip, replaced by one that keeps the limits
        self.archive = _LimitedZip(raw, limits)
        self.valid_files = self.archive.namelist()

    def read(self) -> None:
        self.read_manifest()
        self.read_strings()
        self.read_workbook()
        apply_stylesheet(self.archive, self.wb)
        self.sheet_paths = [
            rel.target
            for _sheet, rel in self.parser.find_sheets()
            if rel.target in self.valid_files and "chartsheet" not in rel.Type
        ]

    def open_first_sheet(self) -> _RowSizeGuard:
        if not self.sheet_paths:
            raise InvalidInput(_BROKEN_XLSX, details={"file": _RESAVE_XLSX})
        return self.archive.open_sheet(self.sheet_paths[0])

    def close(self) -> None:
        self.archive.close()


def _open_workbook(raw: IO[bytes], limits: ReadLimits) -> _LimitedReader:
    """The workbook, ready to stream its first sheet; refused over the limits."""
    try:
        reader = _LimitedReader(raw, limits)
        reader.read()
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise InvalidInput(_BROKEN_XLSX, details={"file": _RESAVE_XLSX}) from exc
    return reader


def normalise_header(text) -> str:
    """Compare headers without case, accents' encoding form or surrounding spaces."""
    return " ".join(unicodedata.normalize("NFC", str(text or "")).strip().lower().split())


def _decodes_as(raw: IO[bytes], encoding: str) -> bool:
    """Whether the whole file is text in ``encoding``: read in chunks through an incremental
    decoder, so a character split between two chunks is not taken for a wrong byte (a sample
    cut at a fixed size would refuse a valid UTF-8 file, or read it as Windows-1258)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        raw.seek(0)
    return True


def _csv_text(raw: IO[bytes]) -> io.TextIOBase:
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(raw, encoding="utf-16", newline="")
    for encoding in CSV_ENCODINGS:
        if _decodes_as(raw, encoding):
            return io.TextIOWrapper(raw, encoding=encoding, newline="")
    raise InvalidInput(
        _l("Không đọc được bảng mã của tệp CSV."),
        details={"file": _l("Hãy lưu tệp ở dạng CSV UTF-8 hoặc tải lên tệp Excel (.xlsx)")},
    )


class _CellParser(WorkSheetParser):
    """Cached values, as Excel shows them; a formula saved without one (a file written by a
    program, never opened in Excel) comes back as its text "=…", which the checks refuse,
    instead of as an empty cell."""

    def parse_cell(self, element):
        if element.get("t") == "inlineStr":
            return self._inline_string(element)
        cell = super().parse_cell(element)
        if cell["value"] is None and element.find(FORMULA_TAG) is not None:
            cell["value"] = "=" + (element.findtext(FORMULA_TAG) or "")
        return cell

    def _inline_string(self, element):
        # what programs (and openpyxl) write instead of shared strings; openpyxl's own path
        # builds rich-text objects and is several times slower
        coordinate = element.get("r")
        if coordinate:
            row, column = coordinate_to_tuple(coordinate)
            self.col_counter = column
        else:
            self.col_counter += 1
            row, column = self.row_counter, self.col_counter
        value = "".join(t.text or "" for t in element.iter(_TEXT_TAG))
        return {"row": row, "column": column, "value": value, "data_type": "s", "style_id": 0}


def _xlsx_rows(reader: _LimitedReader, tally: _Tally) -> Iterator[tuple[int, list]]:
    """(row number, values) of the first sheet, streamed from the file."""
    try:
        with reader.open_first_sheet() as source:
            _count_rows_and_cells(source, tally)
        workbook = reader.wb
        # openpyxl's own streaming parser with the cell hook above (openpyxl 3.1)
        with reader.open_first_sheet() as source:
            parser = _CellParser(
                source,
                reader.shared_strings,
                data_only=True,
                epoch=workbook.epoch,
                date_formats=workbook._date_formats,
                timedelta_formats=workbook._timedelta_formats,
            )
            for number, cells in parser.parse():
                tally.add(len(cells))
                if not cells:
                    continue
                values = [None] * max(c["column"] for c in cells)
                for cell in cells:
                    values[cell["column"] - 1] = cell["value"]
                yield number, values
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken sheet inside the zip is the user's file
        raise InvalidInput(_BROKEN_XLSX, details={"file": _RESAVE_XLSX}) from exc
    finally:
        reader.close()


def _cell(value):
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = nfc(str(value))
    return text or None


def read_rows(raw: IO[bytes]) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Yield (spreadsheet row number, {normalised header: cell text}) for each non-empty row.

    The type is judged by content, not by the file name.
    """
    head = raw.read(4)
    raw.seek(0)
    text = None
    tally = _Tally(ReadLimits.from_config())
    if head == XLSX_MAGIC:
        rows = _xlsx_rows(_open_workbook(raw, tally.limits), tally)
    else:
        if b"\x00" in raw.read(2048) and not head.startswith(
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        ):
            raise InvalidInput(
                _l("Tệp không phải bảng tính CSV hoặc Excel."),
                details={"file": _l("Chỉ nhận tệp .xlsx hoặc .csv")},
            )
        raw.seek(0)
        text = _csv_text(raw)
        try:
            dialect = csv.Sniffer().sniff(text.read(8192), delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        text.seek(0)
        rows = _csv_rows(text, dialect, tally)
    try:
        first = next(rows, None)
        if first is None:
            raise InvalidInput(_l("Tệp trống."), details={"file": _l("Tệp không có dòng tiêu đề")})
        headers = [normalise_header(h) for h in first[1]]
        for number, values in rows:
            cells = [_cell(v) for v in values]
            if not any(cells):
                continue
            yield (
                number,
                {h: (cells[i] if i < len(cells) else None) for i, h in enumerate(headers) if h},
            )
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            _l("Tệp CSV có ký tự không đọc được."),
            details={"file": _l("Hãy lưu tệp ở dạng CSV UTF-8")},
        ) from exc
    except csv.Error as exc:
        raise InvalidInput(
            _l("Tệp CSV không hợp lệ: %(error)s", error=exc), details={"file": str(exc)}
        ) from exc
    finally:
        if text is not None:
            text.detach()  # leave the caller's file open: it is read twice (check, then import)


def _csv_rows(text: io.TextIOBase, dialect, tally: _Tally) -> Iterator[tuple[int, list]]:
    """(row number, values) of a CSV file, counted first by csv's own reader (a fast pass, no
    checks), so a file of too many rows is refused before the slow row-by-row check begins."""
    rows = cells = 0
    for values in csv.reader(text, dialect):
        rows, cells = rows + 1, cells + len(values)
        tally.check(rows, cells)
    text.seek(0)
    for number, values in enumerate(csv.reader(text, dialect), start=1):
        tally.add(len(values))
        yield number, values


def neutralise(value):
    """Make a cell safe to open in a spreadsheet: text starting with = + - @ is not run."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def estimate_rows(folder, name: str) -> int | None:
    """About how many data rows a stored file has, for the progress bar before the first
    check has counted them: the sheet's row elements (XLSX) or its line count (CSV)."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    with open(path, "rb") as raw:
        if raw.read(4) == XLSX_MAGIC:
            raw.seek(0)
            try:
                limits = ReadLimits.from_config()
                reader = _open_workbook(raw, limits)
                try:
                    with reader.open_first_sheet() as source:
                        rows = _count_rows_and_cells(source, _Tally(limits))
                finally:
                    reader.close()
            except Exception:  # noqa: BLE001 - the check will say what is wrong with the file
                return None
            return max(rows - 1, 0)
        raw.seek(0)
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))
        return max(lines - 1, 0)
