"""Denominators entered from a spreadsheet (template with Vietnamese headers), row by row."""

from __future__ import annotations

import io
from typing import IO

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import whole_number
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.imports.operations import ValidationReport
from htsd_workflow.imports.reader import normalise_header, read_rows
from htsd_workflow.reports.models import Denominator

#: more households than any province has; a larger figure is a typing mistake
MAX_DENOMINATOR = 10_000_000

COLUMNS = (
    ("Mã xã", "unit_code"),
    ("Năm", "year"),
    ("Số hộ gia đình", "family"),
    ("Số dòng họ", "clan"),
    ("Số thôn, tổ dân phố", "community"),
    ("Số cơ quan, đơn vị", "unit"),
)


def denominator_template() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Mẫu số"
    sheet.append([header for header, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.append(["23281", 2026, 2150, 12, 9, 15])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _parse(raw: IO[bytes], actor: User, report: ValidationReport) -> list[dict]:
    headers = {normalise_header(h): key for h, key in COLUMNS}
    units = {u.code: u for u in db.session.scalars(select(Unit).where(Unit.level == "commune"))}
    seen, good = {}, []
    for number, cells in read_rows(raw):
        report.rows += 1
        values = {key: cells.get(h) for h, key in headers.items()}
        errors = []
        unit = units.get(values["unit_code"] or "")
        if unit is None:
            errors.append(("Mã xã", f"Không có xã mã “{values['unit_code']}”"))
        elif actor.role == "applicant" or not in_scope(actor, unit):
            errors.append(("Mã xã", f"“{unit.name}” ngoài địa bàn bạn quản lý"))
        year = values["year"] or ""
        if whole_number(year, 2000, 2100) is None:
            errors.append(("Năm", f"Năm “{year}” không hợp lệ"))
        counts = {}
        for header, key in COLUMNS[2:]:
            text = values[key]
            if text is None:
                continue  # left empty: no figure for that title
            figure = whole_number(text, 0, MAX_DENOMINATOR)
            if figure is None:
                errors.append(
                    (header, f"“{text}” không phải số nguyên từ 0 đến {MAX_DENOMINATOR:,}")
                )
            else:
                counts[key] = figure
        key = (values["unit_code"], year)
        if key in seen:
            errors.append(("Mã xã", f"Trùng với dòng {seen[key]} (cùng xã, cùng năm)"))
        seen.setdefault(key, number)
        for column, message in errors:
            report.add(number, column, message)
        if not errors:
            good.append({"unit_code": unit.code, "year": int(year), "counts": counts})
    if report.rows == 0:
        raise InvalidInput("Tệp không có dòng số liệu nào.", details={"file": "Trống"})
    return good


def import_denominators(raw: IO[bytes], actor: User) -> int:
    """All rows or none; re-importing the same file changes nothing. Returns figures written."""
    report = ValidationReport()
    rows = _parse(raw, actor, report)
    if not report.is_clean:
        raise InvalidInput(
            f"Tệp có {report.error_count} lỗi; chưa nhập dòng nào.", details=report.as_dict()
        )
    written = 0
    for row in rows:
        for title, count in row["counts"].items():
            existing = db.session.scalar(
                select(Denominator).where(
                    Denominator.unit_code == row["unit_code"],
                    Denominator.year == row["year"],
                    Denominator.title == title,
                )
            )
            if existing is None:
                db.session.add(
                    Denominator(
                        unit_code=row["unit_code"], year=row["year"], title=title, count=count
                    )
                )
            else:
                existing.count = count
            written += 1
    db.session.flush()
    record_audit(
        "denominators_import", actor=actor, target="denominators", details={"figures": written}
    )
    return written
