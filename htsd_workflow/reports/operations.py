"""Denominators: entered on a form or from a spreadsheet (template with Vietnamese headers).

A denominator is how many households, clans, communities or units an area has in a year. A
commune holds all four; a district or the province holds only the units it manages itself
(its offices, schools …), which belong to no commune. A user sets figures only inside their
territory: a commune officer their commune, a district user their district and its communes,
a province user the whole province.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import DENOMINATOR_EDITORS
from htsd_workflow.auth.scope import in_scope, units_in_territory
from htsd_workflow.core.errors import InvalidInput, NotAllowed
from htsd_workflow.core.text import whole_number
from htsd_workflow.core.titles import ONE_PER_COMMUNE, TITLES
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import LEVELS, Unit
from htsd_workflow.geography.queries import unit_exists_between
from htsd_workflow.imports.operations import ValidationReport
from htsd_workflow.imports.reader import normalise_header, read_rows
from htsd_workflow.reports.models import Denominator

#: the titles a commune enters a total for: not the commune itself (its own title counts one)
COMMUNE_TITLES = tuple(t for t in TITLES if t not in ONE_PER_COMMUNE)
#: the only title a district or the province itself has a denominator for
DIRECT_TITLES = ("unit",)
CODE_HEADER = "Mã đơn vị hành chính"
YEAR_HEADER = "Năm"
NAME_HEADER = "Tên đơn vị hành chính (không bắt buộc)"
TITLE_HEADERS = {
    "family": "Số hộ gia đình",
    "clan": "Số dòng họ",
    "community": "Số thôn, tổ dân phố",
    "unit": "Số cơ quan, đơn vị",
}
#: the same columns on the pages, in the reader's language (the file keeps ``TITLE_HEADERS``)
TITLE_WORDS = {
    "family": _l("Số hộ gia đình"),
    "clan": _l("Số dòng họ"),
    "community": _l("Số thôn, tổ dân phố"),
    "unit": _l("Số cơ quan, đơn vị"),
}
#: headers the reader also accepts (files made from the first template)
ALIASES = {"Mã xã": CODE_HEADER}
MAX_COUNT = 10_000_000


@dataclass
class Area:
    unit: Unit
    #: the titles the area has a denominator for
    titles: tuple[str, ...]
    counts: dict[str, int]


def may_edit(actor: User, unit: Unit) -> bool:
    """Whether ``actor`` may set ``unit``'s figures: their own territory only."""
    if actor is None or not actor.is_active or actor.role not in DENOMINATOR_EDITORS:
        return False
    return in_scope(actor, unit)


def titles_for(unit: Unit) -> tuple[str, ...]:
    return COMMUNE_TITLES if unit.level == "commune" else DIRECT_TITLES


def areas_for(actor: User, year: int) -> list[Area]:
    """The areas the actor may set, province or district first, with the year's figures."""
    if actor.role not in DENOMINATOR_EDITORS or actor.unit_level not in LEVELS:
        raise NotAllowed(_l("Bạn không nhập được tổng số (mẫu số) của địa bàn."))
    units = db.session.scalars(
        select(Unit)
        .where(
            units_in_territory(actor),
            # the units that existed in the year: a new commune's figures start with it
            unit_exists_between(date(year, 1, 1), date(year, 12, 31)),
        )
        .order_by(Unit.level.desc(), Unit.code)
    ).all()
    # province, then districts, then communes (code order within each level)
    order = {"province": 0, "district": 1, "commune": 2}
    units = sorted(units, key=lambda u: (order.get(u.level, 3), u.code))
    counts: dict[str, dict[str, int]] = {}
    for d in db.session.scalars(
        select(Denominator)
        .join(Unit, Unit.code == Denominator.unit_code)
        .where(Denominator.year == year, units_in_territory(actor))
    ):
        counts.setdefault(d.unit_code, {})[d.title] = d.count
    return [Area(u, titles_for(u), counts.get(u.code, {})) for u in units]


def _check_year(year) -> int:
    text = str(year if year is not None else "").strip()
    if whole_number(text, 2000, 2100) is None:
        raise InvalidInput(
            _l("Năm “%(year)s” không hợp lệ.", year=text), details={"year": _l("Từ 2000 đến 2100")}
        )
    return int(text)


