"""Reading spreadsheets (XLSX or CSV) row by row, flat in memory, whatever the encoding."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS

from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import nfc

XLSX_MAGIC = b"PK\x03\x04"
_TEXT_TAG = f"{{{SHEET_MAIN_NS}}}t"
#: tried in order for CSV files without a byte-order mark (cp1258: Vietnamese Windows)
CSV_ENCODINGS = ("utf-8", "cp1258")


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


def _xlsx_rows(workbook) -> Iterator[tuple[int, list]]:
    """(row number, values) of the first sheet, streamed from the file (read-only mode)."""
    try:
        sheet = workbook.worksheets[0]
        # openpyxl's own streaming parser with the cell hook above (openpyxl 3.1)
        with sheet._get_source() as source:
            parser = _CellParser(
                source,
                sheet._shared_strings,
                data_only=True,
                epoch=workbook.epoch,
                date_formats=workbook._date_formats,
                timedelta_formats=workbook._timedelta_formats,
            )
            for number, cells in parser.parse():
                if not cells:
                    continue
                values = [None] * max(c["column"] for c in cells)
                for cell in cells:
                    values[cell["column"] - 1] = cell["value"]
                yield number, values
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken sheet inside the zip is the user's file
        raise InvalidInput(
            _l("Tệp Excel bị hỏng hoặc không đúng định dạng .xlsx."),
            details={"file": _l("Mở lại tệp bằng Excel và lưu ở dạng .xlsx")},
        ) from exc
    finally:
        workbook.close()


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
    if head == XLSX_MAGIC:
        try:
            workbook = load_workbook(raw, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
            raise InvalidInput(
                _l("Tệp Excel bị hỏng hoặc không đúng định dạng .xlsx."),
                details={"file": _l("Mở lại tệp bằng Excel và lưu ở dạng .xlsx")},
            ) from exc
        rows = _xlsx_rows(workbook)
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
        rows = enumerate(csv.reader(text, dialect), start=1)
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


def neutralise(value):
    """Make a cell safe to open in a spreadsheet: text starting with = + - @ is not run."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def estimate_rows(folder, name: str) -> int | None:
    """About how many data rows a stored file has, for the progress bar before the first
    check has counted them: the sheet's declared size (XLSX) or its line count (CSV)."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    with open(path, "rb") as raw:
        if raw.read(4) == XLSX_MAGIC:
            try:
                workbook = load_workbook(path, read_only=True, data_only=True)
                rows = workbook.worksheets[0].max_row
                workbook.close()
            except Exception:  # noqa: BLE001 - the check will say what is wrong with the file
                return None
            return max(rows - 1, 0) if rows else None
        raw.seek(0)
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))
        return max(lines - 1, 0)
