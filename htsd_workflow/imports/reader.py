"""Reading spreadsheets (XLSX or CSV) row by row, flat in memory, whatever the encoding."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from typing import IO

from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook

from htsd_workflow.core.errors import InvalidInput

XLSX_MAGIC = b"PK\x03\x04"
#: tried in order for CSV files without a byte-order mark (cp1258: Vietnamese Windows)
CSV_ENCODINGS = ("utf-8", "cp1258")


def normalise_header(text) -> str:
    """Compare headers without case, accents' encoding form or surrounding spaces."""
    return " ".join(unicodedata.normalize("NFC", str(text or "")).strip().lower().split())


def _csv_text(raw: IO[bytes]) -> io.TextIOBase:
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return io.TextIOWrapper(raw, encoding="utf-16", newline="")
    sample = raw.read(1 << 20)
    raw.seek(0)
    for encoding in CSV_ENCODINGS:
        try:
            sample.decode(encoding)
        except UnicodeDecodeError:
            continue
        return io.TextIOWrapper(raw, encoding=encoding, newline="")
    raise InvalidInput(
        _l("Không đọc được bảng mã của tệp CSV."),
        details={"file": _l("Hãy lưu tệp ở dạng CSV UTF-8 hoặc tải lên tệp Excel (.xlsx)")},
    )


def _cell(value):
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def read_rows(raw: IO[bytes]) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Yield (spreadsheet row number, {normalised header: cell text}) for each non-empty row.

    The type is judged by content, not by the file name.
    """
    head = raw.read(4)
    raw.seek(0)
    text = None
    if head == XLSX_MAGIC:
        try:
            workbook = load_workbook(raw, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
            raise InvalidInput(
                _l("Tệp Excel bị hỏng hoặc không đúng định dạng .xlsx."),
                details={"file": _l("Mở lại tệp bằng Excel và lưu ở dạng .xlsx")},
            ) from exc
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        start = 1
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
        rows = csv.reader(text, dialect)
        start = 1
    try:
        header = next(rows, None)
        if header is None:
            raise InvalidInput(_l("Tệp trống."), details={"file": _l("Tệp không có dòng tiêu đề")})
        headers = [normalise_header(h) for h in header]
        for number, values in enumerate(rows, start=start + 1):
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


def neutralise(value):
    """Make a cell safe to open in a spreadsheet: text starting with = + - @ is not run."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