def _check_count(text: str | None) -> tuple[int | None, str | None]:
    """(count or None for empty, error or None)."""
    if text is None or not str(text).strip():
        return None, None
    text = str(text).strip().replace(".", "").replace(" ", "")  # 2.150 and 2 150 are 2150
    if whole_number(text, 0, 10**18) is None:
        return None, _("“%(text)s” không phải số nguyên không âm", text=text)
    if int(text) > MAX_COUNT:
        return None, _(
            "“%(text)s” lớn quá (tối đa %(most)s)",
            text=text,
            most=f"{MAX_COUNT:,}".replace(",", "."),
        )
    return int(text), None


def save_form(actor: User, year, form: dict[str, str]) -> int:
    """Save the form's figures (fields ``d-<code>-<title>``), all or none.

    An empty field removes that figure (shown as missing in the report, never as 0 %).
    Returns the number of figures changed.
    """
    year = _check_year(year)
    areas = {a.unit.code: a for a in areas_for(actor, year)}
    wanted: dict[tuple[str, str], int | None] = {}
    errors: dict[str, str] = {}
    for name, value in form.items():
        if not name.startswith("d-"):
            continue
        try:
            _field, code, title = name.split("-", 2)
        except ValueError:
            errors[name] = "Tên ô không hợp lệ"
            continue
        area = areas.get(code)
        if area is None:
            unit = db.session.get(Unit, code)
            errors[name] = (
                _("Không có đơn vị hành chính mã “%(code)s”", code=code)
                if unit is None
                else _("“%(name)s” ngoài địa bàn bạn quản lý", name=unit.name)
            )
            continue
        if title not in area.titles:
            errors[name] = _(
                "%(area)s không nhập %(column)s",
                area=area.unit.name,
                column=str(TITLE_WORDS.get(title, title)).lower(),
            )
            continue
        count, problem = _check_count(value)
        if problem:
            errors[name] = f"{area.unit.name} – {TITLE_WORDS[title]}: {problem}"
            continue
        wanted[(code, title)] = count
    if errors:
        raise InvalidInput(
            _l("Có %(count)s ô chưa đúng; chưa lưu số liệu nào.", count=len(errors)), details=errors
        )
    changed = _write(year, wanted)
    if changed:
        record_audit(
            "denominators_saved",
            actor=actor,
            target="denominators",
            details={"year": year, "figures_changed": changed},
        )
    return changed


def _write(year: int, wanted: dict[tuple[str, str], int | None]) -> int:
    """Upsert (or delete, for None) the figures of one year in one pass."""
    if not wanted:
        return 0
    codes = {code for code, _title in wanted}
    existing = {
        (d.unit_code, d.title): d
        for d in db.session.scalars(
            select(Denominator).where(Denominator.year == year, Denominator.unit_code.in_(codes))
        )
    }
    changed = 0
    for (code, title), count in wanted.items():
        row = existing.get((code, title))
        if count is None:
            if row is not None:
                db.session.delete(row)
                changed += 1
        elif row is None:
            db.session.add(Denominator(unit_code=code, year=year, title=title, count=count))
            changed += 1
        elif row.count != count:
            row.count = count
            changed += 1
    db.session.flush()
    return changed


# --- spreadsheets -------------------------------------------------------------------------


