"""Tables as CSV and XLSX, with cells that a spreadsheet would run made inert."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask import current_app
from openpyxl import Workbook
from openpyxl.styles import Font

from htsd_workflow.imports.reader import neutralise


def to_csv(
    columns: list[tuple[str, str]], rows: list[dict], *, decimal_comma: bool = False
) -> bytes:
    """The table as CSV for Excel. With ``decimal_comma`` (Vietnamese), as Excel on a
    Vietnamese-locale Windows reads it: cells split by ";" (its list separator) and decimals
    written 89,5; otherwise "," and 89.5."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if decimal_comma else ",")
    writer.writerow([str(label) for _, label in columns])
    for row in rows:
        writer.writerow([neutralise(_csv_cell(row.get(key), decimal_comma)) for key, _ in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8 then


def _csv_cell(value, decimal_comma: bool):
    value = _cell(value)
    if decimal_comma and isinstance(value, float):
        return repr(value).replace(".", ",")
    return value


def to_xlsx(columns: list[tuple[str, str]], rows: list[dict], *, title: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append([str(label) for _, label in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([neutralise(_cell(row.get(key))) for key, _ in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Có" if value else "Không"
    return value


PRINT_CSS = "report-print.css"


def render_pdf(html: str):
    """The printable page laid out as a PDF document (WeasyPrint) with the print stylesheet;
    charts are inline SVG. Nothing is fetched: a reference to any other resource is refused.
    ``.pages`` are the pages, ``.write_pdf()`` writes the file."""
    from weasyprint import CSS, HTML  # imported here: Pango loads only when a PDF is asked for
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            raise ValueError(f"not fetched for a PDF: {url}")

    stylesheet = CSS(filename=str(Path(current_app.static_folder) / PRINT_CSS))
    return HTML(string=html, url_fetcher=NoFetch()).render(stylesheets=[stylesheet])


def to_pdf(html: str) -> bytes:
    """The printable page as PDF (``render_pdf``)."""
    return render_pdf(html).write_pdf()