def denominator_template(actor: User | None = None, year: int | None = None) -> bytes:
    """The template: Vietnamese headers, one row per area of the actor's territory (or an
    example row), and a sheet of instructions."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Tổng số"
    headers = [CODE_HEADER, YEAR_HEADER, *TITLE_HEADERS.values(), NAME_HEADER]
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    if actor is not None and year is not None:
        for area in areas_for(actor, year):
            sheet.append(
                [
                    area.unit.code,
                    year,
                    *(area.counts.get(t) if t in area.titles else "—" for t in TITLE_HEADERS),
                    area.unit.name,
                ]
            )
    else:
        sheet.append(["23281", 2026, 2150, 12, 9, 15, "Phường Quang Trung"])
    for index, header in enumerate(headers, start=1):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = max(14, len(header) + 2)
    notes = workbook.create_sheet("Hướng dẫn")
    for line in (
        "Mỗi dòng: một đơn vị hành chính (xã, phường, thị trấn; hoặc huyện, tỉnh) trong một năm.",
        "Xã: nhập đủ bốn cột số. Huyện, tỉnh: chỉ nhập số cơ quan, đơn vị do huyện, tỉnh trực "
        "tiếp quản lý (ô có dấu — để nguyên).",
        "Ô để trống: giữ nguyên số đã có. Số là số nguyên không âm.",
        "Tệp có lỗi thì không nhập dòng nào; sửa theo danh sách lỗi (dòng, cột, lỗi) rồi tải lại.",
    ):
        notes.append([line])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _parse(raw: IO[bytes], actor: User, report: ValidationReport) -> list[dict]:
    headers = {normalise_header(h): h for h in (CODE_HEADER, YEAR_HEADER, *TITLE_HEADERS.values())}
    headers.update({normalise_header(alias): real for alias, real in ALIASES.items()})
    seen, good, units = {}, [], {}
    header_checked = False
    for number, cells in read_rows(raw):
        if not header_checked:
            present = {headers[h] for h in cells if h in headers}
            missing = [h for h in (CODE_HEADER, YEAR_HEADER) if h not in present]
            if missing:
                raise InvalidInput(
                    _l("Tệp thiếu cột %(columns)s.", columns=", ".join(missing)),
                    details={"file": _l("Dùng tệp mẫu: %(columns)s", columns=", ".join(missing))},
                )
            header_checked = True
        report.rows += 1
        values = {}
        for header, text in cells.items():
            if header in headers:
                values[headers[header]] = text
        errors = []
        code = values.get(CODE_HEADER) or ""
        if code not in units:
            units[code] = db.session.get(Unit, code) if code else None
        unit = units[code]
        if unit is None:
            errors.append((CODE_HEADER, f"Không có đơn vị hành chính mã “{code}”"))
        elif not may_edit(actor, unit):
            errors.append((CODE_HEADER, f"“{unit.name}” ngoài địa bàn bạn quản lý"))
        year = values.get(YEAR_HEADER) or ""
        if whole_number(year, 2000, 2100) is None:
            errors.append((YEAR_HEADER, f"Năm “{year}” không hợp lệ (từ 2000 đến 2100)"))
        counts = {}
        for title, header in TITLE_HEADERS.items():
            text = values.get(header)
            if text in (None, "—", "-"):
                continue  # left empty: that figure is kept as it is
            if unit is not None and title not in titles_for(unit):
                errors.append(
                    (header, f"{unit.name} chỉ nhập số cơ quan, đơn vị trực tiếp quản lý")
                )
                continue
            count, problem = _check_count(text)
            if problem:
                errors.append((header, problem))
            else:
                counts[title] = count
        key = (code, year)
        if key in seen:
            errors.append((CODE_HEADER, f"Trùng với dòng {seen[key]} (cùng đơn vị, cùng năm)"))
        seen.setdefault(key, number)
        for column, message in errors:
            report.add(number, column, message)
        if not errors:
            good.append({"unit_code": unit.code, "year": int(year), "counts": counts})
    if report.rows == 0:
        raise InvalidInput(_l("Tệp không có dòng số liệu nào."), details={"file": _l("Trống")})
    return good


def check_denominators(raw: IO[bytes], actor: User) -> tuple[ValidationReport, list[dict]]:
    report = ValidationReport()
    return report, _parse(raw, actor, report)


def import_denominators(raw: IO[bytes], actor: User) -> int:
    """All rows or none; re-importing the same file changes nothing. Returns figures changed."""
    if actor.role not in DENOMINATOR_EDITORS:
        raise NotAllowed(_l("Bạn không nhập được tổng số (mẫu số) của địa bàn."))
    report, rows = check_denominators(raw, actor)
    if not report.is_clean:
        raise InvalidInput(
            _l("Tệp có %(count)s lỗi; chưa nhập dòng nào.", count=report.error_count),
            details=report.as_dict(),
        )
    by_year: dict[int, dict] = {}
    for row in rows:
        for title, count in row["counts"].items():
            by_year.setdefault(row["year"], {})[(row["unit_code"], title)] = count
    changed = sum(_write(year, wanted) for year, wanted in by_year.items())
    record_audit(
        "denominators_import",
        actor=actor,
        target="denominators",
        details={"rows": len(rows), "figures_changed": changed},
    )
    return changed
